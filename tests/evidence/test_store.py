"""Content-addressed store: dedup across runs, manifests, materialize round trip, object verification."""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from pathlib import Path

import pytest

from dpone_certify.evidence.store import EvidenceStore, StoreError

from .conftest import Evidence


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_identical_file_in_two_runs_is_stored_once(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "root")
    data = json.dumps({"rows": list(range(5000))}).encode()
    a = write(tmp_path / "run1" / "report.json", data)
    b = write(tmp_path / "run2" / "report.json", data)
    first = store.put_file(a, name="report.json", producer="matrix", run_id="run1")
    second = store.put_file(b, name="report.json", producer="matrix", run_id="run2")
    assert first.digest == second.digest == hashlib.sha256(data).hexdigest()
    assert (first.new, second.new) == (True, False)
    assert second.added_bytes == 0 and first.added_bytes == first.stored_size < len(data)
    objects = list((tmp_path / "root" / "store" / "objects").rglob("*"))
    assert [p.name for p in objects if p.is_file()] == [first.digest]
    assert store.object_path(first.digest).parent.name == first.digest[:2]
    store.write_run_manifest("run1", [first])
    store.write_run_manifest("run2", [second])
    stats = store.stats()
    assert (stats.object_count, stats.run_count) == (1, 2)
    assert stats.logical_raw_bytes == 2 * len(data) and stats.unique_raw_bytes == len(data)
    assert stats.stored_bytes == first.stored_size and stats.ratio < 0.5


def test_put_tree_manifest_and_materialize_round_trip(evidence: Evidence, tmp_path: Path) -> None:
    store = EvidenceStore(evidence.root)
    run_dir = evidence.run_dir(0)
    stored = store.put_tree(
        run_dir / "benchmark_baseline",
        producer="benchmark_baseline",
        run_id="run-a",
        prefix="benchmark_baseline/",
    )
    stored += store.put_tree(run_dir / "strategy", producer="strategy_bundle", run_id="run-a", prefix="strategy/")
    path = store.write_run_manifest("run-a", stored[:2])
    store.write_run_manifest("run-a", stored[2:])  # a second asset of the same run extends the manifest
    manifest = json.loads(path.read_text())
    assert path == evidence.root / "store" / "runs" / "run-a.json"
    assert manifest["artifact_count"] == 4
    item = manifest["artifacts"]["benchmark_baseline/benchmark_baseline.json"]
    original = run_dir / "benchmark_baseline" / "benchmark_baseline.json"
    assert item == {
        "digest": hashlib.sha256(original.read_bytes()).hexdigest(),
        "size": original.stat().st_size,
        "producer": "benchmark_baseline",
        "run_id": "run-a",
    }
    out = store.materialize("run-a", tmp_path / "plain")
    assert len(out) == 4
    for name in manifest["artifacts"]:
        assert (tmp_path / "plain" / name).read_bytes() == (run_dir / name).read_bytes()
    assert store.verify_objects().ok


def test_verify_objects_names_a_corrupt_object(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    item = store.put_file(write(tmp_path / "a.json", b'{"passed": true}'), name="a.json", producer="p", run_id="r1")
    store.write_run_manifest("r1", [item])
    obj = store.object_path(item.digest)
    os.chmod(obj, 0o644)
    obj.write_bytes(zlib.compress(b'{"passed": false}'))
    result = store.verify_objects()
    assert not result.ok
    assert [(f.kind, f.artifact) for f in result.findings] == [("store_object_corrupt", str(obj))]
    assert result.blockers == ["chain.store_object_corrupt"]
    with pytest.raises(StoreError, match="corrupt"):
        store.materialize("r1", tmp_path / "out")
    assert not (tmp_path / "out" / "a.json").exists()  # no half-written artifact


def test_unsafe_names_and_run_ids_are_refused(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    src = write(tmp_path / "x.json", b"{}")
    for name in ("../x.json", "/abs/x.json", ""):
        with pytest.raises(StoreError):
            store.put_file(src, name=name, producer="p", run_id="r")
    with pytest.raises(StoreError):
        store.manifest_path("../escape")
