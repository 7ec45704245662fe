"""The embedded store on disk: pyoxigraph's RocksDB store opened for writing or reading, built and swapped whole."""

from __future__ import annotations

import gc
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from pyoxigraph import Store

from kgserver.errors import InputError, KgError, UnavailableError

T = TypeVar("T")

_BUILT_MARKER = "kgserver-built"
_DAMAGED_RETRY_SECONDS = 300  # damage does not mend itself: a load balancer may send clients elsewhere meanwhile


def open_store(path: Path) -> Store:
    """Open (or create) a writable on-disk store."""
    try:
        return Store(str(path))
    except OSError as error:
        raise KgError(f"{path}: cannot open the store for writing ({error})") from None


def open_writable(path: Path) -> Store:
    """Open an existing store for writing; OSError when another process holds it or its files are read-only."""
    with reporting_damage(path):
        return Store(str(path))


def require_store(path: Path) -> None:
    """Fail with a hint unless a built store exists at `path`, without opening it.

    Opening starts RocksDB's background threads, which a process must not have before it
    forks (a forked child crashes on exit if it did), so the server checks with this.
    """
    if not (path / "CURRENT").is_file():
        _refuse_damaged_or_foreign(path, "no store here, but other files; build one in a new or empty directory: "
                                         "kgserver build --store DIR")  # build would refuse it: say what it needs
        raise InputError(f"{path}: no store here; create it with: kgserver build --store {path}")


def _refuse_damaged_or_foreign(path: Path, foreign: str) -> None:
    """For a directory with no store in it: damage if a build once made it a store, `foreign` if it holds other files."""
    if (path / _BUILT_MARKER).is_file():  # built once, then a file of RocksDB's went missing
        raise damaged(path, "its CURRENT file is missing")
    if path.is_dir() and next(path.iterdir(), None) is not None:
        raise InputError(f"{path}: {foreign}")


def open_read_only(path: Path, attempts: int = 20) -> Store:
    """Open an existing store for reading only, as the query processes and the query command do.

    A read-only open lists the live files and then opens them; when the writer (a running
    server) deletes one in between, as its background compaction does, RocksDB reports
    corruption (a RuntimeError). The next attempt sees the new list; corruption on every
    attempt is damage, reported as such.
    """
    require_store(path)
    for attempt in range(attempts):
        try:
            with reporting_damage(path):
                return Store.read_only(str(path))
        except OSError as error:
            raise KgError(f"{path}: cannot open the store ({error})") from None
        except KgError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.01)
    raise AssertionError("unreachable")


def damaged(path: Path, detail: object) -> KgError:
    """The one line for a store whose files RocksDB cannot use: which store, what RocksDB said, and the way out.

    A damaged store cannot be repaired here, and a build over it could not carry over the
    curators' additions it holds, so the way out keeps it: set it aside, build anew.
    """
    said = " ".join(str(detail).replace(f"{path}/", "").replace("Corruption: Corruption:", "Corruption:").split())
    return KgError(f"{path}: the store is damaged and cannot be read ({said}); "
                   f"move it aside and build it again: kgserver build --store {path}")


@contextmanager
def reporting_damage(path: Path | None) -> Iterator[None]:
    """Within it, RocksDB finding the store at `path` damaged (on opening, or in a block a query reads) is `damaged`."""
    try:
        yield
    except (RuntimeError, OSError) as error:
        if path is None or not is_damage(error):
            raise
        raise damaged(path, error) from None


def damaged_to_clients() -> UnavailableError:
    """What an HTTP client is told of a damaged store: a 503, without the server's paths or the operator's remedy."""
    return UnavailableError("the store is damaged and cannot be read; its operator must build it again",
                            retry_after=_DAMAGED_RETRY_SECONDS)


def is_damage(error: Exception) -> bool:
    """RocksDB's word for files that fail their checks, or for a file its manifest lists that is gone."""
    text = str(error)
    return "Corruption" in text or isinstance(error, OSError) and "No such file or directory" in text


def write_store(target: Path, fill: Callable[[Store], T]) -> T:
    """Build a new store with `fill` and put it at `target` only if `fill` succeeds.

    The store is written into a sibling directory `target.tmp-<pid>` and renamed over
    `target` at the end, so a failed build never leaves a half-written store behind and
    the previous store stays as it was. `fill` must not keep a reference to the store.
    """
    require_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_stagings(target)
    staging = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        store = open_store(staging)
        outcome = fill(store)
        store.flush()
        del store
        gc.collect()  # the store closes when its last reference goes; it must be closed to move
        (staging / _BUILT_MARKER).write_text(f"{time.time():.0f}\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    swap_into_place(staging, target)
    return outcome


def _remove_abandoned_stagings(target: Path) -> None:
    """Delete what builds killed mid-load left beside `target` (`target.tmp-<pid>` of a process gone)."""
    for staging in target.parent.glob(f"{target.name}.tmp-*"):
        pid = staging.name.rpartition(".tmp-")[2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(staging, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Whether a process of this id runs (another build may be writing its staging store now)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def require_replaceable(target: Path) -> None:
    """Refuse a target that a new store would wrongly replace: a file, or a directory holding something other than a store.

    The new store replaces the directory whole, so whatever else it held would be deleted.
    """
    if target.is_file():
        raise InputError(f"{target}: is a file; give --store a directory (new, empty or a store)")
    if target.is_dir() and not (target / "CURRENT").is_file():  # a damaged store's additions may still be recovered
        _refuse_damaged_or_foreign(target, "holds files but no store, and a build replaces the directory whole; "
                                           "give --store a new or empty directory, or a store")


def built_at(path: Path) -> float:
    """When the store at `path` was built (epoch seconds), for HTTP Last-Modified.

    `write_store` leaves a marker file whose mtime is the build time; a store made
    another way falls back to the mtime of RocksDB's CURRENT file.
    """
    marker = path / _BUILT_MARKER
    return (marker if marker.is_file() else path / "CURRENT").stat().st_mtime


def swap_into_place(staging: Path, target: Path) -> None:
    """Put the directory `staging` at `target` by renames, the old one (if any) put back if that fails, then removed."""
    retired = target.with_name(f"{target.name}.old-{os.getpid()}")
    had_target = target.exists()
    if had_target:
        os.replace(target, retired)
    try:
        os.replace(staging, target)
    except OSError:
        if had_target:
            os.replace(retired, target)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def read_existing(path: Path, read: Callable[[Store], T], default: T) -> T:
    """Apply `read` to the store at `path` opened read-only and close it again; `default` if none is there."""
    if not (path / "CURRENT").is_file():
        return default
    store = open_read_only(path)
    try:
        return read(store)
    finally:
        del store
        gc.collect()


def read_replaced(path: Path, read: Callable[[Store], T], default: T) -> T:
    """Like `read_existing`, for a store about to be replaced: refused while another process has it open.

    A server holds its store open for writing; swapping the directory under it would send
    its later commits (acknowledged submissions) into a deleted directory. Opening the store
    for writing is how we learn that no one else has it: RocksDB lets one process do so.
    """
    if not (path / "CURRENT").is_file():
        return default
    try:
        with reporting_damage(path):
            store = Store(str(path))
    except OSError as error:
        if "lock" in str(error).lower():
            raise InputError(
                f"{path}: the store is open in another process (a running kgserver serve?); stop it before rebuilding"
            ) from None
        raise KgError(f"{path}: cannot open the store ({error})") from None
    try:
        return read(store)
    finally:
        del store
        gc.collect()


