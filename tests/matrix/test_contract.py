"""The contract profile writes exactly what dpone's matrix report reads, and labels it UNVERIFIED."""

from __future__ import annotations

import json
from pathlib import Path

from dpone_certify.dpone.adapter import DponeAdapter
from dpone_certify.matrix.catalogue import cases_by_id
from dpone_certify.matrix.contract import run_contract_cases
from dpone_certify.matrix.records import CaseSettings, CaseStatus, EvidenceStatus

IDS = ["postgres_to_postgres__full_refresh", "mysql_to_clickhouse__scd2", "api_to_kafka__replace"]


def test_contract_cases_are_dpone_files_and_unverified(tmp_path: Path) -> None:
    settings = CaseSettings(row_count=500, change_ratio=0.2, delete_ratio=0.05)
    records = run_contract_cases(
        [cases_by_id()[i] for i in IDS], out_dir=tmp_path, run_id="r1", settings=settings, adapter=DponeAdapter()
    )
    assert sorted(records) == sorted(IDS)
    for case_id, rec in records.items():
        assert rec.status is CaseStatus.PASSED and rec.evidence_status is EvidenceStatus.UNVERIFIED
        assert "UNVERIFIED" in (rec.reason or "")
        preflight = json.loads(Path(rec.preflight_path or "").read_text())
        behavior = json.loads(Path(rec.behavior_path or "").read_text())
        assert preflight["case_id"] == behavior["case_id"] == case_id
        assert behavior["configured_row_count"] == 500 and behavior["changed_row_count"] == 100
        assert rec.wide_columns == 120

    # Same content as dpone's own serialisation of the same simulation.
    from dpone.integration_matrix import DEFAULT_INTEGRATION_MATRIX

    dpone_case = next(c for c in DEFAULT_INTEGRATION_MATRIX.cases if c.case_id == IDS[0])
    expected = json.loads(dpone_case.simulate_mock_strategy_behavior(row_count=500).to_json())
    assert json.loads(Path(records[IDS[0]].behavior_path or "").read_text()) == expected

    # dpone's own report accepts them.
    call = DponeAdapter().cli(
        "matrix_report",
        [
            "ops",
            "integration-matrix-report",
            "--artifact-dir",
            str(tmp_path),
            "--output-dir",
            str(tmp_path / "out"),
            "--format",
            "json",
        ],
    )
    assert call.payload["passed"] and call.payload["total_cases"] == len(IDS)


def test_isolated_interpreter_mode_gives_the_same_evidence(tmp_path: Path) -> None:
    """A dpone build in another interpreter (here: this venv's python as a separate process) produces the same
    files as the in-process fork mode."""
    import sys

    settings = CaseSettings(row_count=200, change_ratio=0.2, delete_ratio=0.05)
    spec = [cases_by_id()[IDS[0]]]
    forked = run_contract_cases(spec, out_dir=tmp_path / "fork", run_id="r", settings=settings, adapter=DponeAdapter())
    isolated_adapter = DponeAdapter(python=sys.executable)
    isolated = run_contract_cases(
        spec, out_dir=tmp_path / "iso", run_id="r", settings=settings, adapter=isolated_adapter
    )
    a, b = forked[IDS[0]], isolated[IDS[0]]
    assert a.status is b.status is CaseStatus.PASSED
    assert Path(a.behavior_path or "").read_bytes() == Path(b.behavior_path or "").read_bytes()
    assert Path(a.preflight_path or "").read_bytes() == Path(b.preflight_path or "").read_bytes()
