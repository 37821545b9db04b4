"""The cases a run executes come from the build under test: a partition that build lacks is
`case.absent_in_build` (not a dpone failure, not "not covered"), on the contract profile of a real (patched) build."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from dpone_certify.certification.layout import EvidenceLayout
from dpone_certify.matrix.catalogue import compare_catalogues
from tests.compare.conftest import ABSENT_CASE
from tests.conftest import case_range, materialize


def test_compare_catalogues() -> None:
    from dpone_certify.matrix.catalogue import cases_by_id

    build = {k: v for k, v in cases_by_id().items() if k != ABSENT_CASE}
    build["postgres_to_postgres__future_strategy"] = cases_by_id()["postgres_to_postgres__full_refresh"]
    diff = compare_catalogues([ABSENT_CASE, "postgres_to_postgres__full_refresh"], build)
    assert diff.present == ["postgres_to_postgres__full_refresh"] and diff.absent_in_build == [ABSENT_CASE]
    assert diff.not_in_this_catalogue == ["postgres_to_postgres__future_strategy"]


def test_a_case_the_build_lacks_is_absent_in_build(
    damaged_python: Path, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    root = tmp_path / "evidence"
    cases = case_range("postgres_to_postgres__full_refresh", 4)
    assert cases[-1] == ABSENT_CASE
    config = {"evidence_root": str(root), "row_count": 200, "dpone_python": str(damaged_python)}
    result = materialize(instance, ["source_sink_matrix", "matrix_report"], cases=cases, config=config)
    run_dir = root / "runs" / result.run_id
    matrix = json.loads(EvidenceLayout(root, result.run_id).matrix_run_path.read_text(encoding="utf-8"))
    assert matrix["catalogue"] == {"absent_in_build": [ABSENT_CASE], "not_in_this_catalogue": []}
    records = {r["case_id"]: r for r in matrix["records"]}
    absent = records[ABSENT_CASE]
    assert absent["status"] == "not_covered" and absent["blockers"] == [f"case.absent_in_build:{ABSENT_CASE}"]
    assert "not a dpone failure" in absent["reason"]
    assert all(r["status"] == "passed" for k, r in records.items() if k != ABSENT_CASE)  # the simulation ran
    report = json.loads((run_dir / "matrix_report" / "gate_record.json").read_text(encoding="utf-8"))
    assert f"case.absent_in_build:{ABSENT_CASE}" in report["blockers"]
    assert f"matrix_case.not_covered:{ABSENT_CASE}" not in report["blockers"]
