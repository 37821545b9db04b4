"""The CI contract, through the real `dagster asset materialize` CLI: exit 0 when the selection passes, non-zero
when a required gate fails (contract profile: the matrix and its report pass, the certification suite fails)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_selection_that_passes_exits_zero_and_failing_gate_exits_one(tmp_path: Path) -> None:
    root = tmp_path / "evidence"
    ok = _materialize("source_sink_matrix,matrix_report", root, tmp_path, "--partition", PG_CASE)
    assert ok.returncode == 0, ok.stderr[-3000:]
    record = json.loads((root / "lineage" / "matrix_report" / "latest.json").read_text())["data"]
    assert record["passed"] and record["evidence_status"] == "UNVERIFIED"

    # The suite's other inputs (their own verdicts do not matter here), then the suite alone.
    _materialize(
        "benchmark_baseline,run_registry,lineage_report,evidence_bundle,strategy_certification_bundle", root, tmp_path
    )
    failed = _materialize("certification_suite", root, tmp_path)
    assert failed.returncode == 1
    assert "certification_report.not_passed" in failed.stdout + failed.stderr


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
