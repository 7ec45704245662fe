"""Deep ordered pages, `ORDER BY k1 k2 ... LIMIT n OFFSET m`, answered without the engine's full sort.

Oxigraph sorts every solution by every key before it skips the offset, and it decodes both
terms of every comparison from the store: `ORDER BY ?claim LIMIT 50 OFFSET 500` over 125,000
claims sorts 125,000 IRIs, about two million comparisons of decoded strings. A page needs far
less: the OFFSET + LIMIT smallest solutions. For a SELECT ordered by keys that are variables
(`?v`, `ASC(?v)`, `DESC(?v)`) or their string values (`STR(?v)`, `DESC(STR(?v))`), with a
LIMIT, the query process therefore asks the engine for the solutions unsorted and keeps the
smallest in a bounded heap, decoding each term once (`heap` plan).

When the first key is a number, the engine's own sort is cheap (numbers are stored inline, no
decoding), so the engine is asked to order by the first key only; the process reads solutions
until it holds OFFSET + LIMIT of them and the first key changes, and sorts the ties by the
other keys (`ties` plan). Which plan runs is decided by the first solutions of the unsorted
stream; both give exactly the engine's page.

The order is the engine's (see "term order" below); solutions with equal keys may come in
another order than the engine's, which SPARQL leaves open (Oxigraph's own sort is unstable).
Where a key holds terms the engine would not order consistently (numbers mixed with strings),
or that the plan does not order (dates, triple terms, NaN, a number whose text does not parse),
the plan gives up and the query runs as sent. Key variables that are not projected are
projected for the plan and dropped from the answer, when the projection is plain variables.
"""

from __future__ import annotations

import heapq
import re
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import chain, islice
from typing import Any

from pyoxigraph import BlankNode, Literal, NamedNode

from kgserver.sparql_lexer import Token

# Solutions held at most (OFFSET + LIMIT, or the page and the ties of its last first key).
MAX_HELD = 200_000
# Solutions of the unsorted stream looked at to choose between the two plans.
_PEEK = 64

_XSD = "http://www.w3.org/2001/XMLSchema#"
_INTEGERS = frozenset(
    _XSD + name
    for name in (
        "integer", "nonPositiveInteger", "negativeInteger", "long", "int", "short", "byte", "nonNegativeInteger",
        "unsignedLong", "unsignedInt", "unsignedShort", "unsignedByte", "positiveInteger",
    )
)
_DECIMAL = _XSD + "decimal"
_FLOAT = _XSD + "float"
_DOUBLE = _XSD + "double"
_STRING = _XSD + "string"
_INTEGER_FORM = re.compile(r"[+-]?[0-9]+\Z")
_DECIMAL_FORM = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\Z")
_FLOATING_FORM = re.compile(r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|INF)\Z")


@dataclass(frozen=True)
class Key:
    """One ORDER BY key: a variable, or its string value (`STR(?v)`), either way up."""

    variable: str
    descending: bool = False
    text: bool = False  # STR(?variable)


@dataclass(frozen=True)
class PagedOrder:
    """How the query process answers one ordered page, prepared from the text in the web process."""

    unsorted_text: str  # the query without ORDER BY, LIMIT and OFFSET (hidden keys projected)
    first_key_text: str | None  # the query ordered by its first key only, when that key is a variable
    keys: tuple[Key, ...]
    offset: int
    limit: int
    hidden: tuple[str, ...] = ()  # key variables projected for the plan, dropped from the answer

    @property
    def wanted(self) -> int:
        return self.offset + self.limit


class GiveUp(Exception):
    """The plan cannot order these solutions exactly as the engine does; run the query as sent."""


# ------------------------------------------------------------------------------------- planning

_FORMS = frozenset({"SELECT", "ASK", "CONSTRUCT", "DESCRIBE"})
_MODIFIERS = ("LIMIT", "OFFSET")


def plan(text: str, found: Sequence[Token]) -> PagedOrder | None:
    """A plan for a SELECT ending in ORDER BY variable keys and a LIMIT, or None to run it as sent."""
    if "order" not in text.lower():
        return None
    forms = [index for index, token in enumerate(found) if token.kind == "word" and token.text.upper() in _FORMS]
    end = _where_end(found)
    if not forms or found[forms[0]].text.upper() != "SELECT" or end is None:
        return None
    tail = found[end + 1 :]
    order = next((i for i, t in enumerate(tail) if t.kind == "word" and t.text.upper() == "ORDER"), None)
    if order is None or order + 2 >= len(tail) or tail[order + 1].text.upper() != "BY":
        return None
    keys, first_end, rest = _keys(tail[order + 2 :])
    modifiers = _modifiers(rest)
    if not keys or modifiers is None or "LIMIT" not in modifiers:
        return None
    offset, limit = modifiers.get("OFFSET", 0), modifiers["LIMIT"]
    if offset + limit > MAX_HELD:
        return None
    projection = found[forms[0] + 1 :]
    projected, plain, insert_at = _projection(projection)
    missing = tuple(dict.fromkeys(key.variable for key in keys if projected is not None and key.variable not in projected))
    if missing and (not plain or _grouped(tail[:order])):
        return None  # adding a variable to DISTINCT or grouped solutions would change them
    before_order = text[: tail[order].start]
    if missing:
        extra = " " + " ".join(f"?{name}" for name in missing) + " "
        before_order = before_order[:insert_at] + extra + before_order[insert_at:]
    first_key_text = None
    if not keys[0].text:
        first_key_text = before_order + "ORDER BY " + text[tail[order + 2].start : first_end] + "\n"
    return PagedOrder(before_order + "\n", first_key_text, tuple(keys), offset, limit, missing)


def _where_end(found: Sequence[Token]) -> int | None:
    """The index of the `}` that closes the query's WHERE clause (the last one at depth 0)."""
    depth, end = 0, None
    for index, token in enumerate(found):
        if token.kind == "other" and token.text == "{":
            depth += 1
        elif token.kind == "other" and token.text == "}":
            depth -= 1
            end = index if depth == 0 else end
    return end


def _keys(found: Sequence[Token]) -> tuple[list[Key], int, Sequence[Token]]:
    """The ORDER BY keys, where the first one ends in the text, and the tokens after the keys.

    A key is `?v`, `ASC(?v)`, `DESC(?v)`, `STR(?v)`, `ASC(STR(?v))` or `DESC(STR(?v))`; any
    other key (another expression) returns no keys.
    """
    keys: list[Key] = []
    ends: list[int] = []
    index = 0
    while index < len(found) and not (found[index].kind == "word" and found[index].text.upper() in _MODIFIERS):
        parsed = _key(found, index)
        if parsed is None:
            return [], 0, ()
        key, index = parsed
        keys.append(key)
        ends.append(found[index - 1].start + len(found[index - 1].text))
    return keys, ends[0] if ends else 0, found[index:]


def _key(found: Sequence[Token], index: int) -> tuple[Key, int] | None:
    """The key starting at `index` and the index after it, or None if it is not one the plan reads."""
    token = found[index]
    if token.kind == "var":
        return Key(token.text[1:]), index + 1
    word = token.text.upper() if token.kind == "word" else ""
    if word == "STR":
        inner = list(found[index + 1 : index + 4])
        if [t.text for t in inner][::2] == ["(", ")"] and len(inner) == 3 and inner[1].kind == "var":
            return Key(inner[1].text[1:], text=True), index + 4
        return None
    if word not in ("ASC", "DESC") or index + 1 >= len(found) or found[index + 1].text != "(":
        return None
    parsed = _key(found, index + 2) if index + 2 < len(found) and found[index + 2].text.upper() != "ASC" else None
    if parsed is None or parsed[0].descending:
        return None
    inner_key, after = parsed
    if after >= len(found) or found[after].text != ")":
        return None
    return Key(inner_key.variable, word == "DESC", inner_key.text), after + 1


def _modifiers(found: Sequence[Token]) -> dict[str, int] | None:
    """LIMIT and OFFSET (in either order) and nothing else, or None."""
    values: dict[str, int] = {}
    for index in range(0, len(found), 2):
        pair = found[index : index + 2]
        if len(pair) != 2 or pair[0].kind != "word" or pair[1].kind != "number":
            return None
        name = pair[0].text.upper()
        if name not in _MODIFIERS or name in values:
            return None
        values[name] = int(pair[1].text)
    return values


def _projection(found: Sequence[Token]) -> tuple[set[str] | None, bool, int]:
    """The projected variables (None for `SELECT *`), whether they are plain variables only, and where they end.

    Plain means no DISTINCT, REDUCED or `(expression AS ?v)`: only then can a variable be
    added to the projection without changing the solutions.
    """
    projected: set[str] = set()
    depth, previous, plain, end = 0, "", True, 0
    for token in found:
        word = token.text.upper()
        if token.text == "{" or token.kind == "word" and word in ("WHERE", "FROM"):
            return projected, plain, token.start
        if token.kind == "other":
            if token.text == "*" and depth == 0:
                return None, plain, token.start
            depth += {"(": 1, ")": -1}.get(token.text, 0)
            plain = False if token.text == "(" else plain
        elif token.kind == "var" and (depth == 0 or previous == "AS"):
            projected.add(token.text[1:])
        elif token.kind == "word" and word in ("DISTINCT", "REDUCED"):
            plain = False
        previous, end = word, token.start + len(token.text)
    return projected, plain, end


def _grouped(modifiers: Sequence[Token]) -> bool:
    """Whether the solution modifiers before ORDER BY group the solutions (GROUP BY or HAVING)."""
    return any(token.kind == "word" and token.text.upper() in ("GROUP", "HAVING") for token in modifiers)


# ----------------------------------------------------------------------------------- evaluation

Row = Sequence[Any]  # a solution: indexable by column (the engine's QuerySolution, or a tuple)
Query = Callable[[str], tuple[list[str], Iterator[Row]]]


def answer(query: Query, order: PagedOrder) -> tuple[list[str], list[Row], str]:
    """The page (variables, rows) and the plan that made it, `heap` or `ties`; GiveUp to run the query as sent.

    `query` runs a text on the engine and returns its variables and solutions, which are only
    indexed by column until the page is chosen: making a tuple of every solution's terms costs
    a fifth of a one-key page over 124,000 claims, and only the page's rows need one.
    """
    variables, solutions = query(order.unsorted_text)
    position = {name: index for index, name in enumerate(variables)}
    if any(key.variable not in position for key in order.keys):  # `SELECT *` without a key's variable
        raise GiveUp("a key is not among the answer's variables")
    first = position[order.keys[0].variable]
    peeked = list(islice(solutions, _PEEK))
    if order.first_key_text is not None and peeked and all(_is_number(row[first]) for row in peeked):
        del solutions, peeked  # the engine sorts numbers cheaply: let it order by the first key
        variables, sorted_solutions = query(order.first_key_text)
        rows, plan_name = _by_ties(sorted_solutions, order, position), "ties"
    else:
        rows, plan_name = _by_heap(chain(peeked, solutions), order, position), "heap"
    return _without_hidden(variables, [tuple(row) for row in rows], order.hidden) + (plan_name,)


def _by_heap(solutions: Iterable[Row], order: PagedOrder, position: dict[str, int]) -> list[Row]:
    """The OFFSET + LIMIT smallest solutions, in order, by a bounded heap over the unsorted stream."""
    columns = _columns(order.keys)
    if all(key.descending for key in order.keys):
        held = heapq.nlargest(order.wanted, solutions, key=_row_key(order.keys, columns, position, directions=False))
    else:
        held = heapq.nsmallest(order.wanted, solutions, key=_row_key(order.keys, columns, position))
    for column in columns:
        column.check()
    return held[order.offset :]


def _by_ties(solutions: Iterable[Row], order: PagedOrder, position: dict[str, int]) -> list[Row]:
    """Solutions read in the engine's first-key order until the page is held, then ties sorted by the other keys."""
    first = position[order.keys[0].variable]
    held: list[tuple[int, Row]] = []
    run, previous = -1, _NOTHING
    for row in solutions:
        value = _run_key(row[first])
        if value != previous:
            if len(held) >= order.wanted:
                break
            run, previous = run + 1, value
        if len(held) >= MAX_HELD:
            raise GiveUp(f"the page needs more than {MAX_HELD} solutions held")
        held.append((run, row))
    rest = order.keys[1:]
    if rest:
        columns = _columns(rest)
        rest_key = _row_key(rest, columns, position)
        held.sort(key=lambda item: (item[0], rest_key(item[1])))
        for column in columns:
            column.check()
    return [row for _, row in held[order.offset : order.wanted]]


def _without_hidden(variables: list[str], rows: list[Row], hidden: tuple[str, ...]) -> tuple[list[str], list[Row]]:
    """Drop the key variables the plan projected for itself."""
    if not hidden:
        return variables, rows
    keep = [index for index, name in enumerate(variables) if name not in hidden]
    return [variables[i] for i in keep], [tuple(row[i] for i in keep) for row in rows]


_NOTHING = object()


# ------------------------------------------------------------------------------- term order
#
# Oxigraph 0.5's order (spareval's cmp_terms and partial_cmp_literals): unbound values and
# expression errors first, then blank nodes by id, IRIs by code point, literals. Two literals
# compare by value when SPARQL defines `<` for them (two strings, two numbers, two dates);
# any other pair by (lexical form, datatype IRI, language tag). That is a total order within
# a column of numbers, or of strings, booleans and other lexically compared literals, but not
# across them (10 < "5" < 9 < 10), and numbers of different types are promoted (an integer
# against a double compares as a double). A column mixing what would not compare consistently
# makes the plan give up; so do dates, triple terms and literals whose text does not parse.


class _Column:
    """The sort key of one ORDER BY key's terms, noting the kinds of literal met so a bad mix can give up."""

    __slots__ = ("kinds", "text")

    def __init__(self, text: bool) -> None:
        self.text = text  # STR(?v): the string value
        self.kinds: set[str] = set()

    def key(self, term: Any) -> tuple[int, Any]:
        if self.text:
            return _string_key(term)
        kind = type(term)
        if kind is NamedNode:
            return (2, term.value)
        if term is None:
            return _UNBOUND
        if kind is Literal:
            return self._literal(term)
        if kind is BlankNode:
            return (1, term.value)
        raise GiveUp(f"the plan does not order {term}")

    def _literal(self, term: Literal) -> tuple[int, Any]:
        language = term.language
        if language:
            self.kinds.add("lexical")
            return (4, (term.value, _LANG_STRING, language))
        datatype = term.datatype.value
        if datatype == _STRING:
            self.kinds.add("lexical")
            return (4, (term.value, datatype, ""))
        if datatype in _NUMBERS:
            value, kind = _number(term.value, datatype)
            self.kinds.add(kind)
            return (3, value)
        if datatype == _BOOLEAN and term.value in ("true", "false") or not datatype.startswith(_XSD):
            self.kinds.add("lexical")
            return (4, (term.value, datatype, ""))
        raise GiveUp(f"the plan does not order {term}")

    def check(self) -> None:
        """Give up if the column mixes literals the engine would not order consistently."""
        kinds = self.kinds
        if "lexical" in kinds and kinds - {"lexical"}:
            raise GiveUp("numbers and other literals in one key: the engine's order is not a total order")
        if "float" in kinds and len(kinds) > 1:
            raise GiveUp("xsd:float with other numbers in one key")
        if "double" in kinds and "inexact" in kinds:
            raise GiveUp("a decimal that no double represents, compared with doubles")


_UNBOUND = (0, 0)
_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
_BOOLEAN = _XSD + "boolean"
_NUMBERS = _INTEGERS | {_DECIMAL, _FLOAT, _DOUBLE}


def _columns(keys: Sequence[Key]) -> list[_Column]:
    return [_Column(key.text) for key in keys]


def _row_key(
    keys: Sequence[Key], columns: Sequence[_Column], position: dict[str, int], directions: bool = True
) -> Callable[[Row], Any]:
    """An ascending sort key for whole solutions: one component per ORDER BY key, DESC keys inverted.

    With `directions` false every key is taken ascending (for `nlargest` over all-DESC keys).
    """
    parts = [(position[key.variable], column.key) for key, column in zip(keys, columns, strict=True)]
    flips = [key.descending and directions for key in keys]
    if not any(flips):
        if len(parts) == 1:
            index, term_key = parts[0]
            return lambda row: term_key(row[index])
        return lambda row: tuple(term_key(row[index]) for index, term_key in parts)
    return lambda row: tuple(
        _Descending(term_key(row[index])) if flip else term_key(row[index])
        for (index, term_key), flip in zip(parts, flips, strict=True)
    )


class _Descending:
    """A key component that sorts the other way, for a DESC key among ASC ones."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Descending) -> bool:
        return other.value < self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.value == other.value

    __hash__ = None  # type: ignore[assignment]


def _string_key(term: Any) -> tuple[int, Any]:
    """The order of STR(?v): unbound (or a blank node, for which STR is an error) first, then strings."""
    kind = type(term)
    if kind is NamedNode or kind is Literal:
        return (1, term.value)
    return _UNBOUND


def _number(lexical: str, datatype: str) -> tuple[int | Decimal | float, str]:
    """A numeric literal's value and kind (`exact`, `inexact` as a double, `double`, `float`); GiveUp if ill-formed."""
    if datatype == _DOUBLE or datatype == _FLOAT:
        if not _FLOATING_FORM.match(lexical):
            raise GiveUp(f"the order of {lexical!r}^^<{datatype}> is left to the engine")
        value = float(lexical)
        if datatype == _FLOAT:
            return struct.unpack("f", struct.pack("f", value))[0], "float"  # xsd:float is single precision
        return value, "double"
    if datatype == _DECIMAL and _DECIMAL_FORM.match(lexical):
        number: int | Decimal = Decimal(lexical)
    elif datatype in _INTEGERS and _INTEGER_FORM.match(lexical):
        number = int(lexical)
    else:
        raise GiveUp(f"the order of {lexical!r}^^<{datatype}> is left to the engine")
    return number, "exact" if float(number) == number else "inexact"


def _is_number(term: Any) -> bool:
    """Whether a term is a well-formed numeric literal (which the engine sorts without decoding)."""
    if type(term) is not Literal or term.language:
        return False
    datatype = term.datatype.value
    if datatype not in _NUMBERS:
        return False
    try:
        _number(term.value, datatype)
    except GiveUp:
        return False
    return True


def _run_key(term: Any) -> Any:
    """What makes two first-key values equal for the ties plan: numbers compare by value."""
    return _number(term.value, term.datatype.value)[0] if _is_number(term) else term
