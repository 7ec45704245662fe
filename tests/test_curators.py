"""An operator manages curators with `kgserver curator`: each gets a token once, which can be revoked.

The registry is a file beside the store that keeps only hashes of the tokens, so reading it
grants nothing, and a rebuild that replaces the store directory leaves it alone.
"""

from __future__ import annotations

import hashlib
import json
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs the kgserver command and rebuilds


def registry(store: Path) -> Path:
    return store.with_name(f"{store.name}.curators.json")


def test_adding_a_curator_prints_its_token_once_and_keeps_only_a_hash(kgserver, own_store):
    result = kgserver("curator", "add", "ada", "--store", own_store)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert len(token) >= 40 and " " not in token
    kept = registry(own_store).read_text()
    assert token not in kept
    [entry] = json.loads(kept)["curators"]
    assert entry["name"] == "ada"
    assert entry["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert stat.S_IMODE(registry(own_store).stat().st_mode) == 0o600
    second = kgserver("curator", "add", "grace", "--store", own_store).stdout.strip().splitlines()[-1]
    assert second != token


def test_a_taken_or_unsafe_name_is_refused_in_one_line(kgserver, own_store):
    assert kgserver("curator", "add", "ada", "--store", own_store).returncode == 0
    duplicate = kgserver("curator", "add", "ada", "--store", own_store)
    assert duplicate.returncode == 1
    assert duplicate.stderr.strip().count("\n") == 0
    assert "exists already" in duplicate.stderr
    for bad in ("Ada", "a b", "../x", "ada-", "ada/evil", "x" * 65):
        refused = kgserver("curator", "add", bad, "--store", own_store)
        assert refused.returncode == 2, bad  # bad input, as everywhere; 1 is the registry's refusal
        assert "is not a curator name" in refused.stderr
        assert "Traceback" not in refused.stderr


def test_list_shows_names_dates_and_revocations(kgserver, own_store, tmp_path):
    assert "no curators yet" in kgserver("curator", "list", "--store", own_store).stdout
    nowhere = kgserver("curator", "list", "--store", tmp_path / "never-built")
    assert nowhere.returncode == 2 and "no store here" in nowhere.stderr, nowhere.stderr
    kgserver("curator", "add", "ada", "--store", own_store)
    kgserver("curator", "add", "grace", "--store", own_store)
    revoked = kgserver("curator", "revoke", "grace", "--store", own_store)
    assert revoked.returncode == 0, revoked.stderr
    rows = {line.split()[0]: line.split()[1:] for line in kgserver("curator", "list", "--store", own_store).stdout.splitlines()[1:]}
    assert rows["ada"][1] == "-"
    assert rows["grace"][1] != "-"
    again = kgserver("curator", "revoke", "grace", "--store", own_store)
    assert again.returncode == 1 and "revoked already" in again.stderr
    unknown = kgserver("curator", "revoke", "nobody", "--store", own_store)
    assert unknown.returncode == 1 and "no curator named 'nobody'" in unknown.stderr


def test_curators_added_at_the_same_time_are_all_kept(kgserver, own_store):
    names = [f"curator-{number}" for number in range(8)]
    with ThreadPoolExecutor(len(names)) as pool:
        results = list(pool.map(lambda name: kgserver("curator", "add", name, "--store", own_store), names))
    assert all(result.returncode == 0 for result in results), [r.stderr for r in results]
    kept = {entry["name"] for entry in json.loads(registry(own_store).read_text())["curators"]}
    assert kept == set(names)


def test_a_rebuild_keeps_the_curators(kgserver, own_store, sources_root):
    kgserver("curator", "add", "ada", "--store", own_store)
    rebuilt = kgserver("build", "--store", own_store, root=sources_root)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "ada" in kgserver("curator", "list", "--store", own_store).stdout


def test_adding_a_curator_needs_a_store(kgserver, tmp_path):
    result = kgserver("curator", "add", "ada", "--store", tmp_path / "nowhere")
    assert result.returncode == 2
    assert "no store here" in result.stderr


def test_a_registry_file_left_beside_an_engines_files_is_named_in_the_log_as_no_longer_read(tmp_path, monkeypatch, caplog):
    """Curators were once kept in a file beside a writer's local files; in front of an engine they are the engine's now."""
    from kgserver.curation.curators import add_curator, registry_path
    from kgserver.curation.engine_curators import EngineCurators, open_registry
    from kgserver.store.location import StoreLocation

    monkeypatch.setenv("LDNKG_STATE_DIR", str(tmp_path))
    location = StoreLocation.given(None, "oxigraph", "http://127.0.0.1:9")
    stale = registry_path(location.local_path)
    stale.parent.mkdir(parents=True)
    add_curator(stale, "ada")
    with caplog.at_level("WARNING", logger="kgserver"):
        registry = open_registry(location, lambda: pytest.fail("the engine is not asked while the registry is opened"))
    assert isinstance(registry, EngineCurators)
    assert f"{stale} is not read" in caplog.text and "kgserver curator add NAME --engine" in caplog.text
