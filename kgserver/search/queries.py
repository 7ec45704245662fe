"""From what a person typed to ranked hits: words, typo and prefix matches, exact labels first, snippets.

A person's text is never handed to a query parser (whose syntax errors would leak out):
it is cut into words here, as the index's tokenizer cuts text, and each word becomes a
clause: the word itself (BM25, a label counting most), the word with one typo when it has
five letters or more, and, for the last word, any word it begins. Every word must match
somewhere. A whole label or identifier equal to the text (or one typo from it) ranks above
everything, and the score is weighted by how many things link to a hit, so that the thing
a graph is about comes before the things that mention it.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

import tantivy

from kgserver.errors import InputError
from kgserver.search.documents import local_name
from kgserver.search.index import SCHEMA, normalise

MAX_QUERY_CHARACTERS = 500
MAX_WORDS = 12
FUZZY_FROM = 5  # letters: a word this long may have one typo
_WORD = re.compile(r"[^\W_]+")
_MAX_TOKEN = 40  # tantivy's default tokenizer drops longer tokens
# How much a match in each field counts: a label or an author (who names a paper as its title does) most.
_FIELD_BOOSTS = {"labels": 4.0, "authors": 4.0, "idtext": 2.0, "related": 1.5, "text": 1.0}
_FUZZY_FIELDS = ("labels", "authors", "related", "text")
_ID_PREFIXES = ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "doi:", "pmid:", "pmcid:")


@dataclass(frozen=True)
class Hit:
    """One thing found: what it is, how it ranked, and where the words were found in it."""

    iri: str
    label: str
    kind: str
    type: str  # the class `kind` names
    types: tuple[str, ...]
    score: float
    snippet: str
    highlights: tuple[tuple[int, int], ...]

    def snippet_html(self) -> str:
        """The snippet with its matched words in <mark>, everything else escaped."""
        parts, at = [], 0
        for start, end in self.highlights:
            parts += [html.escape(self.snippet[at:start]), "<mark>", html.escape(self.snippet[start:end]), "</mark>"]
            at = end
        parts.append(html.escape(self.snippet[at:]))
        return "".join(parts)

    def as_json(self) -> dict[str, object]:
        return {"iri": self.iri, "label": self.label, "type": self.type, "kind": self.kind, "types": list(self.types),
                "score": round(self.score, 4), "snippet": self.snippet,
                "highlights": [list(span) for span in self.highlights]}


@dataclass(frozen=True)
class Results:
    """A page of hits, how many there are in all, and how many of each type."""

    hits: tuple[Hit, ...]
    total: int
    offset: int
    kinds: tuple[tuple[str, str, int], ...] = ()  # (type IRI, kind in words, hits of that type)


def clean(text: str | None) -> str:
    """The person's text with control characters gone; InputError when it is too long or not text."""
    text = text or ""
    if len(text) > MAX_QUERY_CHARACTERS:
        raise InputError(f"the search text is {len(text)} characters long; at most {MAX_QUERY_CHARACTERS} are searched")
    if "\x00" in text or "\ufffd" in text:
        raise InputError("the search text is not readable text (it holds NUL or undecodable bytes)")
    return "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text).strip()


def words_of(text: str) -> list[str]:
    """The words of a text as the index cut them: letters and digits, lower case, long ones dropped."""
    return [word for word in _WORD.findall(text.lower()) if len(word.encode()) <= _MAX_TOKEN][:MAX_WORDS]


def _identifier_forms(text: str) -> list[str]:
    """The forms under which a pasted identifier may be stored: as given, and without a resolver's prefix."""
    value = normalise(text)
    forms = [value]
    for prefix in _ID_PREFIXES:
        if value.startswith(prefix):
            forms.append(value[len(prefix):].strip())
    return forms


def _word_query(word: str, last: bool, prefix_only: bool) -> tantivy.Query:
    """The ways one word may match: itself in any field, with one typo, or (the last word) as a beginning."""
    clauses = []
    if not prefix_only:
        clauses += [tantivy.Query.boost_query(tantivy.Query.term_query(SCHEMA, name, word), boost)
                    for name, boost in _FIELD_BOOSTS.items()]
    fields = ("labels",) if prefix_only else _FUZZY_FIELDS
    if len(word) >= FUZZY_FROM:
        clauses += [tantivy.Query.boost_query(tantivy.Query.fuzzy_term_query(SCHEMA, name, word, 1, True), 0.5)
                    for name in fields]
    if last or prefix_only:
        clauses += [tantivy.Query.boost_query(tantivy.Query.fuzzy_term_query(SCHEMA, name, word, 0, True, True), 0.8)
                    for name in fields]
    return tantivy.Query.boolean_query([(tantivy.Occur.Should, clause) for clause in clauses])


def build_query(text: str, *, typeahead: bool = False) -> tantivy.Query | None:
    """The query for a person's text (None when it has nothing to search for); `typeahead` matches labels only."""
    words = words_of(text)
    whole = normalise(text)
    if not words and not whole:
        return None
    clauses = []
    if words:
        every_word = [(tantivy.Occur.Must, _word_query(word, index == len(words) - 1, typeahead))
                      for index, word in enumerate(words)]
        clauses.append((tantivy.Occur.Should, tantivy.Query.boolean_query(every_word)))
    exact = tantivy.Query.term_query(SCHEMA, "exact", whole)
    clauses.append((tantivy.Occur.Should, tantivy.Query.boost_query(exact, 40.0)))
    if len(whole) >= FUZZY_FROM and len(whole) <= 64:
        near = tantivy.Query.fuzzy_term_query(SCHEMA, "exact", whole, 1, True)
        clauses.append((tantivy.Occur.Should, tantivy.Query.boost_query(near, 20.0)))
    if not typeahead:
        for form in _identifier_forms(text):
            identifier = tantivy.Query.term_query(SCHEMA, "ids", form)
            clauses.append((tantivy.Occur.Should, tantivy.Query.boost_query(identifier, 40.0)))
    return tantivy.Query.boolean_query(clauses)


def _of_types(query: tantivy.Query, types: tuple[str, ...]) -> tantivy.Query:
    """The query's hits of these classes only (all of them when none are named)."""
    if not types:
        return query
    return tantivy.Query.boolean_query([
        (tantivy.Occur.Must, query),
        (tantivy.Occur.Must, tantivy.Query.term_set_query(SCHEMA, "types", list(types))),
    ])


def _within_one_edit(a: str, b: str) -> bool:
    """Whether two words differ by at most one insertion, deletion, substitution or swap of neighbours."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diffs) == 1 or (len(diffs) == 2 and diffs[1] == diffs[0] + 1
                                   and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]])
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1:]


def _matches(token: str, words: list[str]) -> bool:
    """Whether a word of the text is one the query matched: itself, one typo away, or begun by the last word."""
    for index, word in enumerate(words):
        if token == word or (index == len(words) - 1 and token.startswith(word)):
            return True
        if len(word) >= FUZZY_FROM and _within_one_edit(token, word):
            return True
    return False


def snippet(texts: list[str], words: list[str], width: int = 180) -> tuple[str, tuple[tuple[int, int], ...]]:
    """The passage of these texts that holds the most query words, about `width` characters, and where they are."""
    best: tuple[int, str, list[tuple[int, int]]] = (-1, "", [])
    for text in texts:
        spans = [(m.start(), m.end()) for m in _WORD.finditer(text) if _matches(m.group().lower(), words)]
        found = len({text[s:e].lower() for s, e in spans})
        if found > best[0]:
            best = (found, text, spans)
    _, text, spans = best
    if len(text) <= width:
        return text, tuple(spans)
    start = max(0, spans[0][0] - width // 3) if spans else 0
    start = text.rfind(" ", 0, start) + 1 if start else 0
    end = min(len(text), start + width)
    if end < len(text):
        end = max(text.rfind(" ", start, end), start + width // 2)
    prefix, suffix = ("… " if start else ""), (" …" if end < len(text) else "")
    shift = len(prefix) - start
    kept = tuple((s + shift, e + shift) for s, e in spans if s >= start and e <= end)
    return prefix + text[start:end] + suffix, kept


def search(searcher: tantivy.Searcher, text: str, *, limit: int = 20, offset: int = 0,
           types: tuple[str, ...] = (), typeahead: bool = False) -> Results:
    """The hits for `text`, best first, `limit` from `offset`, with the number of hits of each type."""
    unfiltered = build_query(text, typeahead=typeahead)
    if unfiltered is None:
        return Results((), 0, offset)
    query = _of_types(unfiltered, types)
    found = searcher.search(query, limit=limit, offset=offset, count=True, weight_by_field="weight")
    words = words_of(text)
    hits = []
    for score, address in found.hits:
        stored = searcher.doc(address)
        label = stored.get_first("label") or stored.get_first("iri")
        texts = [label, *stored.get_all("labels"), *stored.get_all("authors"), *stored.get_all("idtext"),
                 *stored.get_all("text"), *stored.get_all("related")]
        passage, spans = snippet(texts, words) if not typeahead else snippet([label, *stored.get_all("labels")], words)
        hits.append(Hit(stored.get_first("iri"), label, stored.get_first("kind") or "", stored.get_first("type") or "",
                        tuple(stored.get_all("types")), score, passage, spans))
    kinds = () if typeahead else _kinds(searcher, unfiltered)
    return Results(tuple(hits), found.count or 0, offset, kinds)


def _kinds(searcher: tantivy.Searcher, query: tantivy.Query) -> tuple[tuple[str, str, int], ...]:
    """How many hits of the query (before any type filter) each type has, for the page's filter, most first."""
    counts = searcher.aggregate(query, {"kinds": {"terms": {"field": "types", "size": 30}}})
    buckets = counts.get("kinds", {}).get("buckets", [])
    names = {}
    for bucket in buckets:  # a class is itself indexed (from the ontology): its label names the kind
        found = searcher.search(tantivy.Query.term_query(SCHEMA, "iri", bucket["key"]), limit=1, count=False)
        label = searcher.doc(found.hits[0][1]).get_first("label") if found.hits else None
        names[bucket["key"]] = label or local_name(bucket["key"])
    return tuple((bucket["key"], names[bucket["key"]], int(bucket["doc_count"])) for bucket in buckets)


MAX_LIMIT = 100  # hits a page at most
MAX_HITS = 10_000  # how deep a search pages: every page starts within its first hits; past them, refine the query


def check_limit(limit: int) -> None:
    """InputError for a page size a search does not serve (checked first: the page range is counted in pages of it)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"limit must be between 1 and {MAX_LIMIT}")


def last_page(limit: int) -> int:
    """The deepest page of `limit` hits served: the last that starts within the first MAX_HITS hits."""
    return -(-MAX_HITS // limit)


def check_page(page: int, limit: int) -> None:
    """InputError for a page number outside those served, in pages of `limit` (itself already checked)."""
    if not 1 <= page <= last_page(limit):
        raise InputError(f"page must be between 1 and {last_page(limit)}: with {limit} hits a page, "
                         f"pages start within the first {MAX_HITS:,} hits")


def check_offset(offset: int) -> None:
    """InputError for a first hit outside those a page may start at."""
    if not 0 <= offset < MAX_HITS:
        raise InputError(f"offset must be between 0 and {MAX_HITS - 1}: pages start within the first {MAX_HITS:,} hits")
