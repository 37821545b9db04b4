"""certification_report and the per-case verdicts on real Dagster runs (contract profile, two cases)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from dpone_certify.matrix.records import CaseRecord, CaseStatus, EvidenceStatus
from dpone_certify.report import certification, history
from tests.conftest import case_range, materialize

CASES = case_range("postgres_to_postgres__full_refresh", 2)
CONFIG = {"row_count": 200}


def _seed_defect(monkeypatch: pytest.MonkeyPatch, case_id: str) -> None:
    """A defect in the build under test, seeded where the matrix hands its records over: `case_id` fails."""
    import dpone_certify.matrix.run as matrix

    real = matrix.run_contract_cases

    def broken(*args: Any, **kwargs: Any) -> dict[str, CaseRecord]:
        records = real(*args, **kwargs)
        bad = records[case_id]
        records[case_id] = bad.model_copy(update={
            "status": CaseStatus.FAILED, "evidence_status": EvidenceStatus.FAIL,
            "blockers": [f"reconciliation.rows_mismatch:{case_id}"],
        })  # fmt: skip
        return records

    monkeypatch.setattr(matrix, "run_contract_cases", broken)


def test_two_runs_differ_by_a_seeded_defect(
    instance: dg.DagsterInstance, evidence_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    selection = ["source_sink_matrix", "certification_report"]
    first = materialize(instance, selection, cases=CASES, config=CONFIG)
    with monkeypatch.context() as mp:
        _seed_defect(mp, CASES[1])
        second = materialize(instance, selection, cases=CASES, config=CONFIG)

    # history: one row per case per run, readable back
    rows = history.read_cases(evidence_root)
    assert sorted((r["run_id"], r["case_id"]) for r in rows) == sorted(
        (run.run_id, c) for run in (first, second) for c in CASES
    )
    # the build under test, as its records carry it (dpone/identity.py), is in every row
    assert {r["dpone_version"] for r in rows} == {"0.88.0"}
    assert all(r["distribution_digest"].startswith(("sha256:", "installed:")) for r in rows)
    d = history.delta(evidence_root, first.run_id, second.run_id)
    assert d.comparable and d.profile == "contract"
    assert d.newly_failing == [CASES[1]] and d.newly_passing == [] and d.coverage_change == 0
    assert history.last_two(evidence_root, "contract") == (first.run_id, second.run_id)

    # the report of the second run compares with the first and marks the regression
    report = certification.load(evidence_root / "runs" / second.run_id)
    assert report is not None and report.profile == "contract"
    assert report.comparison is not None and report.comparison.newly_failing == [CASES[1]]
    cells = {c.case_id: c for g in report.grids for c in g.cells.values()}
    assert cells[CASES[1]].change == "regression" and cells[CASES[0]].outcome == "unverified"
    assert report.verdict == "NOT CERTIFIED"  # the other gates did not run: never certified

    # tags: profile, release, dpone version and verdict on the run
    tags = instance.get_run_by_id(second.run_id).tags  # type: ignore[union-attr]
    assert tags["dpone_certify/profile"] == "contract" and tags["dpone_certify/verdict"] == "NOT CERTIFIED"
    assert tags["dpone_certify/dpone_version"] == "0.88.0" and tags["dpone_certify/release"] == "dpone-0.88.0"

    # per-partition verdicts: one evaluation per case, with its partition
    evaluations = {ev.partition: ev for ev in second.get_asset_check_evaluations() if ev.check_name == "case_verdict"}
    assert set(evaluations) == set(CASES)
    assert not evaluations[CASES[1]].passed and evaluations[CASES[1]].severity is dg.AssetCheckSeverity.ERROR
    assert not evaluations[CASES[0]].passed and evaluations[CASES[0]].severity is dg.AssetCheckSeverity.WARN
    assert evaluations[CASES[0]].description.startswith("UNVERIFIED (contract profile)")

    # each case's materialization carries its verdict and links its evidence files
    mats = {m.partition: m for m in second.asset_materializations_for_node("source_sink_matrix")}
    meta = mats[CASES[1]].metadata
    assert meta["case_verdict"].value == "failed"
    assert Path(meta["evidence/behavior"].value).name == f"{CASES[1]}__behavior.json"
    assert Path(meta["evidence/preflight"].value).is_file()

    # the report's own check restates the verdict without failing the run a second time
    (report_check,) = [
        ev for ev in second.get_asset_check_evaluations() if ev.asset_key.path == ["certification_report"]
    ]
    assert not report_check.passed and report_check.severity is dg.AssetCheckSeverity.WARN
