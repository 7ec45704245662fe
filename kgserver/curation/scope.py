"""The neighbourhood of an addition: what of the stored graph its validation and reasoning need to see.

An addition is validated as if it were added to everything the store holds, but only results
whose focus node occurs in the addition are reported. Each shape looks only a little way
from its focus node, so the stored triples that can change those results are few: this
module finds them with index lookups instead of reading every graph.

Below, N is the set of the addition's nodes (subjects and non-literal objects), "own
triples" of a node are those with it as subject (following blank nodes to their own
triples), and "one hop" are the non-literal objects of the own triples of N. The scope
holds: the addition; the own triples of N and of every one-hop node; the whole
rdfs:subClassOf hierarchy (sh:targetClass and sh:class follow it); plus, per constraint of
shapes/ldn-shapes.ttl:

Property shapes (sh:minCount, sh:maxCount, sh:datatype, sh:pattern, sh:in, sh:uniqueLang,
sh:minInclusive..., sh:lessThanOrEquals, sh:or of direct paths) look only at the focus
node's own triples; sh:class also at the types of its values (one hop).

EvidenceClaimShape SPARQL
  sourced without evidenceSource or level, unsourced with either, quotation not in articleText: own triples.
  source published after claimYear / before validAsOfYear / claim without a year: ?value ldn:publicationYear, one hop.
  retired level or code: the value's owl:deprecated and skos:definition, one hop.
  level agrees with the source's type: the source's ldn:hasReading (one hop), the reading's
  ldn:assignsType (two hops: own triples of every ldn:hasReading object), that type's
  ldn:allowsEvidenceLevel and label (three hops) and those levels' labels.
  condition within the source's scope, source with a reading: the source's ldn:hasReading (one hop),
  the reading's ldn:coversCondition (two hops: own triples of every ldn:hasReading object) and those
  conditions' labels.
StudyShape SPARQL
  design agrees with the reporting source's type: ldn:reportedIn, its reading's ldn:assignsType,
  the type's ldn:allowsStudyDesign (as for claims).
SourceShape (ldn:hasReading/ldn:assignsType path) and SPARQL
  one reading with one type, typed as its reading says: the reading's ldn:assignsType, one hop.
  same DOI: every stored ?value ldn:doi whose lower-cased text equals one of N's DOIs
  (a filtered scan of ldn:doi, since the comparison ignores case).
  same reference number: every stored ?value ldn:referenceNumber with the same term.
DoseRegimenShape SPARQL
  levels out of order (lowerThan): the lower regimen's ldn:doseLevel (one hop) and that
  level's ldn:rank and rdfs:label (two hops: the own triples of every ldn:doseLevel object).
  amount not below a higher level of the same drug: every stored regimen ?value with
  ldn:regimenOf the same drug (incoming links), with its ldn:regimenOf, ldn:doseLevel and
  ldn:amountInMilligrams, and its level's own triples (ldn:rank).
  lower than another drug's regimen: ?value ldn:regimenOf, one hop.
  fraction of a higher regimen: ?ref ldn:doseLevel/ldn:rank, one hop plus the level's triples.
  amount vs typical dose: the quantity's numericValue and unit (one hop, often a blank node)
  and the unit's rdfs:label (two hops: own triples of every qudt:hasUnit object).
  interpreted range: ?r min/max, one hop.  ultra-low in milligrams: own triples.
TreatsShape SPARQL (FILTER NOT EXISTS a supporting claim)
  for each (f ldn:treats ?value): one stored claim with ldn:aboutIntervention f,
  ldn:aboutCondition ?value and ldn:stance ldn:Supports, if there is one (a witness).
StudiedShape SPARQL
  for each (f studiedToTreat|inClinicalTrialsFor|offLabelUseFor ?value): one stored claim
  with ldn:aboutIntervention f and ldn:aboutCondition or ldn:beyondSourceScope ?value (a witness).
TextOriginShape and QuotedWordsShape (SPARQL targets over every subject's literals)
  every predicate's ldn:textOrigin (copied into the data part) and every stored ldn:articleBody
  (the shapes compare with the curated article's only).
ArticleBodyShape (ldn:articleBody on the curated article only, once): own triples.
RegulatoryStatusShape SPARQL (no claim states it)
  for each f in N: one stored (?claim ldn:aboutRegulatoryStatus f) triple, if any.

A claim that the addition mentions is in N, so its own triples are in scope whichever
graph holds them; the witnesses need only look for claims wholly in the store.

Stored triples come from every live graph except the shapes and the meta graph, as in a
full validation; those from the ontology graph are kept apart, because pySHACL mixes the
ontology into the data ("inoculation": RDFS/OWL axioms, and named individuals with all their
triples) while labels for the report come from the data alone. The reached nodes' ontology
triples are all in scope, so inoculating that part gives them what the whole ontology would.

The same scope, with the whole ontology, is what HermiT reasons over (curation/checks.py).
For SHACL the scope is exact (tests/test_checks.py compares it with full validation); for
OWL it is a bound: an inconsistency that needs stored facts further than these hops away
(a chain of transitive or inverse properties, say) is not seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyoxigraph as ox
from rdflib import RDFS, XSD, BNode, Graph, Literal, URIRef
from rdflib.term import Node

from kgserver import changes
from kgserver.config import Settings
from kgserver.store import GraphStore

_QUDT_HAS_UNIT = "http://qudt.org/schema/qudt/hasUnit"
_RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
_XSD_STRING = str(XSD.string)
_RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"

Triple = tuple[Node, Node, Node]


@dataclass(frozen=True)
class Scope:
    """The addition with the stored triples that can change its results.

    `data` holds the addition and the triples from the data graphs (data, inferred,
    examples, curators' graphs); `ontology` the triples from the ontology graph; `addition`
    is the addition as parsed, whose prefixes the report uses as a full validation's merge does
    (binding them into `data` would cost seconds for an addition declaring thousands).
    """

    data: Graph
    ontology: Graph
    addition: Graph


def context_graphs(state: changes.DatasetState, settings: Settings) -> tuple[str, ...]:
    """The live graphs a full validation reads: all but the shapes, the meta graph and the submissions' records.

    A record (who submitted, when, the report) is the server's, not curated data: an addition
    that links to a submission must not be judged on the record's triples.
    """
    skipped = {settings.shapes_graph, settings.meta_graph}
    return tuple(iri for iri in state.live_graphs if iri not in skipped and not iri.startswith(settings.record_graphs))


def neighbourhood(store: GraphStore, settings: Settings, addition: Graph, graphs: Iterable[str]) -> Scope:
    """The scope of `addition`: itself plus what shapes and reasoner read around its nodes."""
    finder = _Finder(store, settings, tuple(graphs))
    return finder.scope(addition)


def addition_nodes(addition: Graph) -> set[Node]:
    """The nodes whose results are the submitter's: subjects and non-literal objects."""
    return set(addition.subjects()) | {obj for obj in addition.objects() if not isinstance(obj, Literal)}


class _Finder:
    """Index lookups on the store, limited to the context graphs, collected into a Scope."""

    def __init__(self, store: GraphStore, settings: Settings, graphs: tuple[str, ...]) -> None:
        self.store = store
        self.graphs = graphs
        self.allowed = {ox.NamedNode(iri) for iri in graphs}
        self.ontology_graph = ox.NamedNode(settings.ontology_graph)
        ldn = settings.prefixes["ldn"]
        self.ldn = ldn
        self.data = Graph()
        self.ontology = Graph()
        self.expanded: set[Node] = set()

    def scope(self, addition: Graph) -> Scope:
        """Collect, in the order of the module docstring, everything the checks need."""
        self.data = Graph()
        self.data += addition  # triples only: the report takes the addition's prefixes from Scope.addition
        focus = addition_nodes(addition)
        for node in focus:
            self.own_triples(node)
        hop = {obj for node in focus for obj in self.objects_of(node) if not isinstance(obj, Literal)}
        for node in hop:
            self.own_triples(node)
        for node in focus | hop:
            for predicate in (f"{self.ldn}doseLevel", _QUDT_HAS_UNIT, _RDF_TYPE, f"{self.ldn}hasReading"):
                for obj in self.objects_of(node, URIRef(predicate)):
                    self.own_triples(obj)
        self.readings_and_allowances(focus | hop)
        self.same_dois(focus)
        self.same_reference_numbers(focus)
        self.regimens_of_same_drug(focus)
        self.supporting_claims(focus)
        self.regulatory_claims(focus)
        self.class_hierarchy()
        self.articles()
        self.text_origins()
        return Scope(self.data, self.ontology, addition)

    # -- collecting ----------------------------------------------------------------------

    def add(self, quads: Iterable[ox.Quad]) -> list[ox.Quad]:
        """Keep the quads of the context graphs, routed to data or ontology; return them."""
        kept = []
        for quad in quads:
            if quad.graph_name not in self.allowed:
                continue
            target = self.ontology if quad.graph_name == self.ontology_graph else self.data
            target.add((_term(quad.subject), _term(quad.predicate), _term(quad.object)))
            kept.append(quad)
        return kept

    def own_triples(self, node: Node) -> None:
        """A node's stored triples as subject, following blank-node objects to theirs."""
        todo = [node]
        while todo:
            current = todo.pop()
            if current in self.expanded or isinstance(current, Literal):
                continue
            self.expanded.add(current)
            subject = ox_term(current)
            if subject is None:
                continue
            for quad in self.add(self.store.quads_for_pattern(subject, None, None, None)):
                if isinstance(quad.object, ox.BlankNode):
                    todo.append(_term(quad.object))

    def objects_of(self, node: Node, predicate: URIRef | None = None) -> Iterator[Node]:
        """Objects of a node in the scope so far (data and ontology parts)."""
        yield from self.data.objects(node, predicate)
        yield from self.ontology.objects(node, predicate)

    def triples_with(self, node: Node, predicate: URIRef) -> Iterator[Node]:
        """Objects of (node, predicate) in the scope, de-duplicated."""
        yield from set(self.objects_of(node, predicate))

    # -- what particular constraints need ------------------------------------------------

    def readings_and_allowances(self, nodes: set[Node]) -> None:
        """What the level, design and scope rules read two and three hops away, with the labels their messages name.

        A source's reading gives the conditions it covers and the one type (ldn:assignsType) that
        levels and designs are checked against. A type's ldn:allowsEvidenceLevel /
        ldn:allowsStudyDesign are annotations of an ontology class, which pySHACL does not mix into
        the data: they are copied into the data part, as a full validation (which merges the
        ontology) sees them.
        """
        allowances = [URIRef(f"{self.ldn}allowsEvidenceLevel"), URIRef(f"{self.ldn}allowsStudyDesign")]
        for node in nodes:
            for reading in set(self.objects_of(node, URIRef(f"{self.ldn}hasReading"))):
                for condition in set(self.objects_of(reading, URIRef(f"{self.ldn}coversCondition"))):
                    self.own_triples(condition)
                for kind in set(self.objects_of(reading, URIRef(f"{self.ldn}assignsType"))):
                    self.own_triples(kind)
                    for predicate in allowances:
                        for allowed in set(self.objects_of(kind, predicate)):
                            self.data.add((kind, predicate, allowed))
                            self.own_triples(allowed)

    def same_dois(self, focus: set[Node]) -> None:
        """Every stored ldn:doi whose text equals one of the focus nodes' DOIs, ignoring case."""
        doi = URIRef(f"{self.ldn}doi")
        wanted = {str(value).lower() for node in focus for value in self.triples_with(node, doi)}
        if not wanted:
            return
        values = " ".join(str(ox.Literal(text)) for text in sorted(wanted))
        query = (
            f"SELECT ?g ?s ?o WHERE {{ VALUES ?key {{ {values} }} "
            f"GRAPH ?g {{ ?s <{doi}> ?o }} FILTER (LCASE(STR(?o)) = ?key) }}"
        )
        solutions = self.store.query(query, named_graphs=list(self.allowed))
        self.add(ox.Quad(row["s"], ox.NamedNode(str(doi)), row["o"], row["g"]) for row in solutions)

    def same_reference_numbers(self, focus: set[Node]) -> None:
        """Every stored ldn:referenceNumber triple with a focus node's number."""
        predicate = URIRef(f"{self.ldn}referenceNumber")
        for number in {value for node in focus for value in self.triples_with(node, predicate)}:
            self.add(self.store.quads_for_pattern(None, ox_term(predicate), ox_term(number), None))

    def regimens_of_same_drug(self, focus: set[Node]) -> None:
        """For each drug a focus regimen is of, the other regimens' drug, level, rank and amount."""
        regimen_of = URIRef(f"{self.ldn}regimenOf")
        wanted = [ox_term(URIRef(f"{self.ldn}{name}")) for name in ("regimenOf", "doseLevel", "amountInMilligrams")]
        for drug in {value for node in focus for value in self.triples_with(node, regimen_of)}:
            drug_term = ox_term(drug)
            if drug_term is None:
                continue
            for quad in self.store.quads_for_pattern(None, ox_term(regimen_of), drug_term, None):
                for predicate in wanted:
                    for kept in self.add(self.store.quads_for_pattern(quad.subject, predicate, None, None)):
                        if predicate == wanted[1]:
                            self.own_triples(_term(kept.object))

    def supporting_claims(self, focus: set[Node]) -> None:
        """A witness claim behind each ldn:treats and each studied-or-used shortcut of a focus node."""
        treats = URIRef(f"{self.ldn}treats")
        studied = [URIRef(f"{self.ldn}{name}") for name in ("studiedToTreat", "inClinicalTrialsFor", "offLabelUseFor")]
        for node in focus:
            if ox_term(node) is None:
                continue
            for condition in self.triples_with(node, treats):
                self.witness(node, condition, supporting=True)
            for condition in {value for predicate in studied for value in self.triples_with(node, predicate)}:
                self.witness(node, condition, supporting=False)

    def witness(self, drug: Node, condition: Node, supporting: bool) -> None:
        """The triples of one stored claim about `drug` and `condition` (with stance Supports), if any.

        A supporting claim names the condition by ldn:aboutCondition; a claim behind a studied-or-used
        shortcut may also name it beyond its source's scope (ldn:beyondSourceScope). Either side may
        be a hub (a drug most claims are about), so the two lists of claims are read in turns and
        the search ends when the shorter one is used up.
        """
        intervention = ox.NamedNode(f"{self.ldn}aboutIntervention")
        drug_term, condition_term = ox_term(drug), ox_term(condition)
        if drug_term is None or condition_term is None:
            return
        names = ("aboutCondition",) if supporting else ("aboutCondition", "beyondSourceScope")
        for about in (ox.NamedNode(f"{self.ldn}{name}") for name in names):
            sides = [(intervention, drug_term), (about, condition_term)]
            streams = [self.store.quads_for_pattern(None, predicate, value, None) for predicate, value in sides]
            for claim in _common_subjects(streams, sides, self.store, self.allowed):
                if not supporting or self.has(claim, ox.NamedNode(f"{self.ldn}stance"), ox.NamedNode(f"{self.ldn}Supports")):
                    for predicate in (intervention, about, ox.NamedNode(f"{self.ldn}stance")):
                        self.add(self.store.quads_for_pattern(claim, predicate, None, None))
                    return

    def has(self, subject: ox.NamedNode | ox.BlankNode, predicate: ox.NamedNode, obj: ox.NamedNode) -> bool:
        """Does a context graph hold this triple?"""
        return any(quad.graph_name in self.allowed for quad in self.store.quads_for_pattern(subject, predicate, obj, None))

    def regulatory_claims(self, focus: set[Node]) -> None:
        """One stored claim stating each focus node as its regulatory status, if any."""
        predicate = ox.NamedNode(f"{self.ldn}aboutRegulatoryStatus")
        for node in focus:
            term = ox_term(node)
            if term is None:
                continue
            for quad in self.store.quads_for_pattern(None, predicate, term, None):
                if self.add([quad]):
                    break

    def articles(self) -> None:
        """Every stored article body: the article's and the sources' words are looked for in it."""
        self.add(self.store.quads_for_pattern(None, ox.NamedNode(f"{self.ldn}articleBody"), None, None))

    def text_origins(self) -> None:
        """Whose words each predicate in scope holds, copied into the data part.

        ldn:textOrigin annotates an ontology property, and pySHACL does not mix annotations
        of properties into the data; a full validation, which merges the ontology, sees them.
        """
        origin = ox.NamedNode(f"{self.ldn}textOrigin")
        predicates = {p for graph in (self.data, self.ontology) for p in graph.predicates() if isinstance(p, URIRef)}
        for predicate in predicates:
            for quad in self.add(self.store.quads_for_pattern(ox.NamedNode(str(predicate)), origin, None, None)):
                self.data.add((_term(quad.subject), _term(quad.predicate), _term(quad.object)))
                self.own_triples(_term(quad.object))  # the origin's label, which the message names

    def class_hierarchy(self) -> None:
        """Every rdfs:subClassOf triple, so targets and sh:class see subclasses as a full run does."""
        self.add(self.store.quads_for_pattern(None, ox.NamedNode(str(RDFS.subClassOf)), None, None))


def _common_subjects(
    streams: list[Iterator[ox.Quad]],
    sides: list[tuple[ox.NamedNode, ox.Term]],
    store: GraphStore,
    allowed: set[ox.NamedNode],
) -> Iterator[ox.NamedNode | ox.BlankNode]:
    """Subjects found in both quad streams, reading them in turns; cost bounded by the shorter one.

    When one stream ends, its remaining subjects are looked up directly on the other side.
    """
    seen: list[set[ox.NamedNode | ox.BlankNode]] = [set(), set()]
    yielded: set[ox.NamedNode | ox.BlankNode] = set()
    while True:
        for side in (0, 1):
            quad = next(streams[side], None)
            if quad is None:
                other = 1 - side
                predicate, value = sides[other]
                for subject in seen[side] - yielded:
                    if any(q.graph_name in allowed for q in store.quads_for_pattern(subject, predicate, value, None)):
                        yield subject
                return
            if quad.graph_name not in allowed:
                continue
            seen[side].add(quad.subject)
            if quad.subject in seen[1 - side] and quad.subject not in yielded:
                yielded.add(quad.subject)
                yield quad.subject


def ox_term(term: Node) -> ox.NamedNode | ox.Literal | None:
    """An rdflib term as pyoxigraph's, or None for a blank node (the store cannot hold the addition's)."""
    if isinstance(term, URIRef):
        return ox.NamedNode(str(term))
    if isinstance(term, Literal):
        if term.language:
            return ox.Literal(str(term), language=term.language)
        if term.datatype is not None:
            return ox.Literal(str(term), datatype=ox.NamedNode(str(term.datatype)))
        return ox.Literal(str(term))
    return None


def _term(term: ox.NamedNode | ox.BlankNode | ox.Literal) -> Node:
    """A pyoxigraph term as rdflib would parse it from N-Triples (plain strings without a datatype)."""
    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    if term.language:
        return Literal(term.value, lang=term.language)
    datatype = term.datatype.value
    if datatype in (_XSD_STRING, _RDF_LANG_STRING):
        return Literal(term.value)
    return Literal(term.value, datatype=URIRef(datatype))
