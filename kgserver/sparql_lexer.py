"""The SPARQL tokenizer every text check shares: the query form, the policy, the query shape and the paging plan.

It sits beside the store (not in sparql/) because the store and the example catalogue read a
text's form with it too, and they must not depend on the endpoint's package.

It consumes comments, string literals and <IRIs> first, so a keyword inside a string, an IRI,
a comment, a variable (`?service`) or a prefixed name (`ex:service`) is never taken for the
keyword. It does not parse: it only has to agree with the engine's parser on where tokens
start and end.

>>> [token.kind for token in tokens('SELECT ?s { ?s ex:p "x" } # done')]
['word', 'var', 'other', 'var', 'pname', 'string', 'other']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import NamedTuple

_PN = r"[A-Za-z\u00C0-\uFFFF_][\w\u00B7\u00C0-\uFFFF.\-]*"
_TOKEN = re.compile(
    r"""
    (?P<comment>\#[^\r\n]*)
  | (?P<string>'''(?:[^'\\]|\\.|'(?!''))*'''|\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\"
               |'(?:[^'\\\r\n]|\\.)*'|"(?:[^"\\\r\n]|\\.)*")
  | (?P<iri><[^<>"{}|^`\\\x00-\x20]*>)
  | (?P<pname>(?:"""
    + _PN
    + r""")?:(?:[\w\u00B7\u00C0-\uFFFF.\-:%]|\\.)*)
  | (?P<var>[?$][\w\u00B7\u00C0-\uFFFF]+)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>[0-9]+)
  | (?P<other>\S)
    """,
    re.VERBOSE | re.DOTALL,
)


class Token(NamedTuple):
    """One lexical token of a query: its kind (the group name above), its text and where it starts.

    A named tuple, as a query's tokens are made on every new text (a frozen dataclass costs
    several times more to create).
    """

    kind: str
    text: str
    start: int = 0


def tokens(text: str) -> Iterator[Token]:
    """The tokens of a SPARQL text, without comments; strings and IRIs stay single tokens."""
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "other"
        if kind != "comment":
            yield Token(kind, match.group(), match.start())


# Tokens that name data rather than structure: a query's shape keeps where they are, not what they say.
_CONSTANTS = frozenset({"string", "iri", "pname", "number"})


def shape(found: list[Token]) -> str:
    """The query's structure without its constants or comments: what stays the same when a client varies a query.

    A run of constants (and the commas between them) is one mark, so `VALUES ?c { <a> <b> }`
    and `VALUES ?c { <x> }` share a shape, as does the same query with other IRIs, numbers
    or strings. Keywords are compared without case.

    >>> shape(list(tokens('SELECT * { ?s ex:p "a" } LIMIT 5'))) == shape(list(tokens('select * {?s <q> 7} limit 10 # x')))
    True
    """
    parts: list[str] = []
    for token in found:
        if token.kind in _CONSTANTS or (token.text == "," and parts and parts[-1] == "$"):
            if not parts or parts[-1] != "$":
                parts.append("$")
        else:
            parts.append(token.text.upper() if token.kind == "word" else token.text)
    return " ".join(parts)


QUERY_FORMS = ("SELECT", "ASK", "CONSTRUCT", "DESCRIBE")
_UPDATE_WORDS = frozenset({"INSERT", "DELETE", "LOAD", "CLEAR", "CREATE", "DROP", "COPY", "MOVE", "ADD"})


def form_of(found: Iterable[Token]) -> tuple[str | None, bool]:
    """The query form (its first form keyword) and whether the text holds an update keyword.

    >>> form_of(tokens('PREFIX ex: <http://e/> ASK { ?s ex:select "DELETE" }'))
    ('ASK', False)
    """
    form: str | None = None
    is_update = False
    for token in found:
        if token.kind == "word":
            word = token.text.upper()
            if word in QUERY_FORMS and form is None:
                form = word
            elif word in _UPDATE_WORDS:
                is_update = True
    return form, is_update


@lru_cache(maxsize=1024)
def read_form(text: str) -> tuple[str | None, bool]:
    """`form_of` a whole text, remembered per text."""
    return form_of(tokens(text))


def declared_prefixes(found: list[Token]) -> dict[str, str]:
    """The prefixes a query's prologue declares (`PREFIX ex: <http://e/>`), by name.

    >>> declared_prefixes(list(tokens('PREFIX ex: <http://e/> SELECT * { ?s ex:p "PREFIX no: <x>" }')))
    {'ex': 'http://e/'}
    """
    return {
        found[index + 1].text.rstrip(":"): found[index + 2].text[1:-1]
        for index, token in enumerate(found[:-2])
        if token.kind == "word" and token.text.upper() == "PREFIX" and found[index + 2].kind == "iri"
    }


@lru_cache(maxsize=1024)
def names_its_dataset(text: str) -> bool:
    """Whether a query has its own dataset (FROM or FROM NAMED), which the SPARQL Protocol lets it keep.

    >>> names_its_dataset('SELECT * FROM <g> { ?s ?p ?o }'), names_its_dataset('SELECT * { ?s ex:from "FROM" }')
    (True, False)
    """
    return "from" in text.lower() and any(token.kind == "word" and token.text.upper() == "FROM" for token in tokens(text))
