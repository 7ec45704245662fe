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
