"""The kgserver command: build, query, validate, check, export and serve LDN-KG."""

from __future__ import annotations

import functools
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from pyoxigraph import RdfFormat

from kgserver import representations
from kgserver import store as kgstore
from kgserver.config import ServerSettings, Settings, settings_table
from kgserver.errors import InputError, KgError
from kgserver.parsing import PARSERS
from kgserver.store.dialects import DIALECTS
from kgserver.store.embedded import damaged, is_damage
from kgserver.store.location import StoreLocation

if TYPE_CHECKING:
    from kgserver.curation.curators import Registry
    from kgserver.sources import Sources

# Each command imports what only it needs when it runs (the validator, the reasoner, the web
# server): a command such as `curator list` then starts in about half the time.

_STORE_DIR = "kgserver.store_dir"  # where --store's directory is kept in the context's meta


def _store_option(required: bool, help_text: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return click.option(
        "--store",
        "store_dir",
        required=required,
        metavar="DIR",
        type=click.Path(file_okay=False, path_type=Path),
        callback=_remember_store,
        help=help_text,
    )


def _remember_store(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    """Keep --store's directory where the group finds it, to name the store if it proves damaged mid-command."""
    ctx.meta[_STORE_DIR] = value
    return value


def _pass_settings(command: Callable[..., None]) -> Callable[..., None]:
    """Give the command its Settings, read and checked when it runs, so commands that need none never fail on them."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        command(_settings(), *args, **kwargs)

    return run


def _settings() -> Settings:
    """The Settings from the environment; a bad LDNKG_BASE is the user's to fix, in one line."""
    try:
        return Settings.from_env()
    except ValueError as error:
        raise InputError(str(error)) from None


def _engine_options(command: Callable[..., None]) -> Callable[..., None]:
    """--engine and --engine-url: a store held by a SPARQL engine instead of --store DIR (store/location.py)."""
    command = click.option(
        "--engine-url", metavar="URL", help="The engine's base URL, such as http://127.0.0.1:8890 [env LDNKG_ENGINE_URL]."
    )(command)
    return click.option(
        "--engine", type=click.Choice(sorted(DIALECTS)),
        help="The store is this SPARQL engine's, not --store's (credentials from LDNKG_ENGINE_USER and "
        "LDNKG_ENGINE_PASSWORD, or the file LDNKG_ENGINE_CREDENTIALS) [env LDNKG_ENGINE].",
    )(command)


def setting_options(command: Callable[..., None]) -> Callable[..., None]:
    """An option for every server setting that declares a flag, typed and bounded by its declaration (config.py)."""
    for info in reversed(ServerSettings.declared()):
        if info.flag is None:
            continue
        if info.kind in ("int", "int?"):
            kind: click.ParamType = click.IntRange(_whole(info.minimum), _whole(info.maximum))
        elif info.kind == "float":
            kind = click.FloatRange(info.minimum, info.maximum)
        else:
            kind = click.STRING
        text = f"{info.help[0].upper()}{info.help[1:]} [env {info.variable}; default {info.default_text}]."
        command = click.option(info.flag, info.name, type=kind, multiple=info.kind == "list", help=text)(command)
    return command


def _whole(bound: float | None) -> int | None:
    return None if bound is None else int(bound)


class KgCommandGroup(click.Group):
    """A click group whose every failure ends in one line on stderr, never a traceback."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except KgError as error:
            if error.detail:
                click.echo(error.detail)
            _fail(error.message, error.exit_code)
        except click.exceptions.NoArgsIsHelpError as error:
            click.echo(error.format_message(), err=True)
            sys.exit(error.exit_code)
        except click.ClickException as error:
            _fail(error.format_message(), error.exit_code)
        except click.Abort:
            _fail("interrupted", 130)
        except OSError as error:
            _fail(f"{error.filename or 'system error'}: {error.strerror or error}", 2)
        except Exception as error:  # the user gets one line, whatever went wrong
            _fail(f"internal error ({type(error).__name__}: {error}); please report it", 2)
        sys.exit(code if isinstance(code, int) else 0)


    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a reader that stops (`| head`) ends it quietly with SIGPIPE's status, 141.

        Click would exit 1 for it, which here means "does not conform".
        """
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush cannot fail again
            sys.exit(128 + signal.SIGPIPE)
        except RuntimeError as error:  # RocksDB meeting a damaged block while a query or an export reads
            store_dir = ctx.meta.get(_STORE_DIR)
            if store_dir is None or not is_damage(error):
                raise
            raise damaged(store_dir, error) from None


def _fail(message: str, exit_code: int) -> None:
    click.echo(f"kgserver: error: {' '.join(message.split())}", err=True)
    sys.exit(exit_code)


@click.group(cls=KgCommandGroup)
def cli() -> None:
    """Build, query, validate and serve LDN-KG, the low-dose naltrexone knowledge graph.

    Sources are read from ontology/, graph/ and shapes/ under the project root
    (LDNKG_ROOT, by default this checkout).
    """


@cli.command()
@_store_option(required=False, help_text="Directory of the store to create or replace.")
@_engine_options
@_pass_settings
def build(settings: Settings, store_dir: Path | None, engine: str | None, engine_url: str | None) -> None:
    """Parse, validate and reason over the sources, then load them into the store at DIR (or an engine).

    Example: kgserver build --store var/store
    """
    from kgserver.build import build as build_store
    from kgserver.build import render_summary
    from kgserver.reasoning import require_java
    from kgserver.search.live import index_after_build

    location = StoreLocation.given(store_dir, engine, engine_url)
    require_java()
    summary = build_store(settings, location, progress=click.echo)
    index_after_build(settings, location, click.echo)
    click.echo(render_summary(summary))


@cli.command()
@_store_option(required=False, help_text="Directory of a built store.")
@_engine_options
@click.argument("sparql", required=False)
@click.option(
    "--file", "query_file", type=click.Path(dir_okay=False, path_type=Path), help="Read the query from a .rq file."
)
@click.option(
    "--format",
    "format_name",
    type=click.Choice([form.name for form in representations.offered("query-command")]),
    help="Serialise results instead of printing a table.",
)
@_pass_settings
def query(
    settings: Settings, store_dir: Path | None, engine: str | None, engine_url: str | None, sparql: str | None,
    query_file: Path | None, format_name: str | None,
) -> None:
    """Run a SPARQL query over all graphs of the store ('-' reads it from stdin).

    Example: kgserver query --store var/store 'SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }'
    """
    from kgserver import formats

    text = _query_text(sparql, query_file)
    store = StoreLocation.given(store_dir, engine, engine_url).open_reader(researchers=True)
    # Ctrl-C ends a query at once: the engine runs it without returning to Python, and it writes nothing
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    result = kgstore.query(store, text, settings.prefixes)
    if format_name is None:
        _write_all(f"{formats.render_text(result, settings.prefixes)}\n".encode())
    else:
        formats.write_named(result, format_name, settings.prefixes, sys.stdout.buffer)
        sys.stdout.buffer.flush()


def _write_all(data: bytes) -> None:
    """Write all of `data` to stdout, so a reader that stops (`| head`) is a BrokenPipeError, hence status 141.

    A single large write through sys.stdout that the reader's leaving cuts short is taken by
    CPython as done (the rest is dropped, no error), which would end the command with status 0.
    """
    sys.stdout.flush()
    left = memoryview(data)
    while left:
        left = left[os.write(sys.stdout.fileno(), left):]


def _query_text(sparql: str | None, query_file: Path | None) -> str:
    if sparql is not None and query_file is not None:
        raise InputError("give the query as an argument or with --file, not both")
    if query_file is not None:
        try:
            return _utf8(query_file.read_bytes(), str(query_file))
        except OSError as error:
            raise InputError(f"{query_file}: cannot read the query ({error.strerror})") from None
    if sparql is None:
        raise InputError("no query given; pass it as an argument, '-' for stdin, or --file F.rq")
    if sparql == "-":
        return _utf8(sys.stdin.buffer.read(), "standard input")
    return _utf8(os.fsencode(sparql), "the argument")  # bytes that are not UTF-8 reach Python as surrogates


def _utf8(data: bytes, name: str) -> str:
    """A query's bytes as text: UTF-8 (a byte order mark skipped), or a line saying where it is not."""
    try:
        return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"{name}: the query is not UTF-8 (byte {error.start})") from None


@cli.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_store_option(required=False, help_text="Validate in the context of this store (its data and live submissions) instead of the sources.")
@click.option(
    "--input-format",
    type=click.Choice(sorted(PARSERS)),
    help="RDF syntax of FILES; by default guessed from the extension.",
)
@_pass_settings
def validate_cmd(
    settings: Settings, files: tuple[Path, ...], output: str, store_dir: Path | None, input_format: str | None
) -> None:
    """Check additions in FILES against the shapes and the ontology, in the context of the graph.

    Exit status: 0 conforms, 1 does not conform, 2 bad input.

    Example: kgserver validate new-trial.ttl
    """
    from kgserver.curation.boundaries import DeclaredTerms, refusal_report
    from kgserver.parsing import parse_additions
    from kgserver.reasoning import require_java
    from kgserver.validation import render_json, render_text, validate_additions

    require_java()
    additions = parse_additions(files, settings.base, input_format)
    sources = _sources(settings, store_dir)
    declared = DeclaredTerms.of(sources.ontology)
    report = (refusal_report(additions, settings, declared)
              or validate_additions(additions, sources.data, sources.shapes, sources.ontology))
    click.echo(render_json(report) if output == "json" else render_text(report))
    if not report.conforms:
        sys.exit(1)


@cli.command()
@_store_option(required=False, help_text="Check this store's graphs instead of the sources.")
@_engine_options
@_pass_settings
def check(settings: Settings, store_dir: Path | None, engine: str | None, engine_url: str | None) -> None:
    """Validate the whole graph against the shapes and check its consistency with HermiT.

    With --store, every curator's submission in the store is checked again too, against the
    shapes and ontology the store holds now (after a rebuild from changed sources, the new
    ones), and those that no longer conform are listed; nothing is changed or dropped.

    Example: kgserver check --store var/store
    """
    from kgserver.reasoning import reason, require_java
    from kgserver.sources import read_sources, read_store_sources
    from kgserver.validation import render_text, validate

    require_java()
    given = store_dir is not None or engine is not None or engine_url is not None
    location = StoreLocation.given(store_dir, engine, engine_url) if given else None
    store = location.open_reader() if location is not None else None
    sources = read_store_sources(store, settings) if store is not None else read_sources(settings)
    if location is not None and not len(sources.ontology):  # an engine never built (a store's absence is caught above)
        raise InputError(f"{location.url or location.path} holds no LDN-KG dataset; build it first: {_build_command(location)}")
    report = validate(sources.data, sources.shapes, sources.ontology)
    click.echo(render_text(report))
    reasoning = reason(sources.ontology, sources.data)
    click.echo("consistent" if reasoning.consistent else f"inconsistent: {reasoning.explanation}")
    submissions_conform = store is None or _recheck_submissions(settings, store)
    if not (report.conforms and reasoning.consistent and submissions_conform):
        sys.exit(1)


def _recheck_submissions(settings: Settings, store: kgstore.GraphStore) -> bool:
    """Print each stored submission's verdict under the current shapes; do all still conform?"""
    from kgserver.curation.checks import Checker
    from kgserver.validation import render_text

    checker = Checker(settings)
    try:
        verdicts = checker.recheck_submissions(store)
    finally:
        checker.close()
    failing = [(submission, report) for submission, report in verdicts if not report.conforms]
    click.echo(f"submissions: {len(verdicts)} checked, {len(failing)} no longer conform")
    for submission, report in failing:
        click.echo(f"submission {submission} no longer conforms:")
        click.echo(render_text(report))
    return not failing


@cli.command()
@_store_option(required=False, help_text="Directory of a built store.")
@_engine_options
@click.option(
    "--format", "format_name", type=click.Choice([form.name for form in representations.offered("export-command")]),
    default=representations.offered("export-command")[0].name, show_default=True,
)
@_pass_settings
def export(settings: Settings, store_dir: Path | None, engine: str | None, engine_url: str | None, format_name: str) -> None:
    """Write every quad of the store to stdout, named graphs included.

    Example: kgserver export --store var/store > ldn-kg.nq
    """
    location = StoreLocation.given(store_dir, engine, engine_url)
    if not location.embedded:  # an engine never built into would be exported as nothing, with success
        _require_dataset(location, settings)
    store = location.open_reader()
    engine = representations.BY_NAME[format_name].engine
    assert isinstance(engine, RdfFormat)
    kgstore.export(store, sys.stdout.buffer, engine)
    sys.stdout.buffer.flush()


@cli.command()
@_store_option(required=False, help_text="Directory of a built store.")
@_engine_options
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 1),
    help="server processes: one, the store's one writer; use --threads and --query-workers for concurrency.",
)
@click.option("--threads", default=16, show_default=True, type=click.IntRange(1, 256), help="Threads of the server: requests answered at once.")
@setting_options
@_pass_settings
def serve(
    settings: Settings, store_dir: Path | None, engine: str | None, engine_url: str | None, host: str, port: int,
    workers: int, threads: int, **given: Any,
) -> None:
    """Serve the store over HTTP with waitress: the SPARQL endpoint, pages, dumps, the change feed and curation.

    Example: kgserver serve --store var/store --port 8000 --query-timeout 5
    """
    try:
        limits = ServerSettings.from_env(**{name: value or None if isinstance(value, tuple) else value
                                            for name, value in given.items()})
    except ValueError as error:
        raise InputError(str(error)) from None
    location = StoreLocation.given(store_dir, engine, engine_url)
    location.require()  # fail here, in one line, rather than in every worker
    if location.path is not None:  # a damaged registry fails here, not at the first curator's request
        from kgserver.curation.curators import read_curators, registry_path

        read_curators(registry_path(location.path))
    _require_dataset(location, settings)
    _require_listenable(host, port)
    from kgserver.web.server import serve as run_server

    run_server(settings, location, limits, host=host, port=port, workers=workers, threads=threads)


def _require_dataset(location: StoreLocation, settings: Settings) -> None:
    """Refuse a store or engine that holds no dataset under this base: served, it would answer nothing and check nothing.

    A dataset is built for one LDNKG_BASE: under another, no graph of it is found, so the
    curation gate would see no ontology or shapes and commit whatever came.
    """
    if location.path is not None:
        version = kgstore.read_existing(location.path, lambda store: kgstore.dataset_version(store, settings), None)
    else:
        store = location.open_reader(read_seconds=10.0)
        try:
            version = kgstore.dataset_version(store, settings)
        finally:
            store.close()  # type: ignore[attr-defined]
    if version is None:
        raise InputError(f"{location} holds no LDN-KG dataset under {settings.base} (built with another LDNKG_BASE?); "
                         f"give the base it was built with, or build it: {_build_command(location)}")


def _build_command(location: StoreLocation) -> str:
    """The command that builds the dataset at `location`, as a hint in a refusal."""
    if location.engine is not None:
        return f"kgserver build --engine {location.engine} --engine-url {location.url}"
    return f"kgserver build --store {location.path}"


def _require_listenable(host: str, port: int) -> None:
    """Fail in one line unless the server can listen at host:port, before it starts its query processes and JVM.

    Binds to every address the host resolves to, as waitress then does, and lets go at once.
    """
    if not host.strip():
        raise InputError("--host must be an address or a host name of this machine, such as 127.0.0.1")
    try:
        addresses = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, socket.IPPROTO_TCP,
                                       socket.AI_PASSIVE)
    except (OSError, ValueError) as error:  # gaierror; UnicodeError for a name IDNA refuses
        reason = error.strerror if isinstance(error, OSError) else str(error)
        raise InputError(f"--host {host!r} is not an address or a host name this machine resolves ({reason})") from None
    for family, kind, protocol, _name, address in addresses:
        with socket.socket(family, kind, protocol) as trial:
            trial.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                trial.bind(address)
            except OSError as error:
                raise InputError(f"cannot listen on --host {host} --port {port} ({error.strerror})") from None


@cli.command()
def settings() -> None:
    """Print the server's settings (flag, LDNKG_ variable, default, meaning) as the README's Markdown table.

    Example: kgserver settings
    """
    click.echo(settings_table(), nl=False)


@cli.group()
def curator() -> None:
    """Manage the curators who may submit and retract additions on a served store.

    The registry is the file DIR.curators.json beside an embedded store; in front of an engine
    (--engine, with the engine's credentials for updates) it is kgserver's private graph in the
    engine, shared by every frontend. A running server sees changes at once.
    """


def _registry(store_dir: Path | None, engine: str | None, engine_url: str | None, built: bool = False) -> Registry:
    """The curators of the engine given (which must answer), or of the store (which must be built when `built`)."""
    from kgserver.curation.engine_curators import open_registry

    location = StoreLocation.given(store_dir, engine, engine_url)
    if built or not location.embedded:
        location.require()
    return open_registry(location, functools.cache(location.open_reader))  # connected once, for reads and the update


@curator.command("add")
@click.argument("name")
@_store_option(required=False, help_text="Directory of the store the curator will submit to.")
@_engine_options
def curator_add(name: str, store_dir: Path | None, engine: str | None, engine_url: str | None) -> None:
    """Add curator NAME and print its bearer token, once, as the last line.

    Example: kgserver curator add ada --store var/store
    """
    curator, token = _registry(store_dir, engine, engine_url, built=True).add(name)
    click.echo(f"curator '{curator.name}' added; its token follows (shown only now, keep it secret):")
    click.echo(token)


@curator.command("list")
@_store_option(required=False, help_text="Directory of the store.")
@_engine_options
def curator_list(store_dir: Path | None, engine: str | None, engine_url: str | None) -> None:
    """List the curators: name, when added, and when revoked if so.

    Example: kgserver curator list --store var/store
    """
    curators = _registry(store_dir, engine, engine_url, built=True).curators()
    if not curators:
        click.echo("no curators yet; add one with: kgserver curator add NAME --store DIR")
        return
    width = max(len("name"), *(len(curator.name) for curator in curators))
    click.echo(f"{'name':<{width}}  {'created':<20}  revoked")
    for curator in curators:
        click.echo(f"{curator.name:<{width}}  {curator.created:<20}  {curator.revoked or '-'}")


@curator.command("revoke")
@click.argument("name")
@_store_option(required=False, help_text="Directory of the store.")
@_engine_options
def curator_revoke(name: str, store_dir: Path | None, engine: str | None, engine_url: str | None) -> None:
    """Revoke curator NAME's token; its past submissions stay.

    Example: kgserver curator revoke ada --store var/store
    """
    revoked = _registry(store_dir, engine, engine_url).revoke(name)
    click.echo(f"curator '{revoked.name}' revoked at {revoked.revoked}")


def _sources(settings: Settings, store_dir: Path | None) -> Sources:
    """The sources, or the graphs a store holds with its live submissions joining the data.

    An addition is judged in the context the server judges it in: the data and every
    submission in force, so the command and /validate agree.
    """
    from kgserver import changes
    from kgserver.sources import read_sources, read_store_sources

    if not store_dir:
        return read_sources(settings)
    store = kgstore.open_read_only(store_dir)
    sources = read_store_sources(store, settings)
    data = sources.data
    for graph in changes.read_state(store, settings).live_under(settings.submission_graphs):
        data += kgstore.read_graph(store, graph)  # rdflib's += adds to the graph itself
    return sources


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="kgserver")
