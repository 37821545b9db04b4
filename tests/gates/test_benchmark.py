"""benchmark_baseline: measured metrics only, explicit acceptance, and the -Infinity guard."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from dpone_certify.baseline.store import accepted_path, metric_guard
from dpone_certify.gates.records import GateRecord
from tests.conftest import PG_CASE, case_range, materialize

CASES = case_range(PG_CASE, 2)


def _record(root: Path, run_id: str) -> GateRecord:
    return GateRecord.model_validate_json(
        (root / "runs" / run_id / "benchmark_baseline" / "gate_record.json").read_text()
    )


def test_guard_refuses_missing_and_non_finite_metrics() -> None:
    wanted = {"rows_per_second": "higher", "load_seconds": "lower"}
    assert metric_guard({"rows_per_second": 1.0}, wanted) == ["benchmark.metric_missing:load_seconds"]
    assert metric_guard({"rows_per_second": float("-inf"), "load_seconds": 1.0}, wanted) == [
        "benchmark.metric_not_finite:rows_per_second"
    ]
    assert metric_guard({"rows_per_second": 5.0, "load_seconds": 1.0}, wanted) == []


def test_baseline_must_be_accepted_explicitly_then_compares(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    from dpone_certify.definitions import defs

    root = tmp_path / "evidence"
    config = {"evidence_root": str(root), "row_count": 200}
    materialize(instance, ["source_sink_matrix", "matrix_report"], cases=CASES, config=config)

    first = materialize(instance, ["benchmark_baseline"], config=config)
    record = _record(root, first.run_id)
    assert not first.success and not record.passed
    # The package ships a baseline only for the full contract matrix at 10,000 rows: this selection differs.
    assert record.blockers in (["benchmark.baseline_incomparable"], ["benchmark.baseline_missing"])
    assert not accepted_path(root, "contract").exists()  # a failing run never accepts anything

    accepted = defs.get_job_def("accept_benchmark_baseline").execute_in_process(
        instance=instance, run_config={"resources": {"certify": {"config": config}}}
    )
    assert accepted.success
    baseline = json.loads(accepted_path(root, "contract").read_text())
    assert baseline["case_count"] == len(CASES) and baseline["row_count"] == 200
    measured = baseline["metrics"]["rows_per_second"]["value"]
    assert measured > 0  # taken from the matrix measurement, not typed in

    # Same measurement compared against itself with dpone's tolerance: passes.
    second = materialize(instance, ["benchmark_baseline"], config={**config, "allowed_regression_ratio": 0.5})
    record = _record(root, second.run_id)
    assert record.passed, record.blockers
    report = json.loads(Path(record.artifacts["report"]).read_text())
    assert {i["metric"] for i in report["items"]} == {"rows_per_second", "load_seconds"}
    assert all(i["actual"] not in (None, "-Infinity") for i in report["items"])


def test_benchmark_without_matrix_reports_input_missing(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    root = tmp_path / "evidence"
    result = materialize(instance, ["benchmark_baseline"], config={"evidence_root": str(root)})
    assert not result.success
    assert _record(root, result.run_id).blockers == ["gate.input_missing:matrix_report"]
