"""The SPARQL tokenizer every text check shares: the policy, the query shape and the paging plan.

It consumes comments, string literals and <IRIs> first, so a keyword inside a string, an IRI,
a comment, a variable (`?service`) or a prefixed name (`ex:service`) is never taken for the
keyword. It does not parse: it only has to agree with the engine's parser on where tokens
start and end.

>>> [token.kind for token in tokens('SELECT ?s { ?s ex:p "x" } # done')]
['word', 'var', 'other', 'var', 'pname', 'string', 'other']
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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
