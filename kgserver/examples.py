"""The example catalogue: every .rq file under queries/ as data, and as RDF the way SIB/UniProt publish theirs.

A query file starts with a header of comment lines. The first line is `# TITLE: question`,
where TITLE is a short name (no colon, at most 40 characters); the question goes on over
the following lines that start with `#`. The query follows the header.

    # CQ4: For which conditions does the evidence say efficacy is lacking
    # or has not been shown?
    SELECT ...

Each example becomes `<{base}queries/{stem}>`, typed sh:SPARQLExecutable and the executable
class of its query form, with rdfs:label (the title), rdfs:comment (the question), the query
text under sh:select / sh:ask / sh:construct / spex:describe, schema:target (the endpoint) and
schema:position (its place in the catalogue). `kgserver build` stores that graph; the server
reads the catalogue back from it (`stored_examples`), so what it offers is what was built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rdflib import RDF, RDFS, Graph, Literal, Namespace, URIRef

from kgserver.config import DEFAULT_BASE, Settings
from kgserver.errors import KgError
from kgserver.sparql_lexer import read_form

SH = Namespace("http://www.w3.org/ns/shacl#")
SCHEMA = Namespace("https://schema.org/")
SPEX = Namespace("https://purl.expasy.org/sparql-examples/ontology#")

# Per query form: the executable class and the property that holds the query text.
# SHACL has no DESCRIBE executable; the SIB sparql-examples ontology (spex:) supplies one.
_BY_FORM: dict[str, tuple[URIRef, URIRef]] = {
    "SELECT": (SH.SPARQLSelectExecutable, SH.select),
    "ASK": (SH.SPARQLAskExecutable, SH.ask),
    "CONSTRUCT": (SH.SPARQLConstructExecutable, SH.construct),
    "DESCRIBE": (SPEX.SPARQLDescribeExecutable, SPEX.describe),
}
_FIRST_LINE = re.compile(r"#\s*(?P<title>[^:\s][^:]{0,39}):\s+(?P<question>\S.*)")
_HEADER_FORMAT = '"# TITLE: question", e.g. "# CQ1: Which receptors does naltrexone act on?"'


class ExampleFileError(KgError):
    """A query file that cannot be catalogued; the message names the file and what to fix.

    A fault of the server's sources, not of the request, hence status 500.
    """

    http_status = 500


@dataclass(frozen=True)
class Example:
    """One catalogued query: where it is published, its title and question, its form and its text."""

    iri: str
    stem: str
    title: str
    question: str
    form: str
    text: str


def query_files(settings: Settings) -> list[Path]:
    """The catalogue's files: queries/*.rq (competency queries), then those in its subfolders."""
    folder = settings.root / "queries"
    return sorted(folder.rglob("*.rq"), key=lambda path: (len(path.relative_to(folder).parts), path.as_posix()))


def load_examples(settings: Settings) -> list[Example]:
    """Every query file as an Example; a bad header or a repeated file name is an ExampleFileError naming the file."""
    examples: list[Example] = []
    seen: dict[str, Path] = {}
    for path in query_files(settings):
        if path.stem in seen:
            raise ExampleFileError(
                f"{_shown(path, settings)}: {_shown(seen[path.stem], settings)} has the same name; names must be unique"
            )
        seen[path.stem] = path
        examples.append(read_example(path, settings))
    return examples


def read_example(path: Path, settings: Settings) -> Example:
    """One query file as an Example, its title and question read from the header comment."""
    text = path.read_text(encoding="utf-8").replace(DEFAULT_BASE, settings.base)  # the queries follow LDNKG_BASE
    title, question = parse_header(text, _shown(path, settings))
    form = read_form(text)[0]
    if form is None:
        raise ExampleFileError(
            f"{_shown(path, settings)}: not a SPARQL query (no SELECT, ASK, CONSTRUCT or DESCRIBE found)"
        )
    return Example(f"{settings.base}queries/{path.stem}", path.stem, title, question, form, text)


def parse_header(text: str, name: str) -> tuple[str, str]:
    """The title and the question of a query file's header; the question's lines are joined with spaces.

    >>> parse_header("# CQ4: For which conditions\\n# is efficacy lacking?\\nSELECT ...", "cq04.rq")
    ('CQ4', 'For which conditions is efficacy lacking?')
    """
    lines = text.splitlines()
    first = _FIRST_LINE.fullmatch(lines[0].strip()) if lines else None
    if first is None:
        raise ExampleFileError(f"{name}: the first line must be a header comment {_HEADER_FORMAT}")
    question = [first["question"].strip()]
    for line in lines[1:]:
        if not line.startswith("#"):
            break
        question.append(line.lstrip("#").strip())
    return first["title"].strip(), " ".join(part for part in question if part)


def _shown(path: Path, settings: Settings) -> str:
    """A query file's name as the user knows it, relative to the project root, e.g. queries/cq01-receptors.rq."""
    return path.relative_to(settings.root).as_posix() if path.is_relative_to(settings.root) else str(path)


def example_graph(settings: Settings, examples: list[Example] | None = None) -> Graph:
    """The catalogue as RDF, for /.well-known/sparql-examples and tools that read SIB-style examples."""
    graph = Graph()
    for prefix, namespace in (("sh", SH), ("schema", SCHEMA), ("spex", SPEX), ("rdfs", RDFS)):
        graph.bind(prefix, namespace)
    graph.bind("ex", Namespace(f"{settings.base}queries/"))
    endpoint = URIRef(f"{settings.base}sparql")
    for position, example in enumerate(load_examples(settings) if examples is None else examples, start=1):
        executable, text_property = _BY_FORM[example.form]
        node = URIRef(example.iri)
        graph.add((node, RDF.type, SH.SPARQLExecutable))
        graph.add((node, RDF.type, executable))
        graph.add((node, RDFS.label, Literal(example.title, lang="en")))
        graph.add((node, RDFS.comment, Literal(example.question, lang="en")))
        graph.add((node, text_property, Literal(example.text)))
        graph.add((node, SCHEMA.target, endpoint))
        graph.add((node, SCHEMA.position, Literal(position)))
    return graph


def stored_examples(graph: Graph, settings: Settings) -> list[Example]:
    """The catalogue as `example_graph` stored it, in its order: how the server reads the examples it offers."""
    prefix = f"{settings.base}queries/"
    found: list[tuple[int, Example]] = []
    for node in graph.subjects(RDF.type, SH.SPARQLExecutable):
        for form, (executable, text_property) in _BY_FORM.items():
            text = graph.value(node, text_property)
            if (node, RDF.type, executable) in graph and text is not None:
                example = Example(str(node), str(node).removeprefix(prefix), str(graph.value(node, RDFS.label)),
                                  str(graph.value(node, RDFS.comment)), form, str(text))
                found.append((int(graph.value(node, SCHEMA.position) or 0), example))
    return [example for _, example in sorted(found, key=lambda item: (item[0], item[1].stem))]
