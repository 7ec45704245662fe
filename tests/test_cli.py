"""`kgserver query`, `validate`, `check` and `export` as a user runs them in a terminal."""

from __future__ import annotations

import csv
import io
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from serving import fetch, serving

pytestmark = pytest.mark.slow  # runs the kgserver command, the reasoner's JVM included

COUNT_ALL = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
CLASSES = "SELECT ?class WHERE { ?class a <http://www.w3.org/2002/07/owl#Class> } ORDER BY ?class LIMIT 3"

LDN = "https://w3id.org/ldn-kg/ontology#"
KG = "https://w3id.org/ldn-kg/id/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"

GOOD_ADDITION = f"""\
@prefix ldn: <{LDN}> .
@prefix kg: <{KG}> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
kg:ldn a ldn:Drug ; rdfs:label "low-dose naltrexone" ; ldn:treats kg:fibromyalgia .
"""


def one_error_line(result) -> str:
    """The single line a failing command prints on stderr (and no traceback anywhere)."""
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("kgserver: error: ")
    return lines[0]


# --- query -------------------------------------------------------------------------------


def test_query_prints_an_aligned_table(kgserver, built_store):
    result = kgserver("query", "--store", built_store, CLASSES)
    assert result.returncode == 0, result.stderr
    header, rule, *rows, count = result.stdout.strip().splitlines()
    assert header.strip() == "class"
    assert set(rule.strip()) == {"-"}
    assert count == f"({len(rows)} rows)" and len(rows) == 3


def test_query_answers_ask_with_true_or_false(kgserver, built_store):
    assert kgserver("query", "--store", built_store, "ASK { ?s ?p ?o }").stdout.strip() == "true"


def test_query_as_csv(kgserver, built_store):
    result = kgserver("query", "--store", built_store, "--format", "csv", COUNT_ALL)
    assert result.returncode == 0, result.stderr
    [row] = list(csv.DictReader(io.StringIO(result.stdout)))
    assert int(row["n"]) > 0


def test_query_as_json_reads_the_query_from_a_file(kgserver, built_store, tmp_path):
    query_file = tmp_path / "count.rq"
    query_file.write_text(COUNT_ALL)
    result = kgserver("query", "--store", built_store, "--file", query_file, "--format", "json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["head"]["vars"] == ["n"]
    assert int(answer["results"]["bindings"][0]["n"]["value"]) > 0


def test_query_from_stdin_prints_turtle_for_construct(kgserver, built_store):
    construct = "CONSTRUCT { ?c a owl:Class } WHERE { ?c a owl:Class } LIMIT 1"
    result = kgserver("query", "--store", built_store, "-", stdin=construct)
    assert result.returncode == 0, result.stderr
    assert "@prefix owl: <http://www.w3.org/2002/07/owl#> ." in result.stdout
    assert " a owl:Class ." in result.stdout


def test_query_syntax_error_is_one_line_with_the_position(kgserver, built_store):
    result = kgserver("query", "--store", built_store, "SELECT ?s WHERE { ?s ?p ?o } LIMIT x")
    assert result.returncode == 2
    assert 'SPARQL syntax error at 1:36, at "x" (after "...E { ?s ?p ?o } LIMIT"): expected a number' in one_error_line(result)


def test_query_refuses_updates(kgserver, built_store):
    result = kgserver("query", "--store", built_store, "INSERT DATA { <urn:a> <urn:b> <urn:c> }")
    assert result.returncode == 2
    assert "SPARQL Update is not accepted: this endpoint answers queries only" in one_error_line(result)


def test_query_on_a_missing_store_says_how_to_build_one(kgserver, tmp_path):
    result = kgserver("query", "--store", tmp_path / "nowhere", COUNT_ALL)
    assert result.returncode == 2
    assert "kgserver build --store" in one_error_line(result)


def test_query_format_must_fit_the_kind_of_result(kgserver, built_store):
    result = kgserver("query", "--store", built_store, "--format", "turtle", COUNT_ALL)
    assert result.returncode == 2
    assert "does not apply to SELECT/ASK results" in one_error_line(result)


# --- validate: bad input -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("broken.ttl", '@prefix ex: <http://example.org/> .\nex:a ex:b ex:c .\nex:a ex:b "open\n', "broken.ttl:3: "),
        ("broken.nt", "<urn:a> <urn:b> <urn:c> .\n<urn:a> oops .\n", "broken.nt:2: "),
        ("broken.jsonld", '{"@id": "http://example.org/a",\n "http://example.org/b": 1\n', "broken.jsonld:3: "),
        ("broken.rdf", f'<rdf:RDF xmlns:rdf="{RDF_NS}">\n<rdf:Description>\n\n</rdf:RDF>\n', "broken.rdf:4: "),
        ("empty.ttl", "   \n\n", "empty.ttl: no triples found"),
        ("prefixes-only.ttl", "@prefix ex: <http://example.org/> .\n", "prefixes-only.ttl: no triples found"),
        ("data.csv", "a,b,c\n", "data.csv: unknown RDF format for extension '.csv'"),
    ],
)
def test_validate_rejects_bad_input_in_one_line(kgserver, tmp_path, name, content, expected):
    (tmp_path / name).write_text(content)
    result = kgserver("validate", tmp_path / name)
    assert result.returncode == 2
    assert expected in one_error_line(result)


def test_validate_rejects_a_missing_file(kgserver, tmp_path):
    result = kgserver("validate", tmp_path / "absent.ttl")
    assert result.returncode == 2
    assert "absent.ttl: no such file" in one_error_line(result)


def test_validate_takes_the_syntax_from_input_format(kgserver, tmp_path, mini_root):
    addition = tmp_path / "addition.txt"
    addition.write_text(GOOD_ADDITION)
    result = kgserver("validate", "--input-format", "turtle", addition, root=mini_root)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def listener():
    """A loopback TCP server that records whether anyone connected to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    connections: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connections.append(server.accept())
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", connections
    stop.set()
    thread.join()
    server.close()


def test_validate_fetches_nothing_from_the_network(kgserver, tmp_path, listener, mini_root):
    url, connections = listener
    remote = {"@context": f"{url}/context.jsonld", "@id": "ex:a", "ex:b": "c"}
    (tmp_path / "remote.jsonld").write_text(json.dumps(remote))
    (tmp_path / "entity.rdf").write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [<!ENTITY remote SYSTEM "{url}/entity">]>\n'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:ex="http://example.org/">\n'
        '<rdf:Description rdf:about="http://example.org/a"><ex:b>&remote;</ex:b></rdf:Description>\n</rdf:RDF>\n'
    )
    remote_context = kgserver("validate", tmp_path / "remote.jsonld")
    assert remote_context.returncode == 2
    assert "remote JSON-LD context" in one_error_line(remote_context)
    entity = kgserver("validate", tmp_path / "entity.rdf", root=mini_root)  # refused as /validate refuses it
    assert entity.returncode == 2
    assert one_error_line(entity) == f"kgserver: error: {tmp_path / 'entity.rdf'}: external entity 'remote' refused; nothing is fetched"
    assert connections == []


def test_validate_refuses_a_file_of_thousands_of_prefixes_as_validate_on_the_server_does(kgserver, tmp_path, mini_root):
    """Each prefix declared costs rdflib's parser more than the last: 20,000 took minutes, so more than 1,000 is refused."""
    declared = "".join(f"@prefix p{i}: <http://example.org/{i}#> .\n" for i in range(20_000))
    (tmp_path / "prefixes.ttl").write_text(declared + GOOD_ADDITION)
    refused = kgserver("validate", tmp_path / "prefixes.ttl", root=mini_root)
    assert refused.returncode == 2
    assert one_error_line(refused) == (f"kgserver: error: {tmp_path / 'prefixes.ttl'}: it declares more than 1,000 "
                                       "namespace prefixes; a document needs a few (each one declared costs the parser "
                                       "more than the last)")


def test_validate_without_java_says_how_to_install_it(kgserver, tmp_path):
    (tmp_path / "a.ttl").write_text(GOOD_ADDITION)
    result = kgserver("validate", tmp_path / "a.ttl", env={"PATH": str(Path(sys.executable).parent)})
    assert result.returncode == 2
    assert "Java is needed for the HermiT reasoner" in one_error_line(result)


# --- validate: conformance (mini fixture, whose shapes are known) ----------------------------


def test_validate_accepts_a_conforming_addition(kgserver, tmp_path, mini_root):
    (tmp_path / "good.ttl").write_text(GOOD_ADDITION)
    result = kgserver("validate", tmp_path / "good.ttl", root=mini_root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "0 violations, 1 warning"


def test_validate_reports_violations_of_the_addition_only(kgserver, tmp_path, mini_root):
    (tmp_path / "unlabelled.nt").write_text(
        f"<{KG}mystery> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{LDN}Drug> .\n"
    )
    result = kgserver("validate", tmp_path / "unlabelled.nt", root=mini_root)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "VIOLATION  kg:mystery  rdfs:label: A drug needs a label.",
        "1 violation, 0 warnings",
    ]


def test_validate_reports_an_inconsistency_as_a_violation_in_json(kgserver, tmp_path, mini_root):
    (tmp_path / "clash.jsonld").write_text(
        json.dumps(
            {
                "@context": {"ldn": LDN, "kg": KG, "label": "http://www.w3.org/2000/01/rdf-schema#label"},
                "@id": "kg:chimera",
                "@type": ["ldn:Drug", "ldn:Condition"],
                "label": "chimera",
            }
        )
    )
    result = kgserver("validate", "--format", "json", tmp_path / "clash.jsonld", root=mini_root)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["conforms"] is False
    [inconsistency] = [r for r in report["results"] if r["focus_node"] is None]
    assert inconsistency["severity"] == "Violation"
    assert inconsistency["message"].startswith("The additions make the graph logically inconsistent")


def test_validate_in_the_context_of_a_built_store(kgserver, tmp_path, mini_root):
    store = tmp_path / "store"
    assert kgserver("build", "--store", store, root=mini_root).returncode == 0
    (tmp_path / "good.ttl").write_text(GOOD_ADDITION)
    result = kgserver("validate", "--store", store, tmp_path / "good.ttl", root=tmp_path / "no-sources-here")
    assert result.returncode == 0, result.stdout + result.stderr


# --- check and export ----------------------------------------------------------------------


def test_check_validates_and_reasons_over_the_whole_graph(kgserver):
    result = kgserver("check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "consistent"


def test_check_reports_an_inconsistent_graph(kgserver, mini_root, copy_sources):
    root = copy_sources(mini_root)
    (root / "graph" / "clash.ttl").write_text(f"<{KG}fibromyalgia> a <{LDN}Drug> .\n")
    result = kgserver("check", root=root)
    assert result.returncode == 1
    assert result.stdout.strip().splitlines()[-1].startswith("inconsistent: HermiT found the graph inconsistent")


def test_export_writes_every_named_graph(kgserver, built_store):
    result = kgserver("export", "--store", built_store)
    assert result.returncode == 0, result.stderr
    graphs = {line.rsplit(" ", 2)[-2] for line in result.stdout.splitlines() if line}
    assert {g.split("/")[-1].rstrip(">") for g in graphs} == {"ontology", "data", "shapes", "inferred", "examples", "meta"}


# --- settings ----------------------------------------------------------------------------


def test_the_readme_lists_every_server_setting_as_declared(kgserver):
    """An operator reads the settings in the README; `kgserver settings` prints them from their declarations."""
    result = kgserver("settings")
    assert result.returncode == 0, result.stderr
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- settings table: generated by `kgserver settings` -->\n")[1]
    assert block.split("<!-- end of settings table -->")[0] == result.stdout
    assert "| `--heavy-budget` | `LDNKG_HEAVY_BUDGET` | `60` |" in result.stdout


@pytest.mark.parametrize("variable, value, message", [
    ("LDNKG_HEAVY_NICE", "25", "heavy nice must be between 0 and 19, not 25"),
    ("LDNKG_QUEUE_WAIT", "-1", "queue wait must be at least 0, not -1"),
    ("LDNKG_ROW_CAP", "many", "LDNKG_ROW_CAP='many' is not a number"),
    ("LDNKG_QUERY_TIMEOUT", "nan", "query timeout must be a finite number, not nan"),
    ("LDNKG_HEAVY_BUDGET", "inf", "heavy budget must be a finite number, not inf"),
    ("LDNKG_TRUSTED_PROXY", "notanip", "trusted proxy must be an IP address, not 'notanip'"),
])
def test_a_setting_out_of_its_bounds_is_refused_in_one_line(kgserver, built_store, variable, value, message):
    result = kgserver("serve", "--store", built_store, env={variable: value}, timeout=30)
    assert result.returncode == 2
    assert one_error_line(result) == f"kgserver: error: {message}"


def test_a_flag_out_of_its_bounds_is_refused_by_the_same_declaration(kgserver, built_store):
    result = kgserver("serve", "--store", built_store, "--query-workers", "0", timeout=30)
    assert result.returncode == 2
    assert "--query-workers" in one_error_line(result) and "1<=x<=64" in result.stderr


CROSS_PRODUCT_ROWS = "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f }"  # 24 million rows on the bundled graph


def _query_process(built_store: Path, *args: str) -> subprocess.Popen[bytes]:
    command = [str(Path(sys.executable).parent / "kgserver"), "query", "--store", str(built_store), *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_reader_that_stops_stops_the_query_quietly_with_sigpipes_status(built_store):
    """`kgserver query --format csv ... | head -2`: rows stream as they come, and the query ends when the reader does."""
    process = _query_process(built_store, "--format", "csv", CROSS_PRODUCT_ROWS)
    assert process.stdout.readline().startswith(b"a,b,c,d,e,f")
    assert process.stdout.readline()
    process.stdout.close()
    assert process.wait(timeout=30) == 141  # 128 + SIGPIPE, not 1 ("does not conform")
    assert b"Traceback" not in process.stderr.read()


def test_a_reader_that_stops_reading_the_table_ends_it_with_sigpipes_status_too(built_store):
    """`kgserver query ... | head -1` on the terminal table, written at once (10,000 rows, about 800 KB): status 141 too."""
    process = _query_process(built_store, CROSS_PRODUCT_ROWS)
    assert process.stdout.readline().split() == [b"a", b"b", b"c", b"d", b"e", b"f"]
    process.stdout.close()
    assert process.wait(timeout=30) == 141  # it was 0: the rest of one large write was dropped without an error
    assert b"Traceback" not in process.stderr.read()


def test_ctrl_c_ends_a_running_query(built_store):
    process = _query_process(built_store, "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }")
    time.sleep(2)  # the engine is counting, without coming back to Python
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=5) != 0


def test_the_terminal_table_shows_its_first_rows_and_says_how_to_get_them_all(kgserver, built_store):
    result = kgserver("query", "--store", built_store, CROSS_PRODUCT_ROWS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("(the first 10000 rows; --format csv, tsv or json gives them all)")


def test_a_query_that_is_not_utf8_or_calls_an_unknown_function_is_one_line(kgserver, built_store, tmp_path):
    latin = tmp_path / "latin.rq"
    latin.write_bytes('SELECT * WHERE { ?s ?p "café" }'.encode("latin-1"))
    result = kgserver("query", "--store", built_store, "--file", latin)
    assert "the query is not UTF-8 (byte 27)" in one_error_line(result) and result.returncode == 2
    unknown = kgserver("query", "--store", built_store, "SELECT * WHERE { BIND(<http://example.org/f>(1) AS ?x) }")
    assert "is not supported" in one_error_line(unknown) and "internal error" not in unknown.stderr
    marked = tmp_path / "marked.rq"
    marked.write_bytes(b"\xef\xbb\xbfASK { ?s ?p ?o }")
    assert kgserver("query", "--store", built_store, "--file", marked).stdout.strip() == "true"


# --- damaged stores, registries, settings and addresses: one line, never a traceback -------------------


@pytest.fixture(scope="module")
def mini_store(kgserver, tmp_path_factory: pytest.TempPathFactory, mini_root: Path) -> Path:
    """A store built once from the mini fixture, for tests that damage a copy of it."""
    store = tmp_path_factory.mktemp("mini-store") / "store"
    result = kgserver("build", "--store", store, root=mini_root)
    assert result.returncode == 0, result.stderr
    return store


@pytest.fixture
def store_copy(mini_store: Path, tmp_path: Path) -> Path:
    """A copy of the mini store that a test may damage; its curators' registry is its own."""
    copy = tmp_path / "store"
    shutil.copytree(mini_store, copy)
    return copy


def _largest_table(store: Path) -> Path:
    """The store's biggest RocksDB table file: one its manifest lists, whatever the build wrote."""
    return max(store.glob("*.sst"), key=lambda table: table.stat().st_size)


def _truncate(file: Path) -> None:
    with file.open("r+b") as handle:
        handle.truncate(100)


DAMAGES = {
    "a table file truncated": lambda store: _truncate(_largest_table(store)),
    "a table file deleted": lambda store: _largest_table(store).unlink(),
    "CURRENT overwritten": lambda store: (store / "CURRENT").write_text("garbage\n"),
    "CURRENT deleted": lambda store: (store / "CURRENT").unlink(),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_store_is_one_line_that_names_it_and_says_to_build_it_again(kgserver, store_copy, mini_root, damage):
    DAMAGES[damage](store_copy)
    for command in (["query", "--store", store_copy, "ASK { ?s ?p ?o }"], ["export", "--store", store_copy],
                    ["check", "--store", store_copy], ["serve", "--store", store_copy, "--port", "1"]):
        result = kgserver(*command, root=mini_root, timeout=60)
        line = one_error_line(result)
        assert result.returncode == 2, command
        assert f"{store_copy}: the store is damaged" in line and f"kgserver build --store {store_copy}" in line, line
        assert "internal error" not in line


def test_a_build_over_a_damaged_store_leaves_it_as_it_is_until_it_is_moved_aside(kgserver, store_copy, mini_root):
    DAMAGES["a table file truncated"](store_copy)
    before = _data_files(store_copy)
    result = kgserver("build", "--store", store_copy, root=mini_root)
    assert result.returncode == 2 and "the store is damaged" in one_error_line(result)
    assert _data_files(store_copy) == before
    store_copy.rename(store_copy.with_name("aside"))
    assert kgserver("build", "--store", store_copy, root=mini_root).returncode == 0


def test_a_store_damaged_under_a_running_server_is_a_503_to_clients_and_one_line_to_the_operator(store_copy, mini_root,
                                                                                                  tmp_path):
    log = tmp_path / "serve.log"
    with serving(store_copy, mini_root, log) as server:
        _settled(store_copy)  # the server's first compaction has written the tables it reads from now on
        for table in store_copy.glob("*.sst"):
            with table.open("r+b") as handle:  # the first data block no longer matches its checksum
                handle.write(b"\xff" * 32)
        for reply in (fetch(server.sparql, headers={"Accept": "application/sparql-results+json"},
                            params={"query": "SELECT * { ?s ?p ?o } LIMIT 5"}),
                      fetch(f"{server.base}/id/naltrexone", headers={"Accept": "text/turtle"})):
            assert reply.status == 503, reply.text
            assert reply.text == "the store is damaged and cannot be read; its operator must build it again\n"
            assert reply.headers["retry-after"] == "300"
        assert fetch(f"{server.base}/health").status in (200, 503)  # whichever blocks it reads: never a 500
    told = log.read_text()
    assert f"{store_copy}: the store is damaged and cannot be read (Corruption: block checksum mismatch" in told, told
    assert f"move it aside and build it again: kgserver build --store {store_copy}" in told
    assert "Traceback" not in told and " 500 " not in told


def _settled(store: Path, quiet_seconds: float = 1.0, wait: float = 30.0) -> None:
    """Wait until the store's table files have stayed the same for `quiet_seconds`."""
    deadline, seen, since = time.monotonic() + wait, None, time.monotonic()
    while time.monotonic() < deadline:
        now = sorted((table.name, table.stat().st_size) for table in store.glob("*.sst"))
        if now != seen:
            seen, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_seconds:
            return
        time.sleep(0.1)
    raise AssertionError(f"the store's tables kept changing for {wait} s")


def _data_files(store: Path) -> dict[str, bytes]:
    """A store's files but RocksDB's own log (LOG, rotated on each open), as they are now."""
    return {path.name: path.read_bytes() for path in store.iterdir() if not path.name.startswith("LOG")}


@pytest.mark.parametrize(("document", "problem"), [
    ("[]", 'it must be a JSON object whose "curators" is a list'),
    ('"curators"', 'it must be a JSON object whose "curators" is a list'),
    ('{"curators": {"ada": {}}}', 'it must be a JSON object whose "curators" is a list'),
    ('{"curators": [{"name": "ada"}]}', "curator 1: no token_sha256, created"),
    ('{"curators": [{"name": 7, "token_sha256": "00", "created": "2024-01-01T00:00:00Z"}]}', "curator 1: name not a string"),
    ('{"curators": [{"name": "a/../b", "token_sha256": "00", "created": "2024-01-01T00:00:00Z"}]}',
     "curator 1: 'a/../b' is not a curator name (1 to 64 lowercase letters, digits and inner hyphens, such as 'ada' or "
     "'j-smith-2')"),
    ('{"curators": [{"name": "ada", "token_sha256": "00", "created": "2024-01-01T00:00:00Z"}, '
     '{"name": "ada", "token_sha256": "01", "created": "2024-01-01T00:00:00Z"}]}', "curator 2: the name 'ada' is given twice"),
])
def test_a_curator_registry_of_the_wrong_shape_is_one_line_naming_it(kgserver, store_copy, mini_root, document, problem):
    registry = store_copy.with_name(f"{store_copy.name}.curators.json")
    registry.write_text(document)
    for command in (["curator", "list"], ["curator", "add", "bob"], ["curator", "revoke", "ada"], ["serve", "--port", "1"]):
        result = kgserver(*command, "--store", store_copy, root=mini_root, timeout=60)
        assert result.returncode == 2, command
        assert one_error_line(result) == f"kgserver: error: {registry}: not a curator registry ({problem}); " \
            "restore it from a backup, or fix it by hand"
    assert registry.read_text() == document


@pytest.mark.parametrize(("base", "problem"), [
    ("notaniri", "is not an IRI (No scheme found in an absolute IRI)"),
    ("https://w3id.org/ldn kg/", "is not an IRI (Invalid IRI code point ' ')"),
    ("ftp://w3id.org/ldn-kg/", "is not an http(s) IRI with a host"),
    ("https://w3id.org/ldn-kg", "does not end in '/'"),
])
def test_a_bad_ldnkg_base_is_refused_by_every_command_that_reads_it(kgserver, mini_store, mini_root, tmp_path, base, problem):
    (tmp_path / "good.ttl").write_text(GOOD_ADDITION)
    new_store = tmp_path / "new-store"
    for command in (["build", "--store", new_store], ["query", "--store", mini_store, "ASK { ?s ?p ?o }"], ["check"],
                    ["validate", tmp_path / "good.ttl"], ["serve", "--store", mini_store, "--port", "1"]):
        result = kgserver(*command, root=mini_root, env={"LDNKG_BASE": base}, timeout=60)
        assert result.returncode == 2, command
        assert one_error_line(result) == (f"kgserver: error: LDNKG_BASE={base!r} {problem}: give an absolute http(s) "
                                          "IRI ending in '/', such as https://w3id.org/ldn-kg/")
    assert not new_store.exists()


@pytest.mark.parametrize("host", ["256.1.1.1", "no-such-host.invalid"])
def test_serve_on_a_host_that_is_no_address_is_one_line(kgserver, mini_store, mini_root, host):
    result = kgserver("serve", "--store", mini_store, "--host", host, root=mini_root, timeout=60)
    assert result.returncode == 2
    assert f"--host {host!r} is not an address or a host name this machine resolves" in one_error_line(result)


def test_serve_on_a_port_already_taken_is_one_line(kgserver, mini_store, mini_root):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = kgserver("serve", "--store", mini_store, "--port", port, root=mini_root, timeout=60)
    assert result.returncode == 2
    assert f"cannot listen on --host 127.0.0.1 --port {port} (Address already in use)" in one_error_line(result)


def test_serve_under_another_base_than_the_store_was_built_with_is_refused(kgserver, mini_store, mini_root):
    """Served under another LDNKG_BASE, the store's graphs are not found: the gate would check nothing."""
    result = kgserver("serve", "--store", mini_store, root=mini_root, timeout=60,
                      env={"LDNKG_BASE": "https://example.org/other/"})
    assert result.returncode == 2
    assert "holds no LDN-KG dataset under https://example.org/other/ (built with another LDNKG_BASE?)" in one_error_line(result)
