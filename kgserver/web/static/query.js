// The query page: a CodeMirror SPARQL editor, the example catalogue, and results rendered as a table.
// Everything the endpoint returns is data: it goes into the page with textContent, never innerHTML.
"use strict";

(function () {
  const root = document.getElementById("query-page");
  if (!root) return;
  const base = root.dataset.base;
  const endpoint = root.dataset.endpoint;
  const examples = JSON.parse(document.getElementById("query-examples").textContent);
  const prefixes = JSON.parse(document.getElementById("query-prefixes").textContent);
  const form = document.getElementById("query-form");
  const status = document.getElementById("status");
  const results = document.getElementById("results");
  const downloads = document.getElementById("downloads");
  const runButton = document.getElementById("run");

  const RESULTS_JSON = "application/sparql-results+json";
  // [label, format= name, file extension] per kind of result.
  const DOWNLOADS = {
    table: [["JSON", "json", "srj"], ["XML", "xml", "srx"], ["CSV", "csv", "csv"], ["TSV", "tsv", "tsv"]],
    graph: [["Turtle", "turtle", "ttl"], ["N-Triples", "ntriples", "nt"], ["JSON-LD", "jsonld", "jsonld"],
      ["RDF/XML", "rdfxml", "rdf"]],
  };

  const editor = CodeMirror.fromTextArea(document.getElementById("query-text"), {
    mode: "sparql",
    lineNumbers: true,
    indentUnit: 2,
    viewportMargin: Infinity,
    extraKeys: { "Ctrl-Enter": run, "Cmd-Enter": run },
  });
  editor.on("changes", updateDownloads);

  // The query form (SELECT, ASK, CONSTRUCT, DESCRIBE): the first form keyword outside
  // comments, strings and IRIs. It picks the download formats; the server decides the rest.
  function queryForm(text) {
    const code = text.replace(/#[^\n\r]*|<[^<>"{}|^`\\\s]*>|'''[\s\S]*?'''|"""[\s\S]*?"""|'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"/g, " ");
    const match = /(^|[^\w?$:])(select|ask|construct|describe)(?![\w:])/i.exec(code);
    return match ? match[2].toUpperCase() : null;
  }

  function updateDownloads() {
    const text = editor.getValue();
    const kind = queryForm(text);
    downloads.replaceChildren();
    if (!kind) return;
    downloads.append("Download: ");
    const choices = kind === "SELECT" || kind === "ASK" ? DOWNLOADS.table : DOWNLOADS.graph;
    choices.forEach(([label, format, extension], i) => {
      const link = document.createElement("a");
      link.href = endpoint + "?" + new URLSearchParams({ query: text, format: format }).toString();
      link.textContent = label;
      link.download = "results." + extension;
      link.dataset.format = format;
      if (i > 0) downloads.append(" · ");
      downloads.append(link);
    });
  }

  function choose(stem) {
    const example = examples.find((e) => e.stem === stem);
    if (!example) return;
    editor.setValue(example.text);
    document.querySelectorAll(".example-catalogue a.example").forEach((link) => {
      const selected = link.dataset.example === stem;
      link.classList.toggle("selected", selected);
      if (selected) link.setAttribute("aria-current", "true");
      else link.removeAttribute("aria-current");
    });
    history.replaceState(null, "", "?example=" + encodeURIComponent(stem));
    results.replaceChildren();
    status.textContent = example.title + " loaded; press Run (or Ctrl+Enter) to run it.";
    editor.focus();
  }

  document.querySelectorAll(".example-catalogue a.example").forEach((link) => {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      choose(link.dataset.example);
    });
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });

  async function run() {
    const text = editor.getValue();
    if (!text.trim()) {
      status.textContent = "Write a query first.";
      return;
    }
    runButton.disabled = true;
    status.textContent = "Running…";
    results.replaceChildren();
    const started = performance.now();
    try {
      const response = await fetch(endpoint, {
        method: "POST",
        headers: { Accept: RESULTS_JSON + ", text/turtle;q=0.9" },
        body: new URLSearchParams({ query: text }),
      });
      const body = await response.text();
      const took = Math.round(performance.now() - started);
      if (!response.ok) {
        showError(response.status + " " + response.statusText, body, took);
      } else if ((response.headers.get("Content-Type") || "").startsWith(RESULTS_JSON)) {
        showResults(JSON.parse(body), took, response.headers.get("X-SPARQL-Truncated") === "true");
      } else {
        showGraph(body, took);
      }
    } catch (error) {
      showError("The query could not be sent", String(error), Math.round(performance.now() - started));
    } finally {
      runButton.disabled = false;
    }
  }

  function showError(title, text, took) {
    status.textContent = "Failed after " + took + " ms.";
    const box = document.createElement("div");
    box.className = "error";
    box.setAttribute("role", "alert");
    const heading = document.createElement("strong");
    heading.textContent = title;
    const detail = document.createElement("pre");
    detail.textContent = text.trim() || "(no message)";
    box.append(heading, detail);
    results.replaceChildren(box);
  }

  function showResults(data, took, truncated) {
    if (typeof data.boolean === "boolean") {
      status.textContent = "ASK answered in " + took + " ms.";
      const answer = document.createElement("p");
      answer.className = "ask-answer";
      answer.textContent = data.boolean ? "true" : "false";
      results.replaceChildren(answer);
      return;
    }
    const vars = data.head.vars;
    const rows = data.results.bindings;
    status.textContent = rows.length + (rows.length === 1 ? " row" : " rows") + " in " + took + " ms" +
      (truncated ? " (cut at the server's row cap)." : ".");
    const table = document.createElement("table");
    table.className = "results";
    const headRow = table.createTHead().insertRow();
    vars.forEach((name) => {
      const th = document.createElement("th");
      th.textContent = name;
      headRow.append(th);
    });
    const tbody = table.createTBody();
    rows.forEach((binding) => {
      const tr = tbody.insertRow();
      vars.forEach((name) => tr.insertCell().append(term(binding[name])));
    });
    results.replaceChildren(table);
  }

  function showGraph(turtle, took) {
    status.textContent = "Graph (Turtle) received in " + took + " ms.";
    const pre = document.createElement("pre");
    pre.className = "graph";
    pre.textContent = turtle;
    results.replaceChildren(pre);
  }

  // One RDF term of a result as a DOM node: IRIs as links (to this site's page for its own
  // resources), literals and blank nodes as text.
  function term(value) {
    if (!value) return document.createTextNode("");
    if (value.type === "uri") {
      const link = document.createElement("a");
      link.textContent = compact(value.value);
      link.title = value.value;
      if (value.value.startsWith(base)) {
        link.href = "/" + value.value.slice(base.length);
        link.className = "resource";
      } else {
        link.href = value.value;
        link.className = "external";
        link.rel = "noopener noreferrer";
      }
      return link;
    }
    if (value.type === "bnode") return document.createTextNode("_:" + value.value);
    if (value.type === "literal" || value.type === "typed-literal") {
      const span = document.createElement("span");
      span.className = "literal";
      span.textContent = value.value;
      const note = value["xml:lang"] ? "@" + value["xml:lang"] : value.datatype ? compact(value.datatype) : "";
      if (note) span.title = note;
      return span;
    }
    return document.createTextNode(JSON.stringify(value.value));
  }

  function compact(iri) {
    let best = null;
    for (const [prefix, namespace] of Object.entries(prefixes)) {
      if (iri.startsWith(namespace) && iri !== namespace && (!best || namespace.length > best[1].length)) {
        best = [prefix, namespace];
      }
    }
    return best ? best[0] + ":" + iri.slice(best[1].length) : iri;
  }

  updateDownloads();
})();
