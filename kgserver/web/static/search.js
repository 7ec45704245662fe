// The search box of every page: suggestions from /search/suggest as you type; Enter opens /search.
(function () {
  "use strict";
  const DELAY_MS = 120;

  function attach(input) {
    const list = document.createElement("ul");
    list.className = "suggestions";
    list.setAttribute("role", "listbox");
    list.id = "suggestions-" + Math.random().toString(36).slice(2);
    list.hidden = true;
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("autocomplete", "off");
    input.parentNode.insertBefore(list, input.nextSibling);
    let timer = null;
    let asked = 0;
    let active = -1;

    // A screen reader follows the highlighted option through aria-activedescendant: focus stays in the box.
    function activate(index) {
      active = index;
      const items = list.querySelectorAll("li");
      items.forEach((item, at) => item.setAttribute("aria-selected", String(at === active)));
      if (active >= 0 && items[active]) input.setAttribute("aria-activedescendant", items[active].id);
      else input.removeAttribute("aria-activedescendant");
    }

    function close() {
      list.hidden = true;
      list.replaceChildren();
      input.setAttribute("aria-expanded", "false");
      activate(-1);
    }

    function show(suggestions, text) {
      list.replaceChildren();
      list.dataset.query = text;  // what these suggestions answer
      suggestions.forEach((found, index) => {
        const item = document.createElement("li");
        item.setAttribute("role", "option");
        item.id = list.id + "-" + index;
        const link = document.createElement("a");
        link.href = found.href;
        link.textContent = found.label;  // text, never markup
        link.title = found.label;  // the whole label, when the list cuts it
        item.appendChild(link);
        if (found.kind) {
          const kind = document.createElement("span");
          kind.className = "suggestion-kind";
          kind.textContent = found.kind;
          item.appendChild(kind);
        }
        list.appendChild(item);
      });
      list.hidden = suggestions.length === 0;
      input.setAttribute("aria-expanded", String(suggestions.length > 0));
      activate(-1);
    }

    function ask() {
      const text = input.value.trim();
      if (!text) { close(); return; }
      const ticket = ++asked;
      fetch("/search/suggest?q=" + encodeURIComponent(text), { headers: { Accept: "application/json" } })
        .then((response) => (response.ok ? response.json() : { suggestions: [] }))
        .then((body) => { if (ticket === asked) show(body.suggestions || [], text); })
        .catch(() => close());
    }

    function highlight(step) {
      const count = list.querySelectorAll("li").length;
      if (count) activate((active + step + count) % count);
    }

    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(ask, DELAY_MS); });
    input.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown") { highlight(1); event.preventDefault(); }
      else if (event.key === "ArrowUp") { highlight(-1); event.preventDefault(); }
      else if (event.key === "Escape") { close(); }
      else if (event.key === "Enter" && active >= 0) {
        const link = list.querySelectorAll("li a")[active];
        if (link) { event.preventDefault(); window.location.href = link.href; }
      }
    });
    input.addEventListener("blur", () => setTimeout(close, 200));
  }

  document.querySelectorAll("input[data-suggest]").forEach(attach);
})();
