"""append_release: idempotent per release id, serialised across threads and processes, and a crash, timeout or
kill never leaves a partial entry. Real dpone throughout."""

from __future__ import annotations

import multiprocessing
import os
import threading
from pathlib import Path
from typing import Any

from dpone_certify.dpone.adapter import DponeAdapter, DponeCall
from dpone_certify.evidence.chain import (
    JOURNAL_FILENAME,
    AppendResult,
    append_release,
    dpone_safe_release,
    read_head,
    unique_release_id,
)
from dpone_certify.evidence.verify import BreakClass, verify_evidence

from .conftest import Evidence, tree_bytes


def chain_state(evidence: Evidence) -> dict[str, bytes]:
    state = tree_bytes(evidence.chain_dir)
    state["<head>"] = (evidence.root / "chain_head.json").read_bytes()
    return state


def test_unique_release_id_is_deterministic_and_filename_safe() -> None:
    a = unique_release_id("0.88.0 rc/1", "0f3c2a9e-1b2c-4d5e-8f90-123456789abc")
    assert a == unique_release_id("0.88.0 rc/1", "0f3c2a9e-1b2c-4d5e-8f90-123456789abc")
    assert a != unique_release_id("0.88.0 rc/1", "another-run")
    assert dpone_safe_release(a) == a  # dpone's file name is exactly <id>__evidence_chain.json
    long = unique_release_id("r" * 500, "x" * 300)
    assert dpone_safe_release(long) == long and len(long) < 200


def test_same_release_twice_appends_once(evidence: Evidence) -> None:
    before = chain_state(evidence)
    again = append_release(
        evidence.root,
        release_id=evidence.releases[0],
        artifact_index_path=evidence.index_paths[0],
        adapter=evidence.adapter,
    )
    assert (again.appended, again.reason, again.position) == (False, "already_recorded", 0)
    assert again.ok and again.blockers == []
    assert again.chain_hash == evidence.chain_index()["entries"][0]["chain_hash"]
    assert chain_state(evidence) == before
    report = verify_evidence(evidence.root, adapter=evidence.adapter)
    assert report.intact and report.dpone_verified is True and report.entry_count == 3


def _append(evidence: Evidence, release: str, index: Path, adapter: DponeAdapter) -> AppendResult:
    return append_release(evidence.root, release_id=release, artifact_index_path=index, adapter=adapter)


def test_two_threads_append_different_releases(evidence: Evidence) -> None:
    results: dict[str, AppendResult] = {}
    barrier = threading.Barrier(2)

    def worker(release: str, index: Path) -> None:
        barrier.wait()
        results[release] = _append(evidence, release, index, evidence.adapter)

    threads = [
        threading.Thread(target=worker, args=("thread-1", evidence.index_paths[0])),
        threading.Thread(target=worker, args=("thread-2", evidence.index_paths[1])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r.appended for r in results.values()), results
    assert sorted(r.position or 0 for r in results.values()) == [3, 4]
    report = verify_evidence(evidence.root, adapter=evidence.adapter)
    assert report.intact and report.dpone_verified is True and report.entry_count == 5
    head = read_head(evidence.root)
    assert head is not None and set(head.releases[3:]) == {"thread-1", "thread-2"}


def _process_append(root: str, release: str, index: str, queue: Any) -> None:
    result = append_release(Path(root), release_id=release, artifact_index_path=Path(index), adapter=DponeAdapter())
    queue.put(result.model_dump(mode="json"))


def test_two_processes_append_different_releases(evidence: Evidence) -> None:
    ctx = multiprocessing.get_context("fork")  # forks of the warm test process: seconds, not a cold start
    queue = ctx.Queue()
    procs = [
        ctx.Process(
            target=_process_append,
            args=(str(evidence.root), f"proc-{k}", str(evidence.index_paths[k]), queue),
        )
        for k in (0, 1)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert sorted(r["position"] for r in results) == [3, 4]
    assert all(r["appended"] for r in results)
    report = verify_evidence(evidence.root, adapter=evidence.adapter)
    assert report.intact and report.dpone_verified is True and report.entry_count == 5


def test_dpone_crash_leaves_the_chain_unchanged(evidence: Evidence, tmp_path: Path) -> None:
    before = chain_state(evidence)
    result = _append(evidence, "crash-release", tmp_path / "no-such-index.json", evidence.adapter)
    assert (result.appended, result.reason) == (False, "failed")
    assert result.dpone_outcome == "crashed"
    assert result.blockers == [
        "chain.append_failed",
        "gate.crashed:evidence_chain",
        "chain.artifact_index_missing",
    ]
    assert "FileNotFoundError" in result.detail
    assert chain_state(evidence) == before
    assert not (evidence.root / JOURNAL_FILENAME).exists()
    assert verify_evidence(evidence.root, adapter=evidence.adapter).intact


def test_dpone_timeout_leaves_the_chain_unchanged(evidence: Evidence) -> None:
    before = chain_state(evidence)
    result = _append(evidence, "slow-release", evidence.index_paths[0], DponeAdapter(timeout_seconds=0.01))
    assert result.reason == "failed"
    assert result.blockers == ["chain.append_failed", "gate.timeout:evidence_chain"]
    assert chain_state(evidence) == before
    assert verify_evidence(evidence.root, adapter=evidence.adapter).intact


class _KilledAfterDpone(DponeAdapter):
    """Real dpone runs and writes its entry; then our process dies before it can write the head."""

    def cli(self, gate: str, argv: Any, **kw: Any) -> DponeCall:
        super().cli(gate, argv, **kw)
        os._exit(9)


def _killed_append(root: str, index: str) -> None:
    append_release(Path(root), release_id="killed", artifact_index_path=Path(index), adapter=_KilledAfterDpone())


def test_append_killed_mid_way_is_rolled_back_by_the_next_append(evidence: Evidence) -> None:
    before = chain_state(evidence)
    proc = multiprocessing.get_context("fork").Process(
        target=_killed_append, args=(str(evidence.root), str(evidence.index_paths[0]))
    )
    proc.start()
    proc.join(60)
    assert proc.exitcode == 9
    assert (evidence.root / JOURNAL_FILENAME).exists()
    assert evidence.chain_index()["entry_count"] == 4  # dpone's entry is there, the head does not know it

    report = verify_evidence(evidence.root, adapter=evidence.adapter)
    assert [(b.break_class, b.position, b.release) for b in report.breaks] == [(BreakClass.ENTRY_INSERTED, 3, "killed")]
    assert any("interrupted" in n for n in report.notes)

    # A retry of the killed step rolls the half-done append back and appends it properly.
    retry = _append(evidence, "killed", evidence.index_paths[0], evidence.adapter)
    assert retry.appended and retry.position == 3
    assert retry.recovered and "rolled back" in retry.recovered
    assert not (evidence.root / JOURNAL_FILENAME).exists()
    after = verify_evidence(evidence.root, adapter=evidence.adapter)
    assert after.intact and after.dpone_verified is True and after.entry_count == 4
    # Apart from the new entry (files, index record, head), the chain is what it was before the kill.
    now = chain_state(evidence)
    assert {k for k in now if k not in before} == {"killed__evidence_chain.json", "killed__evidence_chain.md"}
    kept = [k for k in before if k not in ("evidence_chain_index.json", "<head>")]
    assert all(now[k] == before[k] for k in kept)


def test_append_refuses_a_chain_that_disagrees_with_its_head(evidence: Evidence) -> None:
    index = evidence.chain_index()
    index["entries"].pop()
    index["entry_count"] = 2
    index["latest_chain_hash"] = index["entries"][-1]["chain_hash"]
    evidence.write_chain_index(index)
    result = _append(evidence, "after-truncation", evidence.index_paths[0], evidence.adapter)
    assert result.reason == "failed" and "chain.head_mismatch" in result.blockers
    assert evidence.chain_index()["entry_count"] == 2  # nothing appended, the truncation stays visible
