"""Write the hostile corpus: one file per hostile input, in a folder named for its target.

Run it to regenerate the files (`.venv/bin/python tests/hostile/make_corpus.py`); the files are
committed, so a reviewer reads each input as it is sent. `{{LISTENER}}` in a file stands for
`127.0.0.1:PORT` of the loopback listener the test starts, `{{LISTENER_PORT}}` for its port.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
L = "{{LISTENER}}"
LP = "{{LISTENER_PORT}}"
ID = "https://w3id.org/ldn-kg/id/"
LDN = "https://w3id.org/ldn-kg/ontology#"
RDFNS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XML_OPEN = f'<rdf:RDF xmlns:rdf="{RDFNS}" xmlns:rdfs="{RDFS}">'

SPO = "?s ?p ?o"
CROSS4 = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"


def sparql() -> dict[str, str | bytes]:
    """Queries the endpoint must refuse (updates, SERVICE), survive (bombs) or reject (garbage)."""
    targets = {
        "loopback": f"http://{L}/sparql",
        "localhost": f"http://localhost:{LP}/",
        "ipv6-loopback": f"http://[::1]:{LP}/",
        "ipv4-mapped-ipv6": f"http://[::ffff:127.0.0.1]:{LP}/",
        "decimal-ip": f"http://2130706433:{LP}/",
        "hex-ip": f"http://0x7f000001:{LP}/",
        "octal-ip": f"http://0177.0.0.1:{LP}/",
        "short-ip": f"http://127.1:{LP}/",
        "zero-ip": f"http://0.0.0.0:{LP}/",
        "private-10": "http://10.0.0.1/sparql",
        "private-192": "http://192.168.0.1/sparql",
        "link-local-metadata": "http://169.254.169.254/latest/meta-data/",
        "file": "file:///etc/passwd",
        "gopher": f"gopher://{L}/_x",
        "userinfo": f"http://example.org@{L}/",
        "public-name": "https://query.wikidata.org/sparql",
    }
    files: dict[str, str | bytes] = {}
    for name, iri in targets.items():
        files[f"service-{name}.rq"] = f"SELECT * WHERE {{ SERVICE <{iri}> {{ {SPO} }} }}"
    files |= {
        "service-lowercase.rq": f"select * where {{ service <http://{L}/> {{ {SPO} }} }}",
        "service-mixed-case.rq": f"SELECT * WHERE {{ SeRvIcE <http://{L}/> {{ {SPO} }} }}",
        "service-silent.rq": f"SELECT * WHERE {{ SERVICE SILENT <http://{L}/> {{ {SPO} }} }}",
        "service-variable.rq": f"SELECT * WHERE {{ BIND(<http://{L}/> AS ?e) SERVICE ?e {{ {SPO} }} }}",
        "service-comment-between.rq": f"SELECT * WHERE {{ SERVICE# a comment\n<http://{L}/> {{ {SPO} }} }}",
        "service-no-space.rq": f"SELECT * WHERE {{SERVICE<http://{L}/>{{{SPO}}}}}",
        "service-tab-newline.rq": f"SELECT * WHERE {{\tSERVICE\n\n<http://{L}/>\t{{ {SPO} }} }}",
        "service-prefixed-name.rq": f"PREFIX evil: <http://{L}/>\nSELECT * WHERE {{ SERVICE evil:sparql {{ {SPO} }} }}",
        "service-relative-iri.rq": f"SELECT * WHERE {{ SERVICE <sparql> {{ {SPO} }} }}",
        "service-base-relative.rq": f"BASE <http://{L}/>\nSELECT * WHERE {{ SERVICE <x> {{ {SPO} }} }}",
        "service-scheme-relative.rq": f"SELECT * WHERE {{ SERVICE <//{L}/> {{ {SPO} }} }}",
        "service-in-optional.rq": f"SELECT * WHERE {{ ?s a ?t OPTIONAL {{ SERVICE <http://{L}/> {{ {SPO} }} }} }} LIMIT 1",
        "service-in-union.rq": f"SELECT * WHERE {{ {{ ?s a ?t }} UNION {{ SERVICE <http://{L}/> {{ {SPO} }} }} }}",
        "service-in-minus.rq": f"SELECT * WHERE {{ ?s a ?t MINUS {{ SERVICE <http://{L}/> {{ ?s ?p ?o }} }} }}",
        "service-in-exists.rq": f"SELECT * WHERE {{ ?s a ?t FILTER EXISTS {{ SERVICE <http://{L}/> {{ ?s ?p ?o }} }} }}",
        "service-in-subquery.rq": f"SELECT * WHERE {{ {{ SELECT * WHERE {{ SERVICE <http://{L}/> {{ {SPO} }} }} }} }}",
        "service-in-construct.rq": f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ SERVICE <http://{L}/> {{ {SPO} }} }}",
        "service-in-ask.rq": f"ASK {{ SERVICE <http://{L}/> {{ {SPO} }} }}",
        "service-in-describe.rq": f"DESCRIBE ?s WHERE {{ SERVICE <http://{L}/> {{ {SPO} }} }}",
        "service-nested.rq": f"SELECT * WHERE {{ SERVICE <http://{L}/a> {{ SERVICE <http://{L}/b> {{ {SPO} }} }} }}",
        "service-unicode-escape-keyword.rq": f"SELECT * WHERE {{ \\u0053ERVICE <http://{L}/> {{ {SPO} }} }}",
        "service-unicode-escape-iri.rq": f"SELECT * WHERE {{ SERVICE <http\\u003A//{L}/> {{ {SPO} }} }}",
        "service-fullwidth-letters.rq": f"SELECT * WHERE {{ ＳＥＲＶＩＣＥ <http://{L}/> {{ {SPO} }} }}",
        "service-after-string.rq": f'SELECT * WHERE {{ BIND("}}" AS ?x) SERVICE <http://{L}/> {{ {SPO} }} }}',
        "service-after-long-string.rq": f'SELECT * WHERE {{ BIND("""a " }} """ AS ?x) SERVICE <http://{L}/> {{ {SPO} }} }}',
        "service-after-iri-with-hash.rq": f"SELECT * WHERE {{ BIND(<http://x/#> AS ?x) SERVICE <http://{L}/> {{ {SPO} }} }}",
        "service-bom.rq": "\ufeff" + f"SELECT * WHERE {{ SERVICE <http://{L}/> {{ {SPO} }} }}",
        "from-listener.rq": f"SELECT * FROM <http://{L}/g> WHERE {{ {SPO} }} LIMIT 1",
        "from-named-listener.rq": f"SELECT * FROM NAMED <http://{L}/g> WHERE {{ GRAPH ?g {{ {SPO} }} }} LIMIT 1",
        "from-file.rq": f"SELECT * FROM <file:///etc/passwd> WHERE {{ {SPO} }} LIMIT 1",
        "iri-function-file.rq": 'SELECT ?x WHERE { BIND(IRI("file:///etc/passwd") AS ?x) }',
        "string-holding-service.rq": f'SELECT ?x WHERE {{ BIND("SERVICE <http://{L}/>" AS ?x) }}',
    }
    updates = {
        "load-listener.ru": f"LOAD <http://{L}/data.ttl>",
        "load-silent-into.ru": f"LOAD SILENT <http://{L}/data.ttl> INTO GRAPH <{ID}x>",
        "load-file.ru": "LOAD <file:///etc/passwd>",
        "load-lowercase.ru": f"load <http://{L}/x>",
        "load-comment.ru": f"# harmless\nLOAD#c\n<http://{L}/x>",
        "load-after-prefix.ru": f"PREFIX x: <http://{L}/>\nLOAD x:data",
        "insert-data.ru": f"INSERT DATA {{ <{ID}x> <{RDFS}label> \"pwned\" }}",
        "insert-data-graph.ru": f"INSERT DATA {{ GRAPH <{ID}g> {{ <{ID}x> <{RDFS}label> \"pwned\" }} }}",
        "insert-where.ru": f"INSERT {{ ?s <{RDFS}comment> \"pwned\" }} WHERE {{ ?s a ?t }}",
        "delete-where.ru": "DELETE WHERE { ?s ?p ?o }",
        "delete-data.ru": f"DELETE DATA {{ <{ID}naltrexone> a <{LDN}Drug> }}",
        "with-delete-insert.ru": f"WITH <{ID}g> DELETE {{ ?s ?p ?o }} INSERT {{ ?s ?p 1 }} WHERE {{ ?s ?p ?o }}",
        "clear-all.ru": "CLEAR ALL",
        "clear-silent-default.ru": "CLEAR SILENT DEFAULT",
        "drop-all.ru": "DROP ALL",
        "drop-graph.ru": "DROP GRAPH <https://w3id.org/ldn-kg/graph/data>",
        "create-graph.ru": f"CREATE GRAPH <{ID}new>",
        "copy.ru": "COPY <https://w3id.org/ldn-kg/graph/data> TO <https://w3id.org/ldn-kg/graph/meta>",
        "move.ru": "MOVE <https://w3id.org/ldn-kg/graph/data> TO DEFAULT",
        "add.ru": "ADD <https://w3id.org/ldn-kg/graph/data> TO <https://w3id.org/ldn-kg/graph/x>",
        "query-then-update.ru": "SELECT * WHERE { ?s ?p ?o } ; DROP ALL",
        "two-updates.ru": "CLEAR ALL ; DROP ALL",
        "update-mixed-case.ru": "dRoP aLl",
        "update-unicode-escape.ru": "\\u0044ROP ALL",
        "update-in-comment-then-real.ru": "# SELECT * WHERE { ?s ?p ?o }\nDROP ALL",
        "update-after-bom.ru": "\ufeffDROP ALL",
        "insert-from-service.ru": f"INSERT {{ ?s ?p ?o }} WHERE {{ SERVICE <http://{L}/> {{ {SPO} }} }}",
    }
    files |= updates
    files |= {
        "bomb-cross-product-4.rq": CROSS4,
        "bomb-cross-product-order.rq": "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i } ORDER BY ?c ?f ?i LIMIT 1",
        # shapes the deep-paging plan (kgserver/sparql/paging.py) reads or gives up on
        "paged-key-bound-nowhere.rq": "SELECT * WHERE { ?s ?p ?o } ORDER BY ?nowhere ?s LIMIT 5 OFFSET 3",
        "paged-huge-limit-offset.rq":
            "SELECT ?p ?s WHERE { ?s ?p ?o } ORDER BY ?p ?s LIMIT 99999999999999999999999 OFFSET 99999999999999999999",
        "paged-every-kind-of-term.rq": "SELECT ?p ?o ?s WHERE { ?s ?p ?o } ORDER BY DESC(?p) ?o ?s LIMIT 20 OFFSET 10",
        "paged-nan-key.rq": ("SELECT ?p ?s ?x WHERE { ?s ?p ?o BIND(<http://www.w3.org/2001/XMLSchema#double>(\"NaN\") AS ?x) } "
                             "ORDER BY ?p ?x ?s LIMIT 3"),
        "paged-key-in-comment.rq": "SELECT ?s ?p WHERE { ?s ?p ?o } ORDER BY ?p # ?o\n ?s LIMIT 2 # OFFSET 1",
        "paged-cross-product.rq": "SELECT ?c ?f WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i } ORDER BY ?c ?f LIMIT 5 OFFSET 100000",
        "bomb-path-star-any.rq": "SELECT (COUNT(*) AS ?n) WHERE { ?s (<urn:x:p>|!<urn:x:q>)* ?o }",
        "bomb-path-inverse-star.rq": "SELECT (COUNT(*) AS ?n) WHERE { ?s (!<urn:x:q>|^!<urn:x:q>)* ?o . ?o ?p ?x }",
        "bomb-path-nested-star.rq": "SELECT (COUNT(*) AS ?n) WHERE { ?s ((!<urn:x:q>)*/(!<urn:x:q>)*)* ?o }",
        "bomb-path-sequence.rq": "SELECT (COUNT(*) AS ?n) WHERE { ?s " + "/".join(["(!<urn:x:q>)*"] * 8) + " ?o }",
        "bomb-group-concat.rq": "SELECT (STRLEN(GROUP_CONCAT(STR(?o))) AS ?n) WHERE { ?s ?p ?o . ?a ?b ?c }",
        "bomb-distinct-cross.rq": "SELECT (COUNT(DISTINCT *) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }",
        "bomb-exists-nested.rq": "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c FILTER EXISTS { ?d ?e ?f FILTER EXISTS { ?g ?h ?i FILTER(?i != ?c) } } }",
        "bomb-regex-backtracking.rq": 'SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o . ?a ?b ?c FILTER REGEX(CONCAT(STR(?o), STR(?c)), "^(a+)+$") }',
        "bomb-describe-all.rq": "DESCRIBE * WHERE { ?s ?p ?o . ?a ?b ?c }",
        "bomb-construct-cross.rq": "CONSTRUCT { ?s ?p ?c } WHERE { ?s ?p ?o . ?a ?b ?c }",
        "huge-values.rq": "SELECT * WHERE { VALUES ?x { " + " ".join(f'"{i}"' for i in range(20_000)) + " } } LIMIT 1",
        "huge-values-iris.rq": "SELECT * WHERE { VALUES ?s { " + " ".join(f"<{ID}n{i}>" for i in range(8_000)) + " } ?s ?p ?o }",
        "huge-values-columns.rq": "SELECT * WHERE { VALUES (" + " ".join(f"?v{i}" for i in range(2000)) + ") { (" + " ".join("1" for _ in range(2000)) + ") } }",
        "huge-literal.rq": 'SELECT ?x WHERE { BIND("' + "A" * 250_000 + '" AS ?x) }',
        "huge-iri.rq": f"SELECT * WHERE {{ <{ID}{'x' * 150_000}> ?p ?o }}",
        "huge-union.rq": "SELECT * WHERE { " + " UNION ".join(f"{{ ?s ?p {i} }}" for i in range(8_000)) + " }",
        "huge-prefixes.rq": "".join(f"PREFIX p{i}: <http://e/{i}#>\n" for i in range(8_000)) + "ASK {}",
        "huge-variables.rq": "SELECT " + " ".join(f"?v{i}" for i in range(20_000)) + " WHERE { ?s ?p ?o } LIMIT 1",
        "huge-limit.rq": "SELECT * WHERE { ?s ?p ?o } LIMIT 999999999999999999999999999",
        "huge-offset.rq": "SELECT * WHERE { ?s ?p ?o } OFFSET 99999999999999999999",
        "negative-limit.rq": "SELECT * WHERE { ?s ?p ?o } LIMIT -1",
        "deep-groups.rq": "SELECT * WHERE " + "{ " * 20_000 + "?s ?p ?o" + " }" * 20_000,
        "deep-parentheses.rq": "SELECT * WHERE { ?s ?p ?o FILTER(" + "(" * 50_000 + "1" + ")" * 50_000 + ") }",
        "deep-not.rq": "ASK { FILTER(" + "!" * 100_000 + "true) }",
        "deep-subqueries.rq": "SELECT * WHERE { " * 3_000 + "?s ?p ?o" + " }" * 3_000,
        "deep-collection.rq": "ASK { ?s ?p " + "(" * 50_000 + ")" * 50_000 + " }",
        "deep-path.rq": "ASK { ?s " + "(" * 50_000 + "<urn:x:p>" + ")" * 50_000 + " ?o }",
        "deep-unary-minus.rq": "ASK { FILTER(" + "-" * 100_000 + "1 = 1) }",
        "many-optionals.rq": "SELECT * WHERE { ?s ?p ?o " + " ".join(f"OPTIONAL {{ ?s ?q{i} ?o{i} }}" for i in range(2_000)) + " } LIMIT 1",
        "arith-overflow.rq": "SELECT (9223372036854775807 + 1 AS ?x) (-9223372036854775808 - 1 AS ?y) (ABS(-9223372036854775808) AS ?z) WHERE {}",
        "arith-division.rq": "SELECT (1/0 AS ?a) (1.0/0 AS ?b) (1e0/0 AS ?c) (0/0 AS ?d) WHERE {}",
        "huge-decimal.rq": "SELECT (" + "9" * 100_000 + ".5 * 2 AS ?x) WHERE {}",
        "huge-exponent.rq": 'SELECT ("1e99999999"^^xsd:double AS ?x) ("1E-99999999"^^xsd:float AS ?y) WHERE {}',
        "cast-overflow.rq": 'SELECT (xsd:integer("99999999999999999999999999") AS ?a) (xsd:dateTime("99999999999-12-31T00:00:00Z") AS ?b) (xsd:date("-99999999999-01-01") AS ?c) WHERE {}',
        "substr-extremes.rq": 'SELECT (SUBSTR("abc", -9223372036854775808, 9223372036854775807) AS ?x) (SUBSTR("abc", 1e308) AS ?y) WHERE {}',
        "string-functions.rq": 'SELECT (STRDT("x", <urn:not-a-type>) AS ?a) (STRLANG("x", "\\u0000") AS ?b) (ENCODE_FOR_URI("\\uD800") AS ?c) (REPLACE("aaa", "", "b") AS ?d) WHERE {}',
        "regex-invalid.rq": 'SELECT * WHERE { ?s ?p ?o FILTER REGEX(STR(?o), "(((((", "x") } LIMIT 1',
        "regex-huge-repeat.rq": 'SELECT * WHERE { ?s ?p ?o FILTER REGEX(STR(?o), "a{999999}{999999}") } LIMIT 1',
        "langmatches-weird.rq": 'SELECT * WHERE { ?s ?p ?o FILTER LANGMATCHES(LANG(?o), "*-*-*-\\u0000") } LIMIT 1',
        "hash-functions.rq": 'SELECT (SHA512(STR(?o)) AS ?h) WHERE { ?s ?p ?o . ?a ?b ?c } LIMIT 5',
        "uuid-cross.rq": "SELECT (COUNT(STRUUID()) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f }",
        "bnode-function.rq": "CONSTRUCT { ?x ?p ?o } WHERE { ?s ?p ?o BIND(BNODE() AS ?x) }",
        "null-byte-in-string.rq": b'SELECT ?x WHERE { BIND("a\x00b" AS ?x) }',
        "null-byte-in-iri.rq": b"SELECT * WHERE { <urn:a\x00b> ?p ?o }",
        "invalid-utf8.rq": b'SELECT ?x WHERE { BIND("\xff\xfe\xc3\x28" AS ?x) }',
        "overlong-utf8.rq": b"SELECT ?x WHERE { BIND(\"\xc0\xaf\xe0\x80\xaf\" AS ?x) }",
        "lone-surrogate-escape.rq": 'SELECT ?x WHERE { BIND("\\uD800" AS ?x) }',
        "huge-codepoint-escape.rq": 'SELECT ?x WHERE { BIND("\\U7FFFFFFF" AS ?x) }',
        "control-characters.rq": "SELECT ?x WHERE { BIND(\"\x01\x02\x1b[31m\x7f\" AS ?x) }",
        "rtl-override.rq": "SELECT ?x WHERE { BIND(\"\u202e\u2066evil\" AS ?x) }",
        "empty.rq": "",
        "whitespace.rq": " \t\r\n ",
        "comment-only.rq": "# nothing here",
        "prefix-only.rq": "PREFIX ex: <http://e/>",
        "keyword-only.rq": "SELECT",
        "unterminated-string.rq": 'SELECT * WHERE { ?s ?p "abc }',
        "unterminated-long-string.rq": 'SELECT * WHERE { ?s ?p """abc }',
        "unterminated-iri.rq": "SELECT * WHERE { ?s ?p <http://x }",
        "unbalanced-braces.rq": "SELECT * WHERE { { ?s ?p ?o }",
        "closing-braces.rq": "SELECT * WHERE { ?s ?p ?o } } } }",
        "garbage-binary.rq": bytes(range(256)) * 4,
        "python-format-string.rq": "SELECT * WHERE { ?s ?p '{0.__class__.__mro__}' } %s %n %(x)s {{}}",
        "jinja-template.rq": "SELECT ('{{ config }}{% for x in range(9) %}' AS ?x) WHERE {}",
        "html-in-query.rq": 'SELECT ("<script>alert(1)</script>" AS ?x) WHERE { <javascript:alert(1)> ?p ?o }',
        "select-star-no-where.rq": "SELECT *",
        "ask-with-limit.rq": "ASK { ?s ?p ?o } LIMIT 1 OFFSET 1",
        "duplicate-select-vars.rq": "SELECT ?x ?x (1 AS ?x) WHERE { ?x ?p ?o }",
        "bind-rebind.rq": "SELECT * WHERE { ?s ?p ?o BIND(1 AS ?s) }",
        "group-by-mismatch.rq": "SELECT ?s ?o WHERE { ?s ?p ?o } GROUP BY ?s",
        "undefined-prefix.rq": "SELECT * WHERE { nope:x ?p ?o }",
        "redefined-builtin-prefix.rq": f"PREFIX rdfs: <http://{L}/>\nSELECT * WHERE {{ ?s rdfs:label ?o }} LIMIT 1",
        "base-file.rq": "BASE <file:///etc/>\nSELECT * WHERE { <passwd> ?p ?o }",
        "graph-variable-everything.rq": "SELECT * WHERE { GRAPH ?g { ?s ?p ?o } } ",
        "named-graph-nonexistent.rq": "SELECT * WHERE { GRAPH <urn:nope> { ?s ?p ?o } }",
        "sparql-star.rq": "SELECT * WHERE { << ?s ?p ?o >> ?q ?r }",
        "triple-term.rq": "SELECT * WHERE { ?s ?p <<( ?a ?b ?c )>> }",
        "lateral.rq": "SELECT * WHERE { ?s ?p ?o LATERAL { SELECT * WHERE { ?o ?q ?r } LIMIT 1 } } LIMIT 1",
    }
    return files


def accept_headers() -> dict[str, str | bytes]:
    """Accept header values: malformed media ranges, odd q-values, huge and binary values."""
    values: dict[str, str | bytes] = {
        "empty": "",
        "star": "*",
        "star-slash": "*/",
        "slash": "/",
        "only-semicolons": ";;;;",
        "only-commas": ",,,,",
        "q-not-a-number": "text/turtle;q=abc",
        "q-negative": "text/turtle;q=-1",
        "q-above-one": "text/turtle;q=2, text/html;q=1.5",
        "q-huge": "text/turtle;q=1e999999",
        "q-nan": "text/turtle;q=nan, application/ld+json;q=inf",
        "q-all-zero": "text/turtle;q=0, text/html;q=0, */*;q=0",
        "q-tiny": "application/sparql-results+json;q=0.0001, */*;q=0.00001",
        "q-many-digits": "text/turtle;q=0." + "9" * 2000,
        "q-twice": "text/turtle;q=0.1;q=0.9",
        "q-empty": "text/turtle;q=",
        "params-garbage": 'text/turtle;charset="unterminated',
        "param-no-value": "text/turtle;profile;x;y;=;==",
        "quoted-comma": 'text/turtle;profile="a,b", application/ld+json',
        "subtype-star-only": "*/turtle",
        "unknown-types": "application/x-evil, image/png, video/*",
        "html-injection": "<script>alert(1)</script>/html",
        "crlf-injection": "text/html\r\nX-Injected: yes",
        "very-long": "text/turtle;q=0.5, " * 400,
        "many-ranges": ", ".join(f"application/x-{i};q=0.{i % 10}" for i in range(1500)),
        "unicode": "tëxt/tûrtle;q=0.9, 文本/html",
        "latin1-bytes": b"text/\xe9\xe8;q=0.5",
        "invalid-utf8": b"text/\xff\xfe\xfd",
        "control-characters": b"text/\x01\x02turtle",
        "nul": b"text/html\x00application/json",
        "tab-separated": "text/turtle\tapplication/ld+json",
        "spaces-everywhere": " text / turtle ; q = 0.8 , application / json ",
        "json-suffix": "application/vnd.evil+json;q=1, application/json;q=0.1",
        "sparql-xml-variants": "application/sparql-results+xml;q=1;level=1, text/xml;q=0.9",
        "browser": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8",
        "rdflib": "application/rdf+xml, text/rdf+n3;q=0.9, application/xhtml+xml;q=0.5, */*;q=0.1",
        "python-format": "%s%s%s%n{0}{1}",
        "path-traversal": "../../../etc/passwd",
        "media-type-with-slashes": "text/turtle/../../x",
    }
    return values


def paths() -> dict[str, str | bytes]:
    """Request targets for routes that take a path or parameters: traversal, encodings, length, control bytes."""
    return {
        "dotdot-etc-passwd": "/../../../../etc/passwd",
        "encoded-dotdot": "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "encoded-slash-dotdot": "/..%2f..%2f..%2fetc%2fpasswd",
        "double-encoded-dotdot": "/%252e%252e/%252e%252e/etc/passwd",
        "overlong-utf8-dot": "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
        "backslash-dotdot": "/..\\..\\..\\etc\\passwd",
        "encoded-backslash": "/..%5c..%5cetc%5cpasswd",
        "id-dotdot": "/id/../../../etc/passwd",
        "id-encoded-dotdot": "/id/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "static-dotdot": "/static/../../app.py",
        "static-encoded-dotdot": "/static/%2e%2e/%2e%2e/app.py",
        "static-encoded-slash": "/static/..%2f..%2fapp.py",
        "static-absolute": "/static//etc/passwd",
        "static-templates": "/static/../templates/base.html",
        "static-nul": "/static/style.css%00.py",
        "static-long": "/static/" + "a" * 5000,
        "dumps-dotdot": "/dumps/../../store/CURRENT",
        "dumps-encoded-dotdot": "/dumps/..%2f..%2fetc%2fpasswd",
        "dumps-encoded-dotdot-store": "/dumps/%2e%2e%2fstore%2fCURRENT",
        "dumps-absolute": "/dumps//etc/passwd",
        "dumps-hidden-tmp": "/dumps/.ldn-kg-v1.nq.gz.tmp-1-1",
        "dumps-lock": "/dumps/.ldn-kg-v1.nq.gz.lock",
        "dumps-huge-version": "/dumps/ldn-kg-v99999999999999999999999999.nq.gz",
        "dumps-negative-version": "/dumps/ldn-kg-v-1.nq.gz",
        "dumps-nul": "/dumps/ldn-kg-v1.nq.gz%00",
        "dumps-unicode": "/dumps/ldn-kg-v١.nq.gz",
        "changes-since-negative": "/changes?since=-1",
        "changes-since-huge": "/changes?since=99999999999999999999999999999",
        "changes-since-float": "/changes?since=1e999",
        "changes-since-text": "/changes?since=../../etc/passwd",
        "changes-skip-negative": "/changes?since=0&skip=-5",
        "changes-skip-huge": "/changes?since=0&skip=9999999999999999999999",
        "changes-repeated": "/changes?since=1&since=2&since=3",
        "changes-nul": "/changes?since=%00",
        "changes-format-garbage": "/changes?format=%3Cscript%3E",
        "query-example-traversal": "/query?example=../../etc/passwd",
        "query-example-script": "/query?example=%3Cscript%3Ealert(1)%3C/script%3E",
        "query-query-script": "/query?query=%3C/textarea%3E%3Cscript%3Ealert(1)%3C/script%3E",
        "void-format-garbage": "/.well-known/void?format=%3Cscript%3E",
        "examples-format-garbage": "/.well-known/sparql-examples?format=../../x",
        "resource-format-garbage": "/id/naltrexone?format=%00",
        "resource-format-traversal": "/id/naltrexone?format=../../../etc/passwd",
        "resource-double-suffix": "/id/naltrexone.ttl.jsonld.rdf",
        "resource-bare-dot": "/id/naltrexone.",
        "resource-nul": "/id/naltrexone%00",
        "resource-raw-nul": b"/id/nal\x00trexone",
        "resource-invalid-utf8": "/id/%ff%fe%fd",
        "resource-raw-invalid-utf8": b"/id/\xff\xfe",
        "resource-overlong": "/id/%c0%af",
        "resource-crlf": "/id/a%0d%0aSet-Cookie:%20evil=1",
        "resource-very-long": "/id/" + "a" * 1100,
        "resource-longer": "/id/" + "%41" * 2500,
        "resource-emoji": "/id/%F0%9F%92%A3",
        "resource-rtl": "/id/%E2%80%AEevil",
        "resource-percent-alone": "/id/%",
        "resource-percent-bad-hex": "/id/%zz%g1",
        "resource-html": "/id/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "resource-html-suffix": "/id/%3Cscript%3E.html",
        "resource-quote": "/id/%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E",
        "resource-spaces": "/id/a%20b",
        "resource-backtick": "/id/a%60b",
        "resource-hash-encoded": "/ontology%23Drug",
        "resource-query-injection": "/id/naltrexone%3E%20%3Fp%20%3Fo%20%7D%20%23",
        "resource-sparql-injection": "/id/x%3E%20?p%20?o%20.%20SERVICE%20%3Chttp://127.0.0.1/%3E%20%7B%7D%20%7D%20%23",
        "double-slash": "//id//naltrexone",
        "many-slashes": "/" + "/" * 3000,
        "many-segments": "/id" + "/a" * 500,
        "dot-segments": "/./id/./naltrexone",
        "asterisk": "*",
        "absolute-form": "http://evil.example/id/naltrexone",
        "absolute-form-loopback": f"http://{L}/",
        "no-slash": "id/naltrexone",
        "well-known-traversal": "/.well-known/../../etc/passwd",
        "sparql-get-no-params": "/sparql?",
        "sparql-repeated-query": "/sparql?query=ASK{}&query=ASK{}",
        "sparql-nul-param": "/sparql?query=ASK%00{}",
        "sparql-bad-percent": "/sparql?query=%ZZ",
        "sparql-timeout-huge": "/sparql?query=ASK{}&timeout=1e308",
        "sparql-timeout-inf": "/sparql?query=ASK{}&timeout=inf",
        "sparql-timeout-nan": "/sparql?query=ASK{}&timeout=NaN",
        "sparql-graph-garbage": "/sparql?query=ASK{}&default-graph-uri=%3Cscript%3E&named-graph-uri=%00",
        "sparql-format-traversal": "/sparql?query=ASK{}&format=../../etc/passwd",
        "context-traversal": "/context.jsonld/../../../etc/passwd",
    }


def turtle_payloads() -> dict[str, str | bytes]:
    return {
        "owl-imports-listener.ttl": f"<{ID}x> a <http://www.w3.org/2002/07/owl#Ontology> ; <http://www.w3.org/2002/07/owl#imports> <http://{L}/onto.ttl> .",
        "owl-imports-file.ttl": f"<{ID}x> <http://www.w3.org/2002/07/owl#imports> <file:///etc/passwd> .",
        "see-also-listener.ttl": f"<{ID}x> <{RDFS}seeAlso> <http://{L}/more.ttl> ; <{RDFS}isDefinedBy> <http://localhost:{LP}/> .",
        "deep-collection.ttl": f"<{ID}x> <{ID}p> " + "(" * 20_000 + ")" * 20_000 + " .",
        "deep-blank-nodes.ttl": f"<{ID}x> <{ID}p> " + "[ <urn:p> " * 20_000 + "1" + " ]" * 20_000 + " .",
        "huge-literal.ttl": f'<{ID}x> <{RDFS}label> "' + "A" * 250_000 + '" .',
        "huge-iri.ttl": f"<{ID}{'x' * 150_000}> <{RDFS}label> \"x\" .",
        "many-triples.ttl": "".join(f'<{ID}n{i}> <{RDFS}label> "{i}" .\n' for i in range(12_000)),
        "invalid-utf8.ttl": f'<{ID}x> <{RDFS}label> "'.encode() + b"\xc3\x28\xff" + b'" .',
        "nul-byte.ttl": f'<{ID}x> <{RDFS}label> "a\x00b" .',
        "bad-escape.ttl": f'<{ID}x> <{RDFS}label> "\\uD800\\U7FFFFFFF\\q" .',
        "unterminated.ttl": f'<{ID}x> <{RDFS}label> """never ends',
        "undefined-prefix.ttl": "nope:x nope:y nope:z .",
        "prefix-redefined.ttl": f"@prefix ldn: <http://{L}/> .\nldn:x ldn:y ldn:z .",
        "base-file.ttl": "@base <file:///etc/> .\n<passwd> <urn:p> <shadow> .",
        "relative-iris.ttl": "<../../etc/passwd> <urn:p> <..> .",
        "hostile-labels.ttl": f'<{ID}x> <{RDFS}label> "<script>alert(1)</script>", "\\"><img src=x onerror=alert(1)>" .',
        "meta-graph-claims.ttl": f"<https://w3id.org/ldn-kg/dataset> <{LDN}versionNumber> 999 .",
        "bom.ttl": "\ufeff" + f'<{ID}x> <{RDFS}label> "x" .',
        "literal-as-subject.ttl": f'"x" <{RDFS}label> "y" .',
        "garbage.ttl": bytes(range(256)),
        "only-comment.ttl": "# nothing",
        "sparql-in-turtle.ttl": "DROP ALL ; LOAD <http://{L}/>",
        "huge-integer.ttl": f"<{ID}x> <{LDN}publicationYear> " + "9" * 100_000 + " .",
    }


def ntriples_payloads() -> dict[str, str | bytes]:
    return {
        "invalid-utf8.nt": f'<{ID}x> <{RDFS}label> "'.encode() + b"\xff" + b'" .\n',
        "relative-iri.nt": '<x> <y> "z" .\n',
        "prefix-in-ntriples.nt": "@prefix ex: <http://e/> .\nex:a ex:b ex:c .\n",
        "missing-dot.nt": f"<{ID}x> <{RDFS}label> \"x\"\n",
        "huge-literal.nt": f'<{ID}x> <{RDFS}label> "' + "B" * 250_000 + '" .\n',
        "nul-in-iri.nt": f"<{ID}x\x00> <{RDFS}label> \"x\" .\n",
        "spaces-in-iri.nt": f"<{ID}x y> <{RDFS}label> \"x\" .\n",
        "see-also-listener.nt": f"<{ID}x> <{RDFS}seeAlso> <http://{L}/x.nt> .\n",
        "quad-in-ntriples.nt": f"<{ID}x> <{RDFS}label> \"x\" <{ID}g> .\n",
        "crlf-mix.nt": f'<{ID}x> <{RDFS}label> "x" .\r\r\n\r<{ID}y> <{RDFS}label> "y" .',
    }


def jsonld_payloads() -> dict[str, str | bytes]:
    def dump(value: object) -> str:
        return json.dumps(value)

    nested = ('{"' + ID + 'p": ') * 5_000 + '{"@value": "x"}' + "}" * 5_000
    return {
        "remote-context.jsonld": dump({"@context": f"http://{L}/context.jsonld", "@id": f"{ID}x", "label": "x"}),
        "remote-context-localhost.jsonld": dump({"@context": f"http://localhost:{LP}/c", "@id": f"{ID}x"}),
        "remote-context-file.jsonld": dump({"@context": "file:///etc/passwd", "@id": f"{ID}x"}),
        "remote-context-in-list.jsonld": dump({"@context": [{"ex": ID}, f"http://{L}/c"], "@id": "ex:x", "ex:p": "x"}),
        "remote-context-scoped.jsonld": dump({"@context": {"p": {"@id": f"{ID}p", "@context": f"http://{L}/scoped"}}, "@id": f"{ID}x", "p": {"q": 1}}),
        "remote-context-nested-node.jsonld": dump({"@id": f"{ID}x", f"{ID}p": {"@context": f"http://{L}/inner", "q": 1}}),
        "import-context.jsonld": dump({"@context": {"@version": 1.1, "@import": f"http://{L}/import"}, "@id": f"{ID}x"}),
        "relative-context.jsonld": dump({"@context": "context.jsonld", "@id": f"{ID}x"}),
        "scheme-relative-context.jsonld": dump({"@context": f"//{L}/c", "@id": f"{ID}x"}),
        "base-listener.jsonld": dump({"@context": {"@base": f"http://{L}/"}, "@id": "x", f"{RDFS}label": "x"}),
        "vocab-listener.jsonld": dump({"@context": {"@vocab": f"http://{L}/"}, "@id": f"{ID}x", "label": "x"}),
        "deeply-nested.jsonld": nested,
        "deep-arrays.jsonld": "[" * 50_000 + "]" * 50_000,
        "deep-list.jsonld": dump({"@id": f"{ID}x", f"{ID}p": {"@list": [[[[[[[[[[1]]]]]]]]]]}}),
        "huge-string.jsonld": dump({"@id": f"{ID}x", f"{RDFS}label": "C" * 250_000}),
        "huge-number.jsonld": '{"@id": "' + ID + 'x", "' + RDFS + 'label": 1' + "0" * 100_000 + "}",
        "invalid-json.jsonld": '{"@id": "x", ',
        "invalid-utf8.jsonld": b'{"@id": "\xff\xfe"}',
        "duplicate-keys.jsonld": '{"@id": "' + ID + 'x", "@id": "' + ID + 'y", "' + RDFS + 'label": "z"}',
        "nan-infinity.jsonld": '{"@id": "' + ID + 'x", "' + RDFS + 'label": NaN, "' + RDFS + 'comment": Infinity}',
        "not-an-object.jsonld": '"just a string"',
        "null.jsonld": "null",
        "graph-keyword.jsonld": dump({"@id": "https://w3id.org/ldn-kg/graph/data", "@graph": [{"@id": f"{ID}x", f"{RDFS}label": "x"}]}),
        "reverse-and-index.jsonld": dump({"@context": {"@version": 1.1}, "@id": f"{ID}x", "@reverse": {f"{ID}p": {"@id": f"{ID}y"}}, "@index": "i"}),
        "protected-redefinition.jsonld": dump({"@context": [{"@protected": True, "a": f"{ID}a"}, {"a": f"http://{L}/a"}], "@id": f"{ID}x", "a": 1}),
    }


def rdfxml(doctype: str, label: str) -> str:
    return (
        f'<?xml version="1.0"?>\n{doctype}\n{XML_OPEN}\n'
        f'<rdf:Description rdf:about="{ID}x"><rdfs:label>{label}</rdfs:label></rdf:Description>\n</rdf:RDF>\n'
    )


def rdfxml_payloads() -> dict[str, str | bytes]:
    laughs = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">' for n in range(1, 10)
    )
    return {
        "xxe-file.rdf": rdfxml('<!DOCTYPE rdf:RDF [<!ENTITY x SYSTEM "file:///etc/passwd">]>', "&x;"),
        "xxe-http-listener.rdf": rdfxml(f'<!DOCTYPE rdf:RDF [<!ENTITY x SYSTEM "http://{L}/secret">]>', "&x;"),
        "xxe-localhost.rdf": rdfxml(f'<!DOCTYPE rdf:RDF [<!ENTITY x SYSTEM "http://localhost:{LP}/secret">]>', "&x;"),
        "xxe-public-id.rdf": rdfxml(f'<!DOCTYPE rdf:RDF [<!ENTITY x PUBLIC "-//X//EN" "http://{L}/p">]>', "&x;"),
        "xxe-parameter-entity.rdf": rdfxml(f'<!DOCTYPE rdf:RDF [<!ENTITY % p SYSTEM "http://{L}/dtd"> %p;]>', "x"),
        "xxe-external-dtd.rdf": rdfxml(f'<!DOCTYPE rdf:RDF SYSTEM "http://{L}/rdf.dtd">', "x"),
        "xxe-unused-declaration.rdf": rdfxml(f'<!DOCTYPE rdf:RDF [<!ENTITY x SYSTEM "http://{L}/unused">]>', "x"),
        "xxe-utf16.rdf": rdfxml(f'<!DOCTYPE rdf:RDF [<!ENTITY x SYSTEM "http://{L}/u16">]>', "&x;").encode("utf-16"),
        "xxe-no-xml-declaration.rdf": rdfxml(f'<!DOCTYPE rdf:RDF [<!ENTITY x SYSTEM "http://{L}/nd">]>', "&x;").split("\n", 1)[1],
        "xinclude.rdf": rdfxml("", f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="http://{L}/inc"/>'),
        "xsl-stylesheet-pi.rdf": rdfxml(f'<?xml-stylesheet type="text/xsl" href="http://{L}/style.xsl"?>', "x"),
        "schema-location.rdf": f'<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="{RDFNS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="{RDFNS} http://{L}/schema.xsd"><rdf:Description rdf:about="{ID}x"/></rdf:RDF>',
        "billion-laughs.rdf": rdfxml(f"<!DOCTYPE rdf:RDF [{laughs}]>", "&lol9;"),
        "quadratic-blowup.rdf": rdfxml('<!DOCTYPE rdf:RDF [<!ENTITY a "' + "a" * 20_000 + '">]>', "&a;" * 20_000),
        "entity-recursion.rdf": rdfxml('<!DOCTYPE rdf:RDF [<!ENTITY a "&b;"><!ENTITY b "&a;">]>', "&a;"),
        "undeclared-entity.rdf": rdfxml("", "&nope;"),
        "deep-elements.rdf": f'<?xml version="1.0"?>\n{XML_OPEN}<rdf:Description rdf:about="{ID}x">' + "<rdfs:label>" * 20_000 + "x" + "</rdfs:label>" * 20_000 + "</rdf:Description></rdf:RDF>",
        "deep-nested-descriptions.rdf": f'<?xml version="1.0"?>\n{XML_OPEN}' + '<rdf:Description><rdfs:seeAlso rdf:parseType="Resource">' * 5_000 + "x" + "</rdfs:seeAlso></rdf:Description>" * 5_000 + "</rdf:RDF>",
        "huge-attribute.rdf": f'<?xml version="1.0"?>\n{XML_OPEN}<rdf:Description rdf:about="{ID}x" rdfs:label="' + "D" * 250_000 + '"/></rdf:RDF>',
        "many-attributes.rdf": f'<?xml version="1.0"?>\n{XML_OPEN}<rdf:Description rdf:about="{ID}x" ' + " ".join(f'xmlns:n{i}="http://e/{i}#" n{i}:p="{i}"' for i in range(5_000)) + "/></rdf:RDF>",
        "invalid-utf8.rdf": rdfxml("", "x").encode().replace(b">x<", b">\xff\xfe<"),
        "declared-latin1.rdf": '<?xml version="1.0" encoding="ISO-8859-1"?>\n' + rdfxml("", "caf\u00e9").split("\n", 1)[1],
        "unclosed.rdf": f'<?xml version="1.0"?>\n{XML_OPEN}<rdf:Description rdf:about="{ID}x">',
        "not-rdf.rdf": "<html><body><script>alert(1)</script></body></html>",
        "cdata-script.rdf": rdfxml("", "<![CDATA[<script>alert(1)</script>]]>"),
        "parse-type-literal-xml.rdf": f'<?xml version="1.0"?>\n{XML_OPEN}<rdf:Description rdf:about="{ID}x"><rdfs:comment rdf:parseType="Literal"><script xmlns="http://www.w3.org/1999/xhtml">alert(1)</script></rdfs:comment></rdf:Description></rdf:RDF>',
        "xml-base-listener.rdf": f'<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="{RDFNS}" xmlns:rdfs="{RDFS}" xml:base="http://{L}/"><rdf:Description rdf:about="x"><rdfs:seeAlso rdf:resource="y"/></rdf:Description></rdf:RDF>',
    }


def other_syntax_payloads() -> dict[str, str | bytes]:
    """Syntaxes /validate does not take (415 expected) and media types that lie about the body."""
    return {
        "quads.nq": f'<{ID}x> <{RDFS}label> "x" <{ID}g> .\n',
        "trig.trig": f'<{ID}g> {{ <{ID}x> <{RDFS}label> "x" . }}',
        "n3-rules.n3": "@prefix log: <http://www.w3.org/2000/10/swap/log#> .\n{ ?x ?p ?o } => { ?x ?p ?o } .\n<http://{L}/> log:semantics ?f .",
        "html-as-turtle.html": "<html><script>alert(1)</script></html>",
        "csv.csv": "s,p,o\n1,2,3\n",
        "sparql-update.ru": "DROP ALL",
        "yaml.yaml": "!!python/object/apply:os.system ['true']",
        "pickle.pkl": b"\x80\x04\x95\x1c\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94\x8c\x04true\x94\x85\x94R\x94.",
    }


def write(folder: str, files: dict[str, str | bytes], suffix: str = "") -> int:
    target = HERE / folder
    target.mkdir(parents=True, exist_ok=True)
    for old in target.iterdir():
        if old.is_file():
            old.unlink()
    for name, content in files.items():
        data = content if isinstance(content, bytes) else content.encode("utf-8")
        (target / f"{name}{suffix}").write_bytes(data)
    return len(files)


def main() -> None:
    total = write("sparql", sparql())
    total += write("accept", accept_headers(), ".txt")
    total += write("paths", paths(), ".txt")
    total += write("payloads/turtle", turtle_payloads())
    total += write("payloads/ntriples", ntriples_payloads())
    total += write("payloads/jsonld", jsonld_payloads())
    total += write("payloads/rdfxml", rdfxml_payloads())
    total += write("payloads/other", other_syntax_payloads())
    print(f"{total} files")


if __name__ == "__main__":
    main()
