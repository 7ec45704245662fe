// The curators' page: sign in with a token, a claim form generated from the shapes, Check and Submit.
// The token is kept in sessionStorage and sent as `Authorization: Bearer` by fetch, never in a URL or a
// cookie; every text from the store or a report is set as text (textContent), never as markup.
import "./vendor/shacl-form/form-default.js";

const TOKEN_KEY = "ldnkg-curator-token";
const RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type";
const form = document.getElementById("claim-form");
const report = document.getElementById("report");
const submitButton = document.getElementById("submit");

// The buttons come with the script that makes them work: without it the page says how else to check and submit.
for (const actions of document.querySelectorAll("p.actions[hidden]")) actions.hidden = false;

const sourceForm = document.getElementById("source-form");
const newSource = document.getElementById("new-source");
const EVIDENCE_SOURCE = "https://w3id.org/ldn-kg/ontology#evidenceSource";

async function individuals(classIri) {
  const reply = await fetch(`/curate/instances?class=${encodeURIComponent(classIri)}`);
  return reply.ok ? reply.text() : "";
}
form.setClassInstanceProvider(individuals);
sourceForm.setClassInstanceProvider(individuals);

// shacl-form draws its group and node headings as <h1> whatever page it is in, and has no setting for it. Under this
// page's <h2> they become <h3> (a heading within a group <h4>), as they are drawn, so the page's outline holds; the
// library's look for its headings, and the click that opens a collapsible one, go with them.
const HEADING_STYLE = new CSSStyleSheet();
HEADING_STYLE.replaceSync(`shacl-node h3, shacl-node h4 { font-size: 1.1rem; border-bottom: 1px solid; margin-top: 4px; color: #555; }
.collapsible shacl-node > h3, .collapsible shacl-node > h4 { display: none; }`);

function levelHeadings(shaclForm) {
  const root = shaclForm.shadowRoot;
  const relevel = () => {
    if (!root.adoptedStyleSheets.includes(HEADING_STYLE)) {  // the form sets its own sheets as it draws
      root.adoptedStyleSheets = [...root.adoptedStyleSheets, HEADING_STYLE];
    }
    for (const heading of root.querySelectorAll("h1")) {
      const holder = heading.parentElement;
      const level = holder.parentElement?.closest(".shacl-group") ? "h4" : "h3";
      const replacement = element(level, heading.textContent, heading.className || undefined);
      if (heading.classList.contains("activator")) {
        replacement.addEventListener("click", () => holder.classList.toggle("open"));
      }
      heading.replaceWith(replacement);
    }
  };
  new MutationObserver(relevel).observe(root, {childList: true, subtree: true});
  relevel();
}
levelHeadings(form);
levelHeadings(sourceForm);

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function element(tag, text, className) {
  const made = document.createElement(tag);
  if (text !== undefined) made.textContent = text;
  if (className) made.className = className;
  return made;
}

async function curatorFor(candidate) {
  const reply = await fetch("/curate/me", {headers: {Authorization: `Bearer ${candidate}`, Accept: "application/json"}});
  if (reply.ok) return (await reply.json()).curator;
  if (reply.status === 401 || reply.status === 403) {
    throw new Error("This token opens nothing: it is unknown, or its curator was revoked.");
  }
  throw new Error(`The server could not check the token (${reply.status}).`);
}

function showSignedIn(name) {
  document.getElementById("sign-in").hidden = name !== null;
  document.getElementById("signed-in").hidden = name === null;
  document.getElementById("curator-name").textContent = name || "";
  submitButton.disabled = name === null;
  document.getElementById("submit-rdf").disabled = name === null;
}

document.getElementById("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const field = document.getElementById("token");
  const error = document.getElementById("sign-in-error");
  error.textContent = "";
  try {
    const name = await curatorFor(field.value.trim());
    sessionStorage.setItem(TOKEN_KEY, field.value.trim());
    field.value = "";
    showSignedIn(name);
  } catch (failure) {
    error.textContent = failure.message;
  }
});

document.getElementById("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showSignedIn(null);
});

function clearMarks(target = report) {
  if (target === report) {
    for (const shaclForm of [form, sourceForm]) {
      for (const mark of shaclForm.shadowRoot.querySelectorAll(".kg-field-report")) mark.remove();
    }
  }
  target.replaceChildren();
}

function markField(result) {
  // The field of the result's property, where the form has one (a path of one property, in the root node).
  // The claim's form first, then the new source's, whose node the result may be about.
  const forms = result.focusNode === rootNode(sourceForm) ? [sourceForm, form] : [form, sourceForm];
  const field = result.path && forms.map((shaclForm) => [...shaclForm.shadowRoot.querySelectorAll("[data-path]")]
    .find((candidate) => candidate.dataset.path === result.path)).find(Boolean);
  if (!field) return false;
  const mark = element("p", `${result.severity === "Violation" ? "Violation" : result.severity}: ${result.message}`,
    `kg-field-report kg-${result.severity.toLowerCase()}`);
  mark.style.color = result.severity === "Violation" ? "#a40000" : "#7a5b00";
  mark.style.margin = "0.2em 0 0.6em";
  field.parentElement.insertBefore(mark, field.nextSibling);
  return true;
}

function showReport(document_, heading, target = report, mark = markField) {
  clearMarks(target);
  const results = document_.results || [];
  const violations = results.filter((result) => result.severity === "Violation");
  const warnings = results.filter((result) => result.severity !== "Violation");
  target.append(element("h3", heading));
  if (document_.conforms && results.length === 0) {
    target.append(element("p", "Conforms: no violations, no warnings.", "kg-conforms"));
    return;
  }
  target.append(element("p", document_.conforms
    ? `Conforms, with ${warnings.length} warning(s).`
    : `Does not conform: ${violations.length} violation(s), ${warnings.length} warning(s).`,
  document_.conforms ? "kg-conforms" : "kg-not-conforming"));
  for (const [title, group] of [["Violations", violations], ["Warnings", warnings]]) {
    if (group.length === 0) continue;
    target.append(element("h4", title));
    const list = element("ul", undefined, "kg-results");
    for (const result of group) {
      const item = element("li", undefined, `kg-${result.severity.toLowerCase()}`);
      item.append(element("strong", result.message));
      const facts = [];
      if (result.path) facts.push(`property ${result.path}`);
      if (result.value) facts.push(`value ${result.value}`);
      if (result.focusLabel || result.focusNode) facts.push(`on ${result.focusLabel || result.focusNode}`);
      if (facts.length) item.append(element("span", ` (${facts.join("; ")})`));
      item.dataset.shownBesideField = String(mark(result));
      list.append(item);
    }
    target.append(list);
  }
}

function formTriples(shaclForm) {
  // A form's data as N-Triples, without the type shacl-form gives its root node (the shape's IRI is no class).
  const graph = shaclForm.toRDF();
  const rootShape = shaclForm.dataset.shapeSubject;
  graph.removeQuads(graph.getQuads(null, null, null, null).filter((quad) =>
    quad.predicate.value === RDF_TYPE && quad.object.value === rootShape));
  return {graph, text: shaclForm.serialize("application/n-triples", graph)};
}

function rootNode(shaclForm) {
  return shaclForm.shadowRoot.querySelector("shacl-node").dataset.nodeId;
}

function addition() {
  // The claim, and the new source when it is given; the claim cites the new source unless it names another.
  const claim = formTriples(form);
  if (!newSource.open) return claim.text;
  const source = formTriples(sourceForm);
  let text = `${claim.text}\n${source.text}\n`;
  if (!claim.graph.getQuads(null, null, null, null).some((quad) => quad.predicate.value === EVIDENCE_SOURCE)) {
    text += `<${rootNode(form)}> <${EVIDENCE_SOURCE}> <${rootNode(sourceForm)}> .\n`;
  }
  return text;
}

document.getElementById("check").addEventListener("click", async () => {
  const started = performance.now();
  const reply = await fetch("/validate", {
    method: "POST", headers: {"Content-Type": "application/n-triples", Accept: "application/json"}, body: addition(),
  });
  if (!reply.ok) {
    clearMarks();
    report.append(element("p", `The check failed: ${await errorText(reply)}`, "kg-not-conforming"));
    return;
  }
  showReport(await reply.json(), "Check");
  report.dataset.checkMs = String(Math.round(performance.now() - started));
});

async function errorText(reply) {
  // An error answer's message: the "error" of a JSON one, else its text.
  const text = await reply.text();
  try {
    return JSON.parse(text).error || text;
  } catch {
    return text;
  }
}

function localPath(iri) {
  // Where an IRI of this dataset is served here (its path under the dataset's base).
  const base = form.dataset.base;
  return iri.startsWith(base) ? `/${iri.slice(base.length)}` : iri;
}

async function submit(body, mediaType, target, mark, onBadInput, claims = []) {
  const reply = await fetch("/submissions", {
    method: "POST",
    headers: {"Content-Type": mediaType, Accept: "application/json", Authorization: `Bearer ${token()}`},
    body,
  });
  if (reply.status === 201) {
    const answer = await reply.json();
    clearMarks(target);
    target.append(element("h3", "Submitted"));
    const line = element("p", `Accepted as version ${answer.version}: `, "kg-submitted");
    const link = element("a", answer.submission);
    link.href = reply.headers.get("Location");
    line.append(link);
    target.append(line);
    for (const claim of claims) {
      const shown = element("p", "Its claim now appears at ", "kg-claim-link");
      const claimLink = element("a", claim);
      claimLink.href = localPath(claim);
      shown.append(claimLink);
      target.append(shown);
    }
    return;
  }
  if (reply.status === 422) {
    showReport(await reply.json(), "Not submitted: the addition does not conform", target, mark);
    return;
  }
  const text = await errorText(reply);
  clearMarks(target);
  target.append(element("p", `Not submitted (${reply.status}): ${text}`, "kg-not-conforming"));
  if (reply.status === 400 && onBadInput) onBadInput(text);
}

submitButton.addEventListener("click", () =>
  submit(addition(), "application/n-triples", report, markField, undefined, [rootNode(form)]));

// The free-form editor: Turtle or JSON-LD as the curator writes it, a syntax error's line marked.
const rdfReport = document.getElementById("rdf-report");
const rdfFormat = document.getElementById("rdf-format");
// Tab and Shift-Tab move the focus, as in any field (WCAG 2.1.2: no keyboard trap); indent with spaces.
const editor = window.CodeMirror.fromTextArea(document.getElementById("rdf-text"), {
  mode: "text/turtle", lineNumbers: true, viewportMargin: Infinity, extraKeys: { Tab: false, "Shift-Tab": false },
});
editor.getInputField().setAttribute("aria-labelledby", "rdf-text-label");
let markedLine = null;

rdfFormat.addEventListener("change", () => {
  editor.setOption("mode", rdfFormat.value === "text/turtle" ? "text/turtle" : "application/ld+json");
});

function unmarkLine() {
  if (markedLine !== null) editor.removeLineClass(markedLine, "wrap", "kg-error-line");
  markedLine = null;
}

function markSyntaxError(message) {
  // The server names the line as "request body:LINE: ..." (see kgserver.parsing).
  const found = /request body:(\d+):/.exec(message);
  if (!found) return;
  markedLine = Number(found[1]) - 1;
  editor.addLineClass(markedLine, "wrap", "kg-error-line");
  editor.scrollIntoView({line: markedLine, ch: 0});
  rdfReport.append(element("p", `Line ${found[1]}: ${message.split(/request body:\d+:\s*/)[1] || message}`,
    "kg-syntax-error"));
}

function noField() {
  return false;
}

document.getElementById("check-rdf").addEventListener("click", async () => {
  unmarkLine();
  const reply = await fetch("/validate", {
    method: "POST", headers: {"Content-Type": rdfFormat.value, Accept: "application/json"}, body: editor.getValue(),
  });
  if (reply.ok) {
    showReport(await reply.json(), "Check", rdfReport, noField);
    return;
  }
  const text = await errorText(reply);
  clearMarks(rdfReport);
  rdfReport.append(element("p", `Not checked (${reply.status}): ${text}`, "kg-not-conforming"));
  if (reply.status === 400) markSyntaxError(text);
});

document.getElementById("submit-rdf").addEventListener("click", () => {
  unmarkLine();
  submit(editor.getValue(), rdfFormat.value, rdfReport, noField, markSyntaxError);
});

(async () => {
  const kept = token();
  if (!kept) return showSignedIn(null);
  try {
    showSignedIn(await curatorFor(kept));
  } catch {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignedIn(null);
  }
})();
