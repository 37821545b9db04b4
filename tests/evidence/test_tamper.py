"""One test per tamper class, on a chain built by real dpone calls; each names class, position, release and
artifact, and records what dpone's own verify says about the same tampering."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dpone_certify.evidence.chain import (
    HEAD_FILENAME,
    compute_chain_hash,
    entry_filename,
    sha256_path,
)
from dpone_certify.evidence.verify import Break, BreakClass, VerificationReport, verify_evidence

from .conftest import Evidence


def run(evidence: Evidence, **kw: object) -> VerificationReport:
    return verify_evidence(evidence.root, adapter=evidence.adapter, **kw)  # type: ignore[arg-type]


def only(report: VerificationReport, cls: BreakClass) -> list[Break]:
    return [b for b in report.breaks if b.break_class is cls]


def forged_entry(evidence: Evidence, release: str, previous: str | None, index_path: Path) -> dict[str, object]:
    created_at = datetime.now(UTC).isoformat()
    index_hash = sha256_path(index_path)
    chain_dir = evidence.chain_dir
    return {
        "release": release,
        "artifact_index_path": str(index_path),
        "artifact_index_hash": index_hash,
        "previous_chain_hash": previous,
        "chain_hash": compute_chain_hash(
            release=release,
            artifact_index_hash=index_hash,
            previous_chain_hash=previous,
            created_at=created_at,
        ),
        "created_at": created_at,
        "entry_path": str(chain_dir / entry_filename(release)),
        "markdown_path": str(chain_dir / entry_filename(release).replace(".json", ".md")),
        "verified": True,
    }


def test_pristine_chain_is_intact_for_us_and_dpone(evidence: Evidence) -> None:
    report = run(evidence)
    assert report.intact, report.breaks
    assert report.dpone_verified is True
    assert report.breaks == [] and report.blockers == []
    assert report.entry_count == 3
    assert report.indexes_checked == 3
    assert report.artifacts_checked == 12  # 4 files per run: benchmark + strategy bundle, json + md


def test_our_chain_hash_is_dpones(evidence: Evidence) -> None:
    entries = evidence.chain_index()["entries"]
    previous = None
    for entry in entries:
        assert entry["previous_chain_hash"] == previous
        assert entry["artifact_index_hash"] == sha256_path(Path(entry["artifact_index_path"]))
        assert entry["chain_hash"] == compute_chain_hash(
            release=entry["release"],
            artifact_index_hash=entry["artifact_index_hash"],
            previous_chain_hash=entry["previous_chain_hash"],
            created_at=entry["created_at"],
        )
        previous = entry["chain_hash"]


def test_artifact_edited_is_caught_and_dpone_misses_it(evidence: Evidence) -> None:
    target = evidence.run_dir(0) / "benchmark_baseline" / "benchmark_baseline.json"
    payload = json.loads(target.read_text())
    assert payload["passed"] is True
    payload["passed"] = False
    target.write_text(json.dumps(payload, indent=2))

    report = run(evidence)
    assert not report.intact
    assert [b.break_class for b in report.breaks] == [BreakClass.ARTIFACT_EDITED]
    brk = report.breaks[0]
    assert (brk.position, brk.release) == (0, evidence.releases[0])
    assert brk.artifact_name == "benchmark_baseline.json" and brk.artifact == str(target)
    assert report.blockers == [f"chain.artifact_edited:{evidence.releases[0]}"]
    # The gap this closes: dpone's CLI verify never re-hashes indexed artifacts (contracts doc §2.8, T1).
    assert report.dpone_verified is True
    assert report.dpone_broken_entries == []


def test_artifact_deleted(evidence: Evidence) -> None:
    target = evidence.run_dir(1) / "strategy" / "strategy_certification_bundle.md"
    target.unlink()
    report = run(evidence)
    assert [b.break_class for b in report.breaks] == [BreakClass.ARTIFACT_DELETED]
    brk = report.breaks[0]
    assert (brk.position, brk.release, brk.artifact_name) == (1, evidence.releases[1], target.name)
    assert brk.artifact == str(target)
    assert report.dpone_verified is True  # dpone misses this too


def test_index_edited(evidence: Evidence) -> None:
    index_path = evidence.index_paths[2]
    with index_path.open("a") as handle:
        handle.write(" ")  # still valid JSON, different bytes (contracts doc §2.8, T2)
    report = run(evidence)
    assert [b.break_class for b in report.breaks] == [BreakClass.INDEX_EDITED]
    brk = report.breaks[0]
    assert (brk.position, brk.release, brk.artifact) == (2, evidence.releases[2], str(index_path))
    assert brk.artifact_name == "artifact_index.json"
    assert report.dpone_verified is False
    assert report.dpone_broken_entries == [f"chain.broken_entry:{evidence.releases[2]}"]
    assert f"chain.broken_entry:{evidence.releases[2]}" in report.blockers


def test_entry_edited(evidence: Evidence) -> None:
    entry_path = evidence.entry_file(evidence.releases[1])
    entry = json.loads(entry_path.read_text())
    entry["created_at"] = "2020-01-01T00:00:00+00:00"
    entry_path.write_text(json.dumps(entry, indent=2, sort_keys=True) + "\n")
    report = run(evidence)
    assert {b.break_class for b in report.breaks} == {BreakClass.ENTRY_EDITED}
    brk = report.breaks[0]
    assert (brk.position, brk.release, brk.artifact) == (1, evidence.releases[1], str(entry_path))
    assert "created_at" in brk.detail
    assert report.dpone_broken_entries == [f"chain.broken_entry:{evidence.releases[1]}"]


def test_entry_edited_in_file_and_index_with_recomputed_hashes_is_caught_by_the_head(
    evidence: Evidence,
) -> None:
    """Rewrite history consistently (entry, index record and every later link): only the head can tell."""
    index = evidence.chain_index()
    entries = index["entries"]
    previous = entries[0]["chain_hash"]
    for pos in (1, 2):
        entry = entries[pos]
        if pos == 1:
            entry["created_at"] = "2020-01-01T00:00:00+00:00"
        entry["previous_chain_hash"] = previous
        entry["chain_hash"] = compute_chain_hash(
            release=entry["release"],
            artifact_index_hash=entry["artifact_index_hash"],
            previous_chain_hash=previous,
            created_at=entry["created_at"],
        )
        previous = entry["chain_hash"]
        Path(entry["entry_path"]).write_text(json.dumps(entry, indent=2, sort_keys=True) + "\n")
    index["latest_chain_hash"] = previous
    evidence.write_chain_index(index)

    report = run(evidence)
    assert report.dpone_verified is True  # internally consistent: dpone cannot see it
    edited = only(report, BreakClass.ENTRY_EDITED)
    assert [(b.position, b.release) for b in edited] == [(1, evidence.releases[1]), (2, evidence.releases[2])]
    assert not report.intact


def test_entries_reordered(evidence: Evidence) -> None:
    index = evidence.chain_index()
    entries = index["entries"]
    entries[0], entries[1] = entries[1], entries[0]
    evidence.write_chain_index(index)  # count and latest hash unchanged
    report = run(evidence)
    assert {b.break_class for b in report.breaks} == {BreakClass.ENTRIES_REORDERED}
    assert sorted((b.position, b.release) for b in report.breaks) == [
        (0, evidence.releases[1]),
        (1, evidence.releases[0]),
    ]
    assert report.dpone_verified is False


def test_entry_inserted_in_the_middle(evidence: Evidence) -> None:
    index = evidence.chain_index()
    first = index["entries"][0]
    forged = forged_entry(evidence, "forged-release", first["chain_hash"], evidence.index_paths[0])
    Path(str(forged["entry_path"])).write_text(json.dumps(forged, indent=2, sort_keys=True) + "\n")
    index["entries"].insert(1, forged)
    index["entry_count"] = 4
    evidence.write_chain_index(index)

    report = run(evidence)
    assert {b.break_class for b in report.breaks} == {BreakClass.ENTRY_INSERTED}
    assert [(b.position, b.release) for b in report.breaks] == [(1, "forged-release")]
    assert report.blockers[0] == "chain.entry_inserted:forged-release"
    assert report.dpone_verified is False  # the next entry no longer links


def test_entry_appended_behind_our_back_passes_dpone_but_not_us(evidence: Evidence) -> None:
    index = evidence.chain_index()
    forged = forged_entry(evidence, "forged-tail", index["latest_chain_hash"], evidence.index_paths[2])
    Path(str(forged["entry_path"])).write_text(json.dumps(forged, indent=2, sort_keys=True) + "\n")
    index["entries"].append(forged)
    index["entry_count"] = 4
    index["latest_chain_hash"] = forged["chain_hash"]
    evidence.write_chain_index(index)

    report = run(evidence)
    assert report.dpone_verified is True
    assert [(b.break_class, b.position, b.release) for b in report.breaks] == [
        (BreakClass.ENTRY_INSERTED, 3, "forged-tail")
    ]


def test_stray_entry_file_is_an_insertion(evidence: Evidence) -> None:
    stray = evidence.chain_dir / entry_filename("stray")
    stray.write_text(json.dumps({"release": "stray"}))
    report = run(evidence)
    assert [(b.break_class, b.release, b.artifact) for b in report.breaks] == [
        (BreakClass.ENTRY_INSERTED, "stray", str(stray))
    ]
    assert "chain.index_mismatch" in report.dpone_broken_entries


def test_truncated_tail_passes_dpone_but_not_us(evidence: Evidence) -> None:
    last = evidence.releases[2]
    evidence.entry_file(last).unlink()
    evidence.entry_file(last).with_name(entry_filename(last).replace(".json", ".md")).unlink()
    index = evidence.chain_index()
    index["entries"].pop()
    index["entry_count"] = 2
    index["latest_chain_hash"] = index["entries"][-1]["chain_hash"]
    evidence.write_chain_index(index)

    report = run(evidence)
    assert report.dpone_verified is True  # dpone's verify is satisfied with the shorter chain
    assert [(b.break_class, b.position, b.release) for b in report.breaks] == [(BreakClass.TRUNCATED, 2, last)]
    assert report.blockers == [f"chain.truncated:{last}"]


def test_truncation_with_a_rewritten_head_file_is_caught_by_the_expected_head(evidence: Evidence) -> None:
    anchored = evidence.head()  # e.g. what Dagster metadata holds
    last = evidence.releases[2]
    evidence.entry_file(last).unlink()
    index = evidence.chain_index()
    index["entries"].pop()
    index["entry_count"] = 2
    index["latest_chain_hash"] = index["entries"][-1]["chain_hash"]
    evidence.write_chain_index(index)
    head = evidence.head()
    head.update(
        entry_count=2,
        latest_chain_hash=index["latest_chain_hash"],
        releases=head["releases"][:2],
        chain_hashes=head["chain_hashes"][:2],
    )
    (evidence.root / HEAD_FILENAME).write_text(json.dumps(head))

    assert run(evidence).intact  # the file head was rewritten too: only an outside anchor helps
    report = run(evidence, expected_head=anchored)
    assert [(b.break_class, b.position, b.release) for b in report.breaks] == [(BreakClass.TRUNCATED, 2, last)]
    assert any("does not extend the expected head" in n for n in report.notes)


def test_missing_head_means_truncation_cannot_be_ruled_out(evidence: Evidence) -> None:
    (evidence.root / HEAD_FILENAME).unlink()
    report = run(evidence, run_dpone=False)
    assert [(b.break_class, b.release) for b in report.breaks] == [(BreakClass.TRUNCATED, None)]
    assert report.blockers == ["chain.truncated"]


def test_entry_deleted_from_the_middle(evidence: Evidence) -> None:
    middle = evidence.releases[1]
    evidence.entry_file(middle).unlink()
    index = evidence.chain_index()
    del index["entries"][1]
    index["entry_count"] = 2
    evidence.write_chain_index(index)
    report = run(evidence)
    assert {b.break_class for b in report.breaks} == {BreakClass.ENTRY_DELETED}
    assert {b.release for b in report.breaks} == {middle}
    assert report.dpone_verified is False


def test_verifies_from_any_cwd(evidence: Evidence, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    report = run(evidence)
    assert report.intact and report.dpone_verified is True


def test_moved_root_is_verified_relative_to_its_new_place(evidence: Evidence, tmp_path: Path) -> None:
    moved = tmp_path / "copied-root"
    shutil.copytree(evidence.root, moved)
    report = verify_evidence(moved, adapter=evidence.adapter)
    assert report.intact, report.breaks
    assert report.dpone_verified is False  # dpone resolves the recorded absolute paths
    assert "chain.index_invalid" in report.dpone_broken_entries

    # Tampering with the copy is seen in the copy, even though the original is still intact.
    target = moved / "runs" / "run-b" / "benchmark_baseline" / "benchmark_baseline.md"
    target.write_text("edited\n")
    report = verify_evidence(moved, run_dpone=False)
    assert [(b.break_class, b.position, b.artifact) for b in report.breaks] == [
        (BreakClass.ARTIFACT_EDITED, 1, str(target))
    ]
