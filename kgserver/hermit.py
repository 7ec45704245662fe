"""A warm HermiT: one long-lived JVM per process answers consistency checks in milliseconds.

`reasoning.reason` runs HermiT through owlready2, which starts a JVM, loads HermiT and the
OWL API and parses the whole graph for every run: more than a second before any reasoning.
That is fine for a build, not for every submission. Here a small Java program
(kgserver/java/WarmHermit.java) is started once and kept running; it loads the ontology
once and then checks each addition's scope as an ontology that imports it. The program is
compiled once into a cache directory (or, without javac, run by Java's source launcher).

Example (not run as a doctest: it starts a JVM). The curation checker (curation/checks.py),
which the app owns, keeps one::

    reasoner = hermit.WarmReasoner()
    consistent, why = reasoner.check_consistency(scope, ontology)   # starts the JVM the first time
    reasoner.close()
"""

from __future__ import annotations

import hashlib
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import owlready2
from rdflib import OWL, RDF, Graph

from kgserver.errors import KgError
from kgserver.reasoning import explain_inconsistency, reasoner_input, require_java

SOURCE = Path(__file__).resolve().parent / "java" / "WarmHermit.java"
HERMIT_JAR = Path(owlready2.__file__).resolve().parent / "hermit" / "HermiT.jar"
MAIN_CLASS = "WarmHermit"

DEFAULT_TIMEOUT = 30.0
STARTUP_TIMEOUT = 60.0
JAVA_OPTIONS = ("-Xmx1g", "-XX:+UseSerialGC", "-Xshare:auto")


@dataclass(frozen=True)
class OntologyDocument:
    """The ontology as the JVM receives it, once: reasoner input as N-Triples, and a key naming it."""

    key: str
    ntriples: bytes
    graph: Graph


def ontology_document(ontology: Graph, key: str | None = None) -> OntologyDocument:
    """Prepare `ontology` for the warm reasoner; `key` (e.g. its content hash) saves hashing it."""
    ntriples = _ntriples(ontology)
    return OntologyDocument(key or hashlib.sha256(ntriples).hexdigest(), ntriples, ontology)


class WarmReasoner:
    """A HermiT JVM kept running between checks; thread-safe, one check at a time.

    The JVM starts on first use (or with `start`), is started again if it has died, and is
    killed when a check takes longer than `timeout` seconds, so the next check gets a
    fresh one.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, cache_dir: Path | None = None) -> None:
        self.timeout = timeout
        self.cache_dir = cache_dir or default_cache_dir()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._base_key: str | None = None

    @property
    def pid(self) -> int | None:
        """The JVM's process id while it runs, for tests and monitoring."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def start(self) -> None:
        """Start the JVM now unless it is running, so the first check does not pay for it."""
        with self._lock:
            self._ensure_running()

    def close(self) -> None:
        """Stop the JVM; a later check starts a new one."""
        with self._lock:
            self._stop()

    def check_consistency(self, graph: Graph, ontology: Graph | OntologyDocument, timeout: float | None = None) -> tuple[bool, str]:
        """Is ontology + graph consistent? If not, a readable guess at why.

        Literals and ranges of datatypes HermiT cannot take are dropped first, as
        `reasoning.reason` does. Raises KgError when HermiT fails or exceeds the timeout.
        """
        document = ontology if isinstance(ontology, OntologyDocument) else ontology_document(ontology)
        answer = self._ask(document, _ntriples(graph), self.timeout if timeout is None else timeout)
        if answer == "CONSISTENT":
            return True, ""
        return False, explain_inconsistency(document.graph + graph)

    # -- the conversation ------------------------------------------------------------------

    def _ask(self, document: OntologyDocument, ntriples: bytes, timeout: float) -> str:
        """Send one check (loading the base first when needed); restart once if the JVM died."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    self._ensure_running()
                    if self._base_key != document.key:
                        self._request("BASE", document.ntriples, STARTUP_TIMEOUT, "OK")
                        self._base_key = document.key
                    answer = self._request("CHECK", ntriples, timeout, "CONSISTENT", "INCONSISTENT", "NOBASE")
                    if answer == "NOBASE":
                        self._base_key = None
                        continue
                    return answer
                except _JvmGone:
                    self._stop()
                    if attempt == 2:
                        raise KgError("HermiT stopped unexpectedly twice in a row; see the server's log") from None
            raise KgError("HermiT lost the ontology twice in a row")

    def _request(self, command: str, body: bytes, timeout: float, *expected: str) -> str:
        process = self._process
        assert process is not None and process.stdin is not None
        deadline = time.monotonic() + timeout  # from the request sent: a pause of this process counts too
        try:
            process.stdin.write(f"{command} {len(body)}\n".encode() + body)
            process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise _JvmGone from None
        try:
            reply = _read_line(process, deadline)
        except TimeoutError:
            self._stop()
            raise KgError(f"HermiT did not finish the consistency check within {timeout:g} s; the check was stopped") from None
        if reply in expected:
            return reply
        if reply.startswith("ERROR "):
            raise KgError(f"HermiT failed: {reply.removeprefix('ERROR ')}")
        raise KgError(f"HermiT answered something unexpected: {reply[:200]}")

    def _ensure_running(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self._stop()
        command = [require_java(), *JAVA_OPTIONS, *_program(self.cache_dir)]
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self._base_key = None
        try:
            ready = _read_line(self._process, time.monotonic() + STARTUP_TIMEOUT)
        except (TimeoutError, _JvmGone):
            self._stop()
            raise KgError("the HermiT JVM did not start; run `make java` to install a JDK") from None
        if ready != "READY":
            self._stop()
            raise KgError(f"the HermiT JVM did not start properly: {ready[:200]}")

    def _stop(self) -> None:
        process, self._process = self._process, None
        self._base_key = None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()


class _JvmGone(Exception):
    """The JVM's pipes closed: it died or was killed."""


def _read_line(process: subprocess.Popen[bytes], deadline: float) -> str:
    """One reply line from the JVM by `deadline` (monotonic), or TimeoutError; reads the raw pipe so select stays truthful."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    chunks = bytearray()
    while not chunks.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        readable, _, _ = select.select([fd], [], [], remaining)
        if not readable:
            raise TimeoutError
        chunk = os.read(fd, 65536)
        if not chunk:
            raise _JvmGone
        chunks += chunk
    return chunks.decode("utf-8").strip()


def _ntriples(graph: Graph) -> bytes:
    """What HermiT receives: the reasoner input without ontology headers (the JVM writes its own)."""
    kept = reasoner_input(graph)
    kept.remove((None, RDF.type, OWL.Ontology))
    return kept.serialize(format="nt", encoding="utf-8")


# -- the Java program ---------------------------------------------------------------------


def default_cache_dir() -> Path:
    """Where the compiled program is kept: $KGSERVER_CACHE, else the user's cache directory."""
    configured = os.environ.get("KGSERVER_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kgserver"


def _program(cache_dir: Path) -> list[str]:
    """The java arguments that run WarmHermit: compiled classes if javac exists, else the source."""
    classes = _compiled(cache_dir)
    if classes is not None:
        return ["-cp", os.pathsep.join([str(classes), str(HERMIT_JAR)]), MAIN_CLASS]
    return ["-cp", str(HERMIT_JAR), str(SOURCE)]


def _compiled(cache_dir: Path) -> Path | None:
    """The directory holding WarmHermit.class for this source and jar, compiling it once."""
    digest = hashlib.sha256(SOURCE.read_bytes() + str(HERMIT_JAR.stat().st_size).encode()).hexdigest()[:16]
    target = cache_dir / f"warm-hermit-{digest}"
    if (target / f"{MAIN_CLASS}.class").is_file():
        return target
    javac = shutil.which("javac")
    if javac is None:
        return None
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="warm-hermit-", dir=cache_dir))
    result = subprocess.run(
        [javac, "-nowarn", "-cp", str(HERMIT_JAR), "-d", str(staging), str(SOURCE)],
        check=False,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise KgError(f"could not compile {SOURCE.name}: {result.stderr.strip()[:400]}")
    try:
        os.replace(staging, target)
    except OSError:  # another process compiled it first
        shutil.rmtree(staging, ignore_errors=True)
    return target
