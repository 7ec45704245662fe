"""The policy reads a query's text before the engine does: updates and SERVICE are refused however they are spelled.

pyoxigraph follows SERVICE with real requests, so the tokenizer that finds the keyword is what
the endpoint's safety rests on. These are unit tests of that reading (kgserver/sparql/policy.py,
kgserver/sparql_lexer.py): no server, no engine. tests/test_security.py and the hostile corpus
send the same kinds of text over HTTP.
"""

from __future__ import annotations

import pytest

from kgserver.errors import InputError, UpdateRefusedError
from kgserver.sparql import policy
from kgserver.sparql_lexer import form_of, shape, tokens

PUBLIC = {"https://query.wikidata.org/sparql": ["208.80.154.224"], "http://inside.example/sparql": ["10.0.0.7"]}


def resolve(host: str) -> list[str]:
    """Name resolution without the network: the test's own table."""
    return next((addresses for iri, addresses in PUBLIC.items() if host in iri), [])


def check(text: str, allow: tuple[str, ...] = ()) -> policy.QueryAnalysis:
    return policy.check(text, allow, resolver=resolve)


@pytest.mark.parametrize("text", [
    "SELECT * WHERE { SERVICE <http://x.example/sparql> { ?s ?p ?o } }",
    "select * where { service silent <http://x.example/sparql> { ?s ?p ?o } }",
    "PREFIX ex: <http://x.example/> SELECT * { SERVICE ex:sparql { ?s ?p ?o } }",
    "SELECT * { SERVICE ?endpoint { ?s ?p ?o } VALUES ?endpoint { <http://x.example/> } }",
    "SELECT * {\tSeRvIcE\n<http://x.example/>{?s ?p ?o}}",
    "SELECT * WHERE { ?s ?p ?o FILTER(?s<?o)SERVICE?x#> }",  # a '<' the parser reads as less-than
])
def test_a_service_call_is_refused_however_it_is_written(text):
    with pytest.raises(InputError, match="SERVICE"):
        check(text)


@pytest.mark.parametrize("text", [
    'SELECT * WHERE { ?s ?p "SERVICE <http://x.example/>" }',
    "SELECT * WHERE { ?s ?p <http://x.example/SERVICE> }",
    "SELECT ?service WHERE { ?service ?p ?o }",
    "PREFIX ex: <http://x.example/> SELECT * WHERE { ?s ex:service ?o }",
    "SELECT * WHERE { ?s ?p ?o } # SERVICE <http://x.example/>",
    "SELECT * WHERE { ?s ?p '''a\nSERVICE <http://x.example/>\nb''' }",
])
def test_the_word_service_inside_data_is_not_the_keyword(text):
    assert check(text).services == ()


def test_an_allow_listed_public_endpoint_may_be_called():
    text = "SELECT * { SERVICE <https://query.wikidata.org/sparql> { ?s ?p ?o } }"
    assert check(text, ("https://query.wikidata.org/sparql",)).services == ("https://query.wikidata.org/sparql",)


def test_an_allow_listed_endpoint_on_the_local_network_is_still_refused():
    with pytest.raises(InputError, match="does not resolve only to public addresses"):
        check("SELECT * { SERVICE <http://inside.example/sparql> { ?s ?p ?o } }", ("http://inside.example/sparql",))


@pytest.mark.parametrize("text", [
    "INSERT DATA { <urn:a> <urn:b> <urn:c> }",
    "PREFIX ex: <http://x.example/> DELETE WHERE { ?s ex:p ?o }",
    "LOAD <http://x.example/data.ttl>",
    "CLEAR ALL",
])
def test_an_update_is_refused_with_the_one_message(text):
    with pytest.raises(UpdateRefusedError) as refused:
        check(text)
    assert refused.value.message == "SPARQL Update is not accepted: this endpoint answers queries only"


def test_nesting_deeper_than_the_engine_can_parse_is_refused():
    with pytest.raises(InputError, match="nests 65 levels deep"):
        check("SELECT * WHERE " + "{" * 65 + " ?s ?p ?o " + "}" * 65)


@pytest.mark.parametrize("text, form", [
    ("ASK { ?s ?p ?o }", "ASK"),
    ("PREFIX select: <http://x.example/> CONSTRUCT WHERE { ?s select:p ?o }", "CONSTRUCT"),
    ("# SELECT\nDESCRIBE <http://x.example/a>", "DESCRIBE"),
    ('SELECT ?s WHERE { ?s ?p "ASK" }', "SELECT"),
])
def test_the_query_form_is_read_once_from_the_text(text, form):
    assert form_of(tokens(text)) == (form, False)
    assert check(text).form == form


def test_a_shape_is_the_same_for_the_same_query_with_other_constants():
    one = shape(list(tokens('SELECT ?c { ?c <http://x/p> "a" ; <http://x/q> 5 } LIMIT 10')))
    other = shape(list(tokens("select ?c {?c <http://y/p> 'b' ; <http://y/q> 7} limit 99 # again")))
    assert one == other
    assert one != shape(list(tokens('SELECT ?c { ?c <http://x/p> ?d } LIMIT 10')))


# --- engine extensions: what Virtuoso would run that kgserver does not offer -----------------------


@pytest.mark.parametrize("text, named", [
    ('DEFINE get:soft "replace" SELECT * FROM <http://x.example/data> { ?s ?p ?o }', "DEFINE get:soft"),
    ("define input:grab-all 'yes' SELECT * WHERE { <http://x.example/a> ?p ?o }", "DEFINE input:grab-all"),
    ("DEFINE input:grab-seealso <http://www.w3.org/2000/01/rdf-schema#seeAlso> SELECT * { ?s ?p ?o }",
     "DEFINE input:grab-seealso"),
    ("PREFIX ex: <http://x.example/>\n  DeFiNe sql:log-enable 3 SELECT * { ?s ex:p ?o }", "DEFINE sql:log-enable"),
    ("SELECT * WHERE { ?s ?p ?o } DEFINE input:inference 'x'", "DEFINE input:inference"),  # anywhere, not only first
])
def test_a_define_pragma_is_refused_naming_it(text, named):
    with pytest.raises(InputError) as refused:
        check(text)
    assert refused.value.message.startswith(f"{named} is refused: DEFINE pragmas are engine extensions")
    assert "this endpoint offers none" in refused.value.message


@pytest.mark.parametrize("text, named", [
    ("SELECT (bif:http_get('http://x.example/') AS ?x) {}", "bif:http_get"),
    ("SELECT (BIF:file_to_string('/etc/passwd') AS ?x) {}", "BIF:file_to_string"),
    ("SELECT * { ?s ?p ?o FILTER(sql:RDF_SPONGE_UP(?s, 'soft')) }", "sql:RDF_SPONGE_UP"),
    ("PREFIX bif: <http://x.example/> SELECT * { ?s bif:p ?o }", "bif:p"),  # the prefix is Virtuoso's, declared or not
    ("SELECT (<bif:http_get>('http://x.example/') AS ?x) {}", "<bif:http_get>"),
    ("SELECT (<SQL:exec>('drop table x') AS ?x) {}", "<SQL:exec>"),
    ("SELECT (<http://www.openlinksw.com/schemas/bif#sys_stat>('st_dbms_ver') AS ?x) {}",
     "<http://www.openlinksw.com/schemas/bif#sys_stat>"),
    ("SELECT (<HTTP://WWW.OPENLINKSW.COM/SCHEMAS/SQL#exec>('x') AS ?x) {}", "<HTTP://WWW.OPENLINKSW.COM/SCHEMAS/SQL#exec>"),
    ("PREFIX b: <bif:> SELECT (b:http_get('http://x.example/') AS ?x) {}", "b:http_get"),
    ("PREFIX v: <http://www.openlinksw.com/schemas/> SELECT (v:sql\\#exec('x') AS ?x) {}", "v:sql\\#exec"),
    ("BASE <http://www.openlinksw.com/schemas/> SELECT (<bif#sys_stat>('x') AS ?x) {}", "<bif#sys_stat>"),
    ("BASE <bif:> SELECT (<http_get>('http://x.example/') AS ?x) {}", "<bif:>"),
    ("SELECT (fn:doc('/etc/passwd') AS ?x) {}", "fn:doc"),  # Virtuoso's predeclared fn:; its doc() stops the engine
    ("SELECT (<http://www.w3.org/2005/xpath-functions#doc>('x') AS ?x) {}", "<http://www.w3.org/2005/xpath-functions#doc>"),
    ("PREFIX FN: <http://x.example/> SELECT (fn:doc('x') AS ?x) {}", "fn:doc"),  # prefixes are case-sensitive
])
def test_an_engine_function_is_refused_however_it_is_named(text, named):
    with pytest.raises(InputError) as refused:
        check(text)
    assert refused.value.message.startswith(f"{named} is refused: bif:, sql: and fn: functions run inside the engine")


@pytest.mark.parametrize("text", [
    'SELECT * WHERE { ?s ?p "bif:http_get(\'http://x.example/\')" }',
    "SELECT * WHERE { ?s ?p '''DEFINE get:soft \"replace\"\nsql:exec''' }",
    "SELECT * WHERE { ?s ?p ?o } # DEFINE get:soft 'replace' and bif:http_get",
    "SELECT ?define ?bif WHERE { ?define <http://x.example/bif:p> ?bif }",
    "PREFIX ex: <http://x.example/> SELECT * WHERE { ?s ex:define ex:bif }",
    'SELECT * WHERE { ?s ?p "chat"@en-define }',
    "PREFIX fn: <http://x.example/functions#> SELECT (fn:doc(?s) AS ?d) { ?s ?p ?o }",  # fn: declared as another namespace
    "PREFIX bif: <http://www.openlinksw.com/schemas/bif#> SELECT * { ?s ?p ?o }",  # declared, never used
])
def test_extension_names_inside_data_or_comments_are_not_refused(text):
    assert check(text).extensions == ()


@pytest.mark.parametrize("text", [
    "SELECT * { GRAPH <urn:x-kgserver:curators> { ?s ?p ?o } }",
    "SELECT * FROM <urn:x-kgserver:curators> { ?s ?p ?o }",
    "PREFIX k: <urn:x-kgserver:> SELECT * { GRAPH k:curators { ?s ?p ?o } }",
    "BASE <urn:x-kgserver:staging:> SELECT * FROM NAMED <run> { GRAPH ?g { ?s ?p ?o } }",
    "SELECT * { GRAPH ?g { ?s ?p ?o } FILTER(?g = <urn:x-kgserver:curators>) }",
])
def test_kgservers_own_graphs_in_an_engine_cannot_be_named(text):
    with pytest.raises(InputError, match=r"IRIs under urn:x-kgserver: name kgserver's own graphs"):
        check(text)


def test_kgservers_own_graphs_cannot_be_named_as_the_requests_dataset_either():
    text = "SELECT * { ?s ?p ?o }"
    assert check(text).form == "SELECT"
    with pytest.raises(InputError, match=r"<urn:x-kgserver:curators> is refused"):
        policy.check(text, (), resolver=resolve, dataset=["https://w3id.org/ldn-kg/graph/data", "urn:x-kgserver:curators"])


@pytest.mark.parametrize("text", [
    'SELECT * { ?s ?p "urn:x-kgserver:curators" }',
    "SELECT * { ?s ?p ?o } # GRAPH <urn:x-kgserver:curators>",
    "PREFIX k: <urn:x-kgserver:> SELECT * { ?s ?p ?o }",
])
def test_the_private_prefix_inside_data_comments_or_an_unused_declaration_is_not_refused(text):
    assert check(text).form == "SELECT"
