"""release_comparison with real builds on the local profile (embedded PostgreSQL): a deliberately damaged copy of
dpone 0.88.0 against the real 0.88.0 must fail the comparison; the real pair 0.88.0 vs 0.87.4 is classified with
the right identity on both sides."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import dagster as dg
import pytest

from dpone_certify.cli import render_verdict
from dpone_certify.report import certification
from tests.compare.conftest import CATALOGUE_FILE, PATCHED_FILE
from tests.conftest import checks_by_asset, materialize

CASE = "postgres_to_postgres__full_refresh"
# the instrument proves itself in the run whose cases it judges (an unproven case is not compared)
SELECTION = ["reconciliation_selftest", "source_sink_matrix", "release_comparison"]


def _local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **settings: object) -> tuple[Path, dict[str, object]]:
    """The evidence root and run config of a small local-profile run on the embedded PostgreSQL."""
    monkeypatch.delenv("DPONE_IT_PG_HOST", raising=False)
    root = tmp_path / "evidence"
    return root, {"profile": "local", "evidence_root": str(root), "row_count": 300, **settings}


def record_blockers(run_dir: Path) -> list[str]:
    record = json.loads((run_dir / "release_comparison" / "gate_record.json").read_text(encoding="utf-8"))
    return list(record["blockers"])


def _comparison(root: Path, run_id: str) -> dict:  # type: ignore[type-arg]
    path = root / "runs" / run_id / "release_comparison" / "release_comparison.json"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_a_build_that_drops_a_row_per_load_fails_the_comparison(
    damaged_python: Path, tmp_path: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, config = _local(
        tmp_path,
        monkeypatch,
        dpone_python=str(damaged_python),
        control_python=sys.executable,  # the real 0.88.0, isolated like the candidate
    )
    # with the report: it runs after the comparison and shows what the build changed
    result = materialize(instance, [*SELECTION, "certification_report"], cases=[CASE], config=config)
    check = checks_by_asset(result)["release_comparison"]
    assert not check.passed
    data = _comparison(root, result.run_id)
    (row,) = data["cases"]
    assert row["verdict"] in ("regression", "still_failing_different"), row
    assert "correctness.rows_mismatch" in row["candidate_findings"]
    assert "correctness.rows_mismatch" not in row["control_findings"]
    if row["verdict"] == "still_failing_different":
        assert "correctness.rows_mismatch" in row["appeared"]
    # identity: the same version on both sides, told apart by the digest and the patched file
    assert data["candidate"]["dpone_version"] == data["control"]["dpone_version"] == "0.88.0"
    assert data["candidate"]["installed_digest"] != data["control"]["installed_digest"]
    assert data["candidate"]["modified_since_install"] == sorted([PATCHED_FILE, CATALOGUE_FILE])
    assert data["control"]["modified_since_install"] == []
    # interleaved runs: candidate (matrix), control, control, candidate
    assert data["order"] == ["candidate", "control", "control", "candidate"]
    assert [len(v) for v in data["runs"]["candidate"].values()] == [2]
    assert [len(v) for v in data["runs"]["control"].values()] == [2]
    # change impact: exactly the patched files changed; the staging load is a postgres path this case exercised
    files = {f["path"]: f for f in data["impact"]["files"]}
    assert set(files) == {PATCHED_FILE, CATALOGUE_FILE}
    assert files[PATCHED_FILE]["engines"] == ["postgres"] and files[PATCHED_FILE]["exercised"] == "yes"
    # the report and the terminal's verdict say it too, from the same record
    run_dir = root / "runs" / result.run_id
    report = certification.load(run_dir)
    assert report is not None and report.control is not None
    assert report.control.counts[row["verdict"]] == 1 and report.control.blockers == record_blockers(run_dir)
    html = (run_dir / "certification_report.html").read_text(encoding="utf-8")
    assert "What this build changed" in html and row["verdict"].replace("_", " ") in html
    assert "release_comparison" in [g.gate for g in report.failed_required]
    text = render_verdict(result.run_id, [], str(root))
    assert f"vs control {report.control.control}:" in text
    assert "change impact: " + data["impact"]["summary"] in text


@pytest.mark.slow
def test_real_pair_new_against_old(
    old_python: Path, tmp_path: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, config = _local(tmp_path, monkeypatch, control_python=str(old_python), comparison_repeats=1)
    result = materialize(instance, SELECTION, cases=[CASE], config=config)
    data = _comparison(root, result.run_id)
    assert data["candidate"]["dpone_version"] == "0.88.0" and data["control"]["dpone_version"] == "0.87.4"
    (row,) = data["cases"]
    assert row["verdict"] in {
        "regression",
        "fixed",
        "still_failing_same",
        "still_failing_different",
        "still_passing",
        "not_compared",
    }
    # the candidate ran only in the fork server, the control isolated: throughput is not compared across modes
    assert row["throughput_ratio"] is None and "execution mode" in row["throughput_note"], row
    control_runs = data["runs"]["control"][CASE]
    assert all(r["build"]["dpone_version"] == "0.87.4" for r in control_runs)
    assert data["impact"]["changed_files"] > 0 and data["impact"]["summary"]
    md = (root / "runs" / result.run_id / "release_comparison" / "release_comparison.md").read_text(encoding="utf-8")
    assert "dpone 0.88.0" in md and "dpone 0.87.4" in md
