"""The CI contract, through the real `dagster asset materialize` CLI: exit 0 when the selection passes, non-zero
when a required gate fails (contract profile: the matrix and its report pass, the certification suite fails)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dpone_certify.certification.layout import EvidenceLayout
from tests.conftest import PG_CASE, REPO

DAGSTER = str(Path(sys.executable).parent / "dagster")
pytestmark = pytest.mark.slow


def _materialize(select: str, root: Path, cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DPONE_CERTIFY_EVIDENCE_ROOT": str(root), "DPONE_CERTIFY_PROFILE": "contract"}
    env.pop("DAGSTER_HOME", None)
    return subprocess.run(
        [DAGSTER, "asset", "materialize", "-m", "dpone_certify.definitions", "--select", select, *extra],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _upstream(run_id: str) -> tuple[str, str]:
    """Each CLI call here has its own throwaway instance: the earlier run is named explicitly."""
    return "--config-json", json.dumps({"resources": {"certify": {"config": {"upstream_run": run_id}}}})


def _new_run(root: Path, before: set[str]) -> str:
    (run_id,) = {p.name for p in (root / "runs").iterdir()} - before
    return run_id


def test_selection_that_passes_exits_zero_and_failing_gate_exits_one(tmp_path: Path) -> None:
    root = tmp_path / "evidence"
    ok = _materialize("source_sink_matrix,matrix_report", root, tmp_path, "--partition", PG_CASE)
    assert ok.returncode == 0, ok.stderr[-3000:]
    first = _new_run(root, set())
    record = json.loads(EvidenceLayout(root, first).lineage_path("matrix_report").read_text())["data"]
    assert record["passed"] and record["evidence_status"] == "UNVERIFIED"

    # The suite's other inputs (their own verdicts do not matter here), then the suite alone, each consuming the
    # records of the run before it (which carries the records it consumed itself).
    select = "benchmark_baseline,run_registry,lineage_report,evidence_bundle,strategy_certification_bundle"
    _materialize(select, root, tmp_path, *_upstream(first))
    second = _new_run(root, {first})
    failed = _materialize("certification_suite", root, tmp_path, *_upstream(second))
    assert failed.returncode == 1
    assert "certification_report.not_passed" in failed.stdout + failed.stderr
    third = _new_run(root, {first, second})
    suite = json.loads(EvidenceLayout(root, third).record_path("certification_suite").read_text())
    assert suite["consumed_runs"] == {name: second for name in select.split(",") if name != "run_registry"} | {
        "matrix_report": first
    }


def test_unknown_partition_is_a_usage_error(tmp_path: Path) -> None:
    result = _materialize("source_sink_matrix", tmp_path / "evidence", tmp_path, "--partition", "nosuch_to_nowhere__x")
    assert result.returncode != 0


def test_definitions_validate() -> None:
    result = subprocess.run(
        [DAGSTER, "definitions", "validate", "-m", "dpone_certify.definitions"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
