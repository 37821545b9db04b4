"""`verify` checks the store by default: each tamper class of the store is named, never a traceback, and
verification writes nothing into what it verifies (issue 12, item 3 and the "Also" list)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from dpone_certify.certification.artifact_store import store_indexed_artifacts
from dpone_certify.evidence.store import EvidenceStore

from .conftest import RUNS, Evidence, tree_bytes


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dpone_certify.evidence", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def stored(evidence: Evidence) -> Evidence:
    """The real chain, with each run's indexed artifacts kept in the store by the pipeline's own function."""
    for k, run in enumerate(RUNS):
        store_indexed_artifacts(evidence.root, evidence.index_paths[k], run)
    return evidence


def _breaks(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line.split(" ")[1] for line in done.stdout.splitlines() if line.startswith("BREAK ")]


def _manifest(evidence: Evidence, run: str) -> Path:
    return evidence.root / "store" / "runs" / f"{run}.json"


def _item(manifest: dict, suffix: str) -> tuple[str, dict]:
    """The manifest entry of the artifact whose name ends with `suffix` (names are `<root>/<path under it>`)."""
    (name,) = [n for n in manifest["artifacts"] if n.endswith(suffix)]
    return name, manifest["artifacts"][name]


def test_intact_store_is_verified_by_default(stored: Evidence, tmp_path: Path) -> None:
    done = cli("verify", str(stored.root), "--no-dpone", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "INTACT" in done.stdout
    objects = len(list((stored.root / "store" / "objects").glob("??/*")))
    assert f"{objects} store objects" in done.stdout and objects > 0


def test_edited_blob_is_store_object_corrupt(stored: Evidence, tmp_path: Path) -> None:
    manifest = json.loads(_manifest(stored, RUNS[0]).read_text())
    digest = _item(manifest, "benchmark_baseline/benchmark_baseline.json")[1]["digest"]
    obj = EvidenceStore(stored.root).object_path(digest)
    os.chmod(obj, 0o644)
    obj.write_bytes(zlib.compress(zlib.decompress(obj.read_bytes()).replace(b"true", b"false")))
    done = cli("verify", str(stored.root), "--no-dpone", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert _breaks(done) == ["store_object_corrupt"]
    assert str(obj) in done.stdout and "Traceback" not in done.stderr


def test_deleted_blob_is_store_object_missing(stored: Evidence, tmp_path: Path) -> None:
    manifest = json.loads(_manifest(stored, RUNS[2]).read_text())
    name, item = _item(manifest, "strategy/strategy_certification_bundle.json")
    EvidenceStore(stored.root).object_path(item["digest"]).unlink()
    done = cli("verify", str(stored.root), "--no-dpone", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert set(_breaks(done)) == {"store_object_missing"}
    assert f"{RUNS[2]}:{name}" in done.stdout


def test_entry_pointing_at_another_objects_digest_is_manifest_mismatch(stored: Evidence, tmp_path: Path) -> None:
    path = _manifest(stored, RUNS[1])
    manifest = json.loads(path.read_text())
    target = _item(manifest, "benchmark_baseline/benchmark_baseline.json")[1]
    other = _item(json.loads(_manifest(stored, RUNS[0]).read_text()), "benchmark_baseline/benchmark_baseline.json")[1]
    assert other["digest"] != target["digest"]
    # The forger keeps the manifest consistent with the object it now points at (digest and size).
    target["digest"], target["size"] = other["digest"], other["size"]
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    done = cli("verify", str(stored.root), "--no-dpone", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert _breaks(done) == ["manifest_mismatch"]
    assert "chained artifact index" in done.stdout


def test_unparsable_manifest_is_manifest_invalid_not_a_traceback(stored: Evidence, tmp_path: Path) -> None:
    _manifest(stored, RUNS[0]).write_text('{"run_id": "run-a", "artifacts": ')
    done = cli("verify", str(stored.root), "--no-dpone", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert _breaks(done) == ["manifest_invalid"]
    assert "Traceback" not in done.stdout + done.stderr


def test_verify_writes_nothing_into_what_it_verifies(stored: Evidence, tmp_path: Path) -> None:
    lock = stored.root / "chain.lock"
    assert lock.exists()  # created by the appends, not by verification
    before = tree_bytes(stored.root)
    mtimes = {p: p.stat().st_mtime_ns for p in stored.root.rglob("*")}
    done = cli("verify", str(stored.root), cwd=tmp_path)  # dpone's own verify included
    assert done.returncode == 0, done.stdout + done.stderr
    assert tree_bytes(stored.root) == before
    assert {p: p.stat().st_mtime_ns for p in stored.root.rglob("*")} == mtimes


def test_empty_folder_says_there_is_no_chain_and_stays_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = cli("verify", str(empty), cwd=tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "NO CHAIN" in done.stdout and "BROKEN" not in done.stdout
    assert list(empty.iterdir()) == []


def test_a_store_break_stops_the_chain(stored: Evidence) -> None:
    from dpone_certify.evidence.chain import HALT_FILENAME
    from dpone_certify.evidence.guard import guarded_append

    manifest = json.loads(_manifest(stored, RUNS[0]).read_text())
    obj = EvidenceStore(stored.root).object_path(
        _item(manifest, "benchmark_baseline/benchmark_baseline.json")[1]["digest"]
    )
    os.chmod(obj, 0o644)
    obj.write_bytes(b"not zlib")
    entries = stored.chain_index()["entry_count"]
    for release in ("after-corruption-1", "after-corruption-2"):
        result = guarded_append(
            stored.root,
            release_id=release,
            artifact_index_path=stored.index_paths[0],
            adapter=stored.adapter,
            anchor=None,
        )
        assert result.halted and "chain.halted" in result.blockers and "chain.store_object_corrupt" in result.blockers
        assert result.appended is None and stored.chain_index()["entry_count"] == entries
    halt = json.loads((stored.root / HALT_FILENAME).read_text())
    assert [b["break_class"] for b in halt["breaks"]] == ["store_object_corrupt"]
