// The query page: YASGUI (static/vendor/yasgui) on this server's /sparql, offering the example
// catalogue, the project's prefixes and the ontology's terms, so the page asks nothing of any
// other host: no prefix.cc, no Linked Open Vocabularies, no other endpoint.
"use strict";

(function () {
  const root = document.getElementById("query-page");
  if (!root || typeof Yasgui === "undefined") return; // without YASGUI the plain form stays and works
  const Yasqe = Yasgui.Yasqe;
  const Yasr = Yasgui.Yasr;
  const base = root.dataset.base;
  // Absolute: YASGUI builds the links it shares and its error messages from it.
  const endpoint = new URL(root.dataset.endpoint, window.location.href).href;
  const examples = JSON.parse(document.getElementById("query-examples").textContent);
  const prefixes = JSON.parse(document.getElementById("query-prefixes").textContent);
  const form = document.getElementById("query-form");
  const preloaded = document.getElementById("query-text").value;
  const STARTER = "SELECT ?class ?label WHERE {\n  ?class a owl:Class ; rdfs:label ?label .\n}\nORDER BY ?label\nLIMIT 25\n";

  // The SPARQL mode told the project's prefixes: the endpoint takes them without PREFIX lines,
  // so the editor must not mark them undefined, and it completes names in them (ldn:Dr…).
  Yasqe.defineMode("sparql11-ldnkg", function (config) {
    const mode = Yasqe.getMode(config, "sparql11");
    return Object.assign({}, mode, {
      startState: function () {
        const state = mode.startState();
        Object.assign(state.prefixes, prefixes);
        return state;
      },
    });
  });

  // After PREFIX, the completions are the project's own prefix map, not YASQE's list of hundreds.
  Yasqe.registerAutocompleter(Object.assign({}, Yasqe.Autocompleters.prefixes, {
    get: Object.entries(prefixes).map(([prefix, namespace]) => prefix + ": <" + namespace + ">").sort(),
    persistenceId: null,
  }));

  // Classes (after `a`) and properties (as predicates) from the ontology and the data, read once
  // from /query/terms, in place of YASQE's completers that ask lov.linkeddata.es. Where they
  // apply and how a completion is written (ldn:Drug, or <iri>) stay YASQE's own.
  const NO_TERMS = { classes: [], properties: [] };
  const terms = fetch(root.dataset.terms, { headers: { Accept: "application/json" } })
    .then((response) => (response.ok ? response.json() : NO_TERMS))
    .catch(() => NO_TERMS);
  function termCompleter(name, kind) {
    return Object.assign({}, Yasqe.Autocompleters[name], {
      bulk: true,
      autoShow: true,
      persistenceId: null,
      get: function (yasqe, token) {
        return terms.then((found) => {
          const start = token ? token.autocompletionString || token.string : "";
          return found[kind].filter((iri) => iri.startsWith(start));
        });
      },
    });
  }
  Yasqe.registerAutocompleter(termCompleter("class", "classes"));
  Yasqe.registerAutocompleter(termCompleter("property", "properties"));

  // A result's IRI in this dataset (under `base`) links to its page on this server, where it
  // dereferences; any other IRI links out, as YASR draws it.
  const escapeText = (text) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

  class LinkedTable extends Yasr.plugins.table {
    // YASR gives a cell's raw value to its sanitizer (DOMPurify) for the table's filter and sort:
    // a literal such as <img src=x onerror=...> was parsed as markup there (inert, but parsed).
    // Escaped first, it is text all the way.
    getColumns() {
      return super.getColumns().map((column) => {
        const render = column.render;
        if (!render) return column;
        return {
          ...column,
          render: (data, type, row, meta) =>
            type !== "display" && data && typeof data.value === "string"
              ? escapeText(data.value)
              : render(data, type, row, meta),
        };
      });
    }

    getUriLinkFromBinding(binding, prefixMap) {
      const html = super.getUriLinkFromBinding(binding, prefixMap);
      if (!binding.value.startsWith(base) || binding.value === base) return html;
      const cell = document.createElement("template"); // parsed inert: nothing in it runs or loads
      cell.innerHTML = html;
      cell.content.querySelectorAll("a.iri").forEach((link) => {
        link.setAttribute("href", "/" + binding.value.slice(base.length));
        link.title = binding.value;
      });
      return cell.innerHTML;
    }
  }
  Yasr.registerPlugin("table", LinkedTable);

  // A shared link is this page's own ?query=, which the server preloads; it names no endpoint.
  Yasgui.Tab.prototype.getShareableLink = function () {
    return endpoint.replace(/\/sparql$/, "/query") + "?" + new URLSearchParams({ query: this.getQuery() });
  };

  form.hidden = true;
  const yasgui = new Yasgui(document.getElementById("yasgui"), {
    // The page starts at its top, and Tab and Shift-Tab leave the editor as they leave any field (WCAG 2.1.2,
    // no keyboard trap), as CodeMirror advises and /curate's editor does; a new line is indented by the editor.
    autofocus: false,
    persistenceId: "ldnkg-query", // tabs are kept in this browser; an address's query still opens (see show)
    populateFromUrl: false, // ?query= and ?example= are this page's, read by the server
    copyEndpointOnNewTab: true,
    requestConfig: { endpoint: endpoint, method: "POST", acceptHeaderGraph: "text/turtle,*/*;q=0.9" },
    endpointCatalogueOptions: { getData: () => [{ endpoint: endpoint }] },
    yasqe: { mode: "sparql11-ldnkg", value: STARTER, extraKeys: { Tab: false, "Shift-Tab": false } },
    yasr: { prefixes: prefixes },
  });
  const tabs = () => yasgui.persistentConfig.getTabs().map((id) => yasgui.getTab(id)).filter(Boolean);
  tabs().forEach((tab) => tab.setEndpoint(endpoint)); // a kept tab asks this server, whatever it asked before

  // Put a query in a tab and show it: the tab named `name` (an example's), else one holding this
  // very query, else the current tab if nothing was done in it yet, else a new one.
  function show(text, name) {
    let tab = tabs().find((t) => (name ? t.getName() === name : t.getPersistedJson().yasqe.value === text));
    const current = yasgui.getTab();
    if (!tab && current && !current.hasResults() && [STARTER, ""].includes(current.getPersistedJson().yasqe.value)) {
      tab = current;
    }
    if (tab) yasgui.selectTabId(tab.getId());
    else tab = yasgui.addTab(true, name ? { name: name, yasqe: { value: text } } : { yasqe: { value: text } });
    if (name && tab.getName() !== name) tab.setName(name);
    if (tab.getQuery() !== text) tab.setQuery(text);
    return tab;
  }

  function markChosen(stem) {
    document.querySelectorAll(".example-catalogue a.example").forEach((link) => {
      const chosen = link.dataset.example === stem;
      link.classList.toggle("selected", chosen);
      if (chosen) link.setAttribute("aria-current", "true");
      else link.removeAttribute("aria-current");
    });
  }

  function choose(stem) {
    const example = examples.find((e) => e.stem === stem);
    if (!example) return;
    show(example.text, example.title).getYasqe().focus();
    markChosen(stem);
    history.replaceState(null, "", "?example=" + encodeURIComponent(stem));
  }

  document.querySelectorAll(".example-catalogue a.example").forEach((link) => {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      choose(link.dataset.example);
    });
  });

  const chosen = examples.find((e) => e.stem === root.dataset.example);
  if (chosen) show(chosen.text, chosen.title);
  else if (preloaded.trim()) show(preloaded);
})();
