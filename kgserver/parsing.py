"""Safe parsing of RDF files: nothing is fetched, and every error names FILE:LINE."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from xml.parsers import expat
from xml.sax import SAXParseException

from rdflib import Dataset, Graph
from rdflib.namespace import NamespaceManager

from kgserver.errors import InputError

# Format names accepted on the command line, and the rdflib parser behind each.
PARSERS: dict[str, str] = {
    "turtle": "turtle",
    "ntriples": "nt",
    "nquads": "nquads",
    "trig": "trig",
    "jsonld": "json-ld",
    "rdfxml": "xml",
    "n3": "n3",
}

EXTENSIONS: dict[str, str] = {
    ".ttl": "turtle",
    ".nt": "ntriples",
    ".nq": "nquads",
    ".trig": "trig",
    ".jsonld": "jsonld",
    ".json": "jsonld",
    ".rdf": "rdfxml",
    ".owl": "rdfxml",
    ".xml": "rdfxml",
    ".n3": "n3",
}

_QUAD_FORMATS = frozenset({"nquads", "trig"})
_LINE_BASED_FORMATS = frozenset({"ntriples", "nquads"})
_NETWORK_EVENTS = frozenset({"urllib.Request", "socket.connect", "socket.getaddrinfo"})
_MAX_MESSAGE = 240

_offline = contextvars.ContextVar("kgserver_parsing_offline", default=False)
_BOM = b"\xef\xbb\xbf"

# rdflib logs a traceback for every literal whose text is not a value of its datatype
# ("abc"^^xsd:integer); such literals are reported to the user (curation/boundaries.py).
logging.getLogger("rdflib.term").setLevel(logging.ERROR)


def _refuse_network_while_parsing(event: str, args: tuple[Any, ...]) -> None:
    """Audit hook: a parser that tries to open a connection is stopped, whatever the reason."""
    if event in _NETWORK_EVENTS and _offline.get():
        raise InputError("the file refers to a remote document; fetching anything is refused")


sys.addaudithook(_refuse_network_while_parsing)

# Each prefix a document declares costs rdflib's namespace manager a walk over those bound before
# (NamespaceManager.bind's insert_trie): 10,000 declarations took 5.5 s to parse, and an RDF/XML
# body of 20,000 under the 1 MiB request limit held /validate for 2 min 52 s. A document needs a few.
MAX_PREFIXES = 1000
_declared = contextvars.ContextVar[list[int] | None]("kgserver_parsing_declared", default=None)
_bind = NamespaceManager.bind


def _counted_bind(manager: NamespaceManager, prefix: str | None, namespace: Any, *args: Any, **options: Any) -> None:
    """rdflib's bind, counting what a document parsed here declares: past MAX_PREFIXES it is refused."""
    declared = _declared.get()
    if declared is not None:
        declared[0] += 1
        if declared[0] > MAX_PREFIXES:
            raise InputError(f"it declares more than {MAX_PREFIXES:,} namespace prefixes; "
                             "a document needs a few (each one declared costs the parser more than the last)")
    _bind(manager, prefix, namespace, *args, **options)


NamespaceManager.bind = _counted_bind  # type: ignore[method-assign]


@contextmanager
def _offline_parsing() -> Iterator[None]:
    """Parse with nothing fetched and at most MAX_PREFIXES prefixes declared."""
    token, counted = _offline.set(True), _declared.set([0])
    try:
        yield
    finally:
        _declared.reset(counted)
        _offline.reset(token)


def guess_format(path: Path) -> str:
    """The format name for a file extension, so users rarely need --input-format."""
    try:
        return EXTENSIONS[path.suffix.lower()]
    except KeyError:
        known = " ".join(sorted(EXTENSIONS))
        raise InputError(
            f"{path}: unknown RDF format for extension '{path.suffix}' "
            f"(known: {known}); name it with --input-format"
        ) from None


def parse_file(path: Path, base: str, input_format: str | None = None, label: str | None = None) -> Graph:
    """Parse one RDF file into a graph, merging named graphs of quad formats.

    Relative IRIs resolve against `base`. JSON-LD may only use inline contexts: a context
    given by reference (URL or file) is refused rather than fetched.
    """
    name = label or str(path)
    fmt = input_format or guess_format(path)
    return parse_bytes(_read(path, name), fmt, base, name)


def parse_additions(paths: Iterable[Path], base: str, input_format: str | None = None) -> Graph:
    """Parse the files a user submits; each must hold at least one triple."""
    additions = Graph(bind_namespaces="core")
    for path in paths:
        graph = parse_file(path, base, input_format)
        if len(graph) == 0:
            raise InputError(f"{path}: no triples found (the file is empty or holds only prefixes)")
        additions += graph
        for prefix, namespace in graph.namespaces():  # the file's own prefixes, for the report to write terms with
            additions.bind(prefix, namespace, override=False)
    return additions


def _read(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory, not an RDF file") from None
    except OSError as error:
        raise InputError(f"{name}: cannot read the file ({error.strerror})") from None


def _refuse_context_references(data: bytes, name: str) -> None:
    """Refuse JSON-LD that names a context by reference, since resolving it would fetch it."""
    try:
        document = json.loads(data)
        reference = next(_context_references(document), None)
    except json.JSONDecodeError as error:
        raise InputError(f"{name}:{error.lineno}: {error.msg}") from None
    except UnicodeDecodeError:
        raise InputError(f"{name}: the file is not UTF-8 text") from None
    except RecursionError:
        raise InputError(f"{name}: the JSON is nested too deeply") from None
    except ValueError as error:  # such as a number longer than Python converts
        raise InputError(f"{name}: {error}") from None
    if reference is not None:
        raise InputError(f"{name}: remote JSON-LD context '{reference}' refused; put the @context inline")


def _context_references(node: Any) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _context_references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "@context":
                contexts = value if isinstance(value, list) else [value]
                yield from (context for context in contexts if isinstance(context, str))
            if key == "@import" and isinstance(value, str):
                yield value
            yield from _context_references(value)


def parse_bytes(data: bytes, fmt: str, base: str, name: str) -> Graph:
    """Parse RDF bytes in format `fmt` (named `name` in errors) offline: nothing is fetched.

    JSON-LD may only use inline contexts: a context given by reference (URL or file) is
    refused rather than fetched; RDF/XML may declare no external document type or entity, and
    no entity built of others. Quad formats are merged into one graph.
    """
    data = data.removeprefix(_BOM)  # a UTF-8 byte order mark is text's, not the syntax's
    if fmt == "jsonld":
        _refuse_context_references(data, name)
    if fmt == "rdfxml":  # a file given to the command is refused as the same body sent to the server
        _refuse_entities(data, name)
    parser = PARSERS[fmt]
    # "core": only rdf, rdfs, owl, xsd bound beforehand, so the submitter's own prefixes keep their names
    # (rdflib's default binds schema: to https://schema.org/, and a curator's http://schema.org/ became schema1:)
    target = Dataset() if fmt in _QUAD_FORMATS else Graph(bind_namespaces="core")
    try:
        with _offline_parsing():
            target.parse(data=data, format=parser, publicID=base)
    except InputError as error:
        raise InputError(f"{name}: {error.message}") from None
    except RecursionError:
        raise InputError(f"{name}: the document is nested too deeply") from None
    except Exception as error:  # parsers raise many types; all mean bad input
        line, problem = _locate(error, data, fmt)
        where = f"{name}:{line}" if line else name
        raise InputError(f"{where}: {problem}") from None
    if isinstance(target, Dataset):
        merged = Graph()
        for subject, predicate, obj, _graph in target.quads((None, None, None, None)):
            merged.add((subject, predicate, obj))
        return merged
    return target


def _locate(error: Exception, data: bytes, fmt: str) -> tuple[int | None, str]:
    """The line and a one-line description of a parse error, read from the parser's exception."""
    if isinstance(error, json.JSONDecodeError):
        return error.lineno, error.msg
    if isinstance(error, SAXParseException):
        return error.getLineNumber(), error.getMessage()
    message = str(error)
    at_line = re.search(r"at line (\d+)", message)
    if at_line:
        why = re.search(r"Bad syntax \((.*?)\) at \^", message, re.DOTALL)
        return int(at_line.group(1)), _one_line(why.group(1) if why else message)
    if fmt in _LINE_BASED_FORMATS:
        return _first_bad_line(data, fmt), _one_line(message)
    return None, _one_line(message or type(error).__name__)


def _first_bad_line(data: bytes, fmt: str) -> int | None:
    """Find the failing statement of a line-based format, whose parser does not report it."""
    parser = PARSERS[fmt]
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        try:
            Dataset().parse(data=line, format=parser)
        except Exception:  # any failure marks the line
            return number
    return None


def _one_line(message: str) -> str:
    text = " ".join(message.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


class _DeclarationsRead(Exception):
    """The document type declaration (if any) has been read and found harmless."""


def _refuse_entities(body: bytes, source: str) -> None:
    """Read the RDF/XML prolog and refuse entities that would fetch a file or expand without bound."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def doctype(_name: str, system_id: str | None, public_id: str | None, _internal: bool) -> None:
        if system_id or public_id:
            raise InputError(f"{source}: an external document type ('{system_id or public_id}') is refused")

    def entity(
        name: str, parameter: bool, value: str | None, _base: str | None,
        system_id: str | None, public_id: str | None, _notation: str | None,
    ) -> None:
        if value is None or system_id or public_id:
            raise InputError(f"{source}: external entity '{name}' refused; nothing is fetched")
        if parameter or "&" in value or "%" in value:
            raise InputError(f"{source}: entity '{name}' refers to other entities; nested entity expansion is refused")

    def declarations_read(*_args: object) -> None:
        raise _DeclarationsRead

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    parser.EndDoctypeDeclHandler = declarations_read
    parser.StartElementHandler = declarations_read
    try:
        parser.Parse(body, True)
    except _DeclarationsRead:
        return
    except expat.ExpatError as error:
        raise InputError(f"{source}:{error.lineno}: {expat.errors.messages[error.code]}") from None
