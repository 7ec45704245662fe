# Two entry points: `make serve` builds the store and serves it; `make test` runs the test suite.
VENV   := .venv
PYTHON := $(VENV)/bin/python
STORE  := var/store
HOST   := 127.0.0.1
PORT   := 8000

.PHONY: serve test install install-test java chromium jemalloc engines bench-tools

$(PYTHON):
	python3 -m venv $(VENV)

# pip compiles an installed package's modules to bytecode, but an editable install leaves that to
# the first import, which writes nothing where PYTHONDONTWRITEBYTECODE is set (as on our CI machines):
# every kgserver command, server and query process would compile the package again (0.15-0.2 s each).
install: $(PYTHON)
	$(PYTHON) -m pip install --quiet -e .
	$(PYTHON) -m compileall -q kgserver

install-test: $(PYTHON)
	$(PYTHON) -m pip install --quiet -e '.[test]'
	$(PYTHON) -m compileall -q kgserver

# HermiT needs Java, and the warm reasoner (kgserver/hermit.py) compiles a small program for it:
# install a JDK only when javac is not on PATH.
java:
	@command -v javac >/dev/null 2>&1 || (apt-get update && apt-get install -y default-jdk-headless)

# Query processes run with jemalloc where the system has it (about 30% less CPU in the engine's
# joins); install Debian's libjemalloc2 only when the dynamic linker does not know it.
jemalloc:
	@/sbin/ldconfig -p 2>/dev/null | grep -q libjemalloc.so.2 || (apt-get update && apt-get install -y libjemalloc2)

# The browser tests drive Debian's Chromium headless; install it only when none is on PATH.
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update && apt-get install -y chromium)

# The engine tests (tests/engines.py) start Debian's Virtuoso themselves (virtuoso-t, isql-vt); install it
# only when virtuoso-t is not on PATH. Non-interactive: no DBA password is asked for, so the package's own
# service stays disabled (and in a container policy-rc.d keeps it from starting at all); we never use it.
# Oxigraph's server comes with the `oxigraph` wheel in the test extras.
engines:
	@command -v virtuoso-t >/dev/null 2>&1 || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y virtuoso-opensource)
	@command -v nginx >/dev/null 2>&1 || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light)

# The benchmarks (bench/, outside CI): their extras, the engines, and Debian's wrk, the light HTTP client that
# measures frontends' throughput (bench_sparql.py's frontend_scaling).
bench-tools: engines
	$(PYTHON) -m pip install --quiet -e '.[bench]'
	@command -v wrk >/dev/null 2>&1 || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk)

serve: install java jemalloc
	$(VENV)/bin/kgserver build --store $(STORE)
	$(VENV)/bin/kgserver serve --store $(STORE) --host $(HOST) --port $(PORT)

# Two pytest-xdist workers, a test module each at a time (its servers and fixtures stay in one
# worker): most slow tests wait on servers, time limits and the JVM, so two halve the wall time.
test: install-test java chromium jemalloc engines
	@[ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
	$(VENV)/bin/pytest -q -n 2 --dist loadfile
