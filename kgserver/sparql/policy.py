"""What the endpoint refuses before a query reaches the engine: updates, federated queries and engine extensions.

pyoxigraph (like rdflib) really performs HTTP requests for SERVICE, so the check must
happen on the query text, before evaluation. An engine behind kgserver has extensions of its
own that reach outside or into it (Virtuoso's DEFINE pragmas fetch URLs, its bif: and sql:
functions read files, run SQL and make HTTP requests, its fn:doc stops the engine): kgserver
offers none of them, and refuses each by name. Keywords are found by the shared tokenizer
(lexer.py), which first consumes comments, string literals and <IRIs>: `SERVICE` inside a
string, an IRI, a comment, a variable (`?service`) or a prefixed name (`ex:service`) is not
the keyword.

>>> analyse('SELECT * WHERE { ?s ?p "SERVICE <http://x/>" }').services
()
>>> analyse('PREFIX ex: <http://e/> SELECT * { SERVICE ex:s { ?a ?b ?c } }').services
('http://e/s',)
>>> analyse('DEFINE get:soft "replace" SELECT (bif:http_get("http://x/") AS ?x) {}').extensions
('DEFINE get:soft', 'bif:http_get')
>>> analyse('SELECT ?s { ?s ?p "bif:http_get" } # DEFINE get:soft').extensions
()
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

from kgserver.errors import InputError, UpdateRefusedError
from kgserver.sparql import paging
from kgserver.sparql_lexer import Token, form_of, shape, tokens
from kgserver.store.dialects import PRIVATE_GRAPHS

SERVICE_REFUSED = "SERVICE (federated query) is refused: this endpoint does not fetch from other servers"
DEFINE_REFUSED = (
    "{} is refused: DEFINE pragmas are engine extensions (Virtuoso's get:soft and input:grab-* fetch URLs "
    "from the engine); this endpoint offers none"
)
PRIVATE_REFUSED = (
    "<{}> is refused: IRIs under urn:x-kgserver: name kgserver's own graphs in an engine (its curators, "
    "its staging), which are not part of the dataset"
)
FUNCTION_REFUSED = (
    "{} is refused: bif:, sql: and fn: functions run inside the engine (Virtuoso's read files, run SQL, "
    "make HTTP requests or stop the engine); this endpoint offers none"
)

# Namespaces of engine functions, compared without case: Virtuoso takes a `bif:`/`sql:` name (prefixed or
# as an IRI, declared or not) for a built-in or a SQL procedure, and evaluates the XPath functions
# itself (under both namespaces below, with `#` or `/#`).
ENGINE_FUNCTION_NAMESPACES = (
    "bif:",
    "sql:",
    "http://www.openlinksw.com/schemas/bif#",
    "http://www.openlinksw.com/schemas/sql#",
    "http://www.w3.org/2005/xpath-functions",
    "http://www.w3.org/2004/07/xpath-functions",
)
# Virtuoso's predeclared prefixes for them: an undeclared `fn:doc` is its XPath doc().
ENGINE_PREFIXES = {"fn": "http://www.w3.org/2005/xpath-functions/#", "xf": "http://www.w3.org/2004/07/xpath-functions"}

# Deeper nesting of brackets or `!` is refused: the engine's parser recurses on each level (it
# crashes at some thousands) and takes cubic time on nested collections (160 levels: 2 s).
MAX_NESTING = 64


# Where `<` is a less-than sign, the parser's tokens differ from ours: in
# `FILTER(?a<?b)SERVICE?s#>` the parser sees SERVICE ?s and a comment, we see one IRI.
# An IRI token holding SERVICE after an expression-ending character and before a variable
# or comment is therefore counted as an uncheckable SERVICE (and refused).
_HIDDEN_SERVICE = re.compile(r"(?<![\w/:.#=&\-?$%~+])service(?=[?$#])", re.IGNORECASE)

# A SERVICE target that cannot be checked before evaluation: a variable.
UNCHECKABLE = None


@dataclass(frozen=True)
class QueryAnalysis:
    """What the policy needs to know about a query text, computed once per text."""

    form: str | None
    is_update: bool
    services: tuple[str | None, ...]
    nesting: int = 0
    shape: str = ""  # the text without constants or comments (lexer.shape): how the scheduler recognises a costly query
    order: paging.PagedOrder | None = None  # how the query process answers a deep ordered page, if it can
    extensions: tuple[str, ...] = ()  # engine extensions as written (`DEFINE get:soft`, `bif:http_get`): refused
    private: tuple[str, ...] = ()  # IRIs of kgserver's own graphs in an engine (its curators, its staging): refused


@lru_cache(maxsize=1024)
def analyse(text: str) -> QueryAnalysis:
    """The query form, whether it is an update, its SERVICE targets (None for a variable), shape and paging plan.

    Cached per text: a client repeating a query pays for tokenizing once, and the query
    process is sent the plan rather than tokenizing the text again.
    """
    found = list(tokens(text))
    form, is_update = form_of(found)
    prefixes: dict[str, str] = {}
    services: list[str | None] = []
    for index, token in enumerate(found):
        if token.kind != "word":
            continue
        word = token.text.upper()
        if word == "PREFIX" and index + 2 < len(found) and found[index + 2].kind == "iri":
            prefixes[found[index + 1].text.rstrip(":")] = found[index + 2].text[1:-1]
        elif word == "SERVICE":
            services.append(_service_target(found[index + 1 :], prefixes))
    services += [UNCHECKABLE for token in found if token.kind == "iri" and _HIDDEN_SERVICE.search(token.text)]
    order = paging.plan(text, found) if form == "SELECT" else None
    extensions, private = _refused_names(found)
    return QueryAnalysis(form, is_update, tuple(services), _nesting(found), shape(found), order, extensions, private)


def _refused_names(found: list[Token]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Every DEFINE pragma and engine-function name in the tokens, as written, so the refusal can name it;
    and every IRI of kgserver's own graphs the text names.

    Names are resolved as the engine resolves them (declared prefixes, case-sensitive as in
    Virtuoso, then its predeclared `fn:` and `xf:`; BASE), so neither `PREFIX b: <bif:>` then
    `b:http_get` nor a relative IRI under a BASE hides a function. A PREFIX declaration alone
    is not a use, and is let through.
    """
    prefixes: dict[str, str] = {}
    base = ""
    extensions: list[str] = []
    private: list[str] = []
    declared = -1  # the index of the last token of a DEFINE or PREFIX declaration's name part
    for index, token in enumerate(found):
        following = found[index + 1] if index + 1 < len(found) else None
        word = token.text.upper() if token.kind == "word" else ""
        if word == "DEFINE" and not _in_language_tag(found, index):
            pragma = following.text if following is not None and following.kind in ("pname", "word") else ""
            extensions.append(f"DEFINE {pragma}".strip())
            declared = index + 1
        elif word == "BASE" and following is not None and following.kind == "iri":
            base = urljoin(base, following.text[1:-1])
        elif word == "PREFIX" and index + 2 < len(found) and found[index + 2].kind == "iri":
            prefixes[found[index + 1].text.rstrip(":")] = urljoin(base, found[index + 2].text[1:-1])
            declared = index + 2
        elif index > declared:
            names = [name.lower() for name in _resolutions(token, prefixes, base)]
            if any(name.startswith(ENGINE_FUNCTION_NAMESPACES) for name in names):
                extensions.append(token.text)
            private += [name for name in names if name.startswith(PRIVATE_GRAPHS)][:1]
    return tuple(extensions), tuple(private)


def _resolutions(token: Token, prefixes: dict[str, str], base: str) -> list[str]:
    """What an IRI or prefixed name may name: as written, and resolved (prefixes, the engine's own, BASE)."""
    if token.kind == "iri":
        return [token.text[1:-1], urljoin(base, token.text[1:-1])]
    if token.kind == "pname":
        prefix, _, local = token.text.partition(":")
        expanded = prefixes.get(prefix, ENGINE_PREFIXES.get(prefix))
        return [token.text] if expanded is None else [token.text, expanded + re.sub(r"\\(.)", r"\1", local)]
    return []


def _in_language_tag(found: list[Token], index: int) -> bool:
    """Whether the word at `index` is part of a language tag (`"x"@en-define`), where any letters are data."""
    while index > 0:
        previous, current = found[index - 1], found[index]
        if previous.start + len(previous.text) != current.start:
            return False
        if previous.text == "@":
            return True
        if not (previous.kind in ("word", "number") or previous.text == "-"):
            return False
        index -= 1
    return False


def _nesting(found: list[Token]) -> int:
    """The deepest the parser must recurse: open brackets plus a run of `!` (each negates what follows)."""
    depth = negations = deepest = 0
    for token in found:
        if token.kind != "other":
            negations = 0
        elif token.text in "([{":
            depth += 1
        elif token.text in ")]}":
            depth -= 1
        if token.kind == "other" and token.text == "!":
            negations += 1
        elif token.kind == "other" and token.text not in "([{":
            negations = 0
        deepest = max(deepest, depth + negations)
    return deepest


def _service_target(rest: list[Token], prefixes: dict[str, str]) -> str | None:
    """The IRI after SERVICE [SILENT], resolving a prefixed name; None when it is not a fixed IRI."""
    if rest and rest[0].kind == "word" and rest[0].text.upper() == "SILENT":
        rest = rest[1:]
    if not rest:
        return UNCHECKABLE
    target = rest[0]
    if target.kind == "iri":
        return target.text[1:-1]
    if target.kind == "pname":
        prefix, _, local = target.text.partition(":")
        if prefix in prefixes:
            return prefixes[prefix] + re.sub(r"\\(.)", r"\1", local)
    return UNCHECKABLE


Resolver = Callable[[str], list[str]]


def resolve_host(host: str) -> list[str]:
    """Every address the host name resolves to (IPv4 and IPv6)."""
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, None)})
    except (socket.gaierror, UnicodeError):
        return []


def is_public_address(address: str) -> bool:
    """Whether an address is globally routable: not loopback, private, link-local, reserved or multicast."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_loopback)


def check(
    text: str, service_allow: Iterable[str], resolver: Resolver = resolve_host, dataset: Iterable[str] = ()
) -> QueryAnalysis:
    """Refuse updates, engine extensions, kgserver's own graphs and SERVICE calls before evaluation; return the analysis.

    A SERVICE is accepted only when its IRI is in the allow-list and its host resolves
    only to public addresses: an allow-listed name that points at this machine or the
    local network is still refused, so the endpoint cannot be used to reach them. `dataset`
    is the graphs the request names (default-graph-uri, named-graph-uri).
    """
    analysis = analyse(text)
    if analysis.nesting > MAX_NESTING:
        raise InputError(f"the query nests {analysis.nesting} levels deep; this endpoint accepts at most {MAX_NESTING}")
    if analysis.is_update:
        raise UpdateRefusedError()
    if analysis.extensions:
        first = analysis.extensions[0]
        raise InputError((DEFINE_REFUSED if first.upper().startswith("DEFINE") else FUNCTION_REFUSED).format(first))
    private = [*analysis.private, *(graph for graph in dataset if graph.lower().startswith(PRIVATE_GRAPHS))]
    if private:
        raise InputError(PRIVATE_REFUSED.format(private[0]))
    allowed = set(service_allow)
    for target in analysis.services:
        if target is UNCHECKABLE or target not in allowed:
            raise InputError(SERVICE_REFUSED)
        host = urlsplit(target).hostname
        addresses = resolver(host) if host else []
        if not addresses or not all(is_public_address(address) for address in addresses):
            raise InputError(f"{SERVICE_REFUSED} (<{target}> does not resolve only to public addresses)")
    return analysis
