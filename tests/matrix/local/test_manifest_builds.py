"""Issue 13: our manifests in a form both dpone builds accept, and a refusal of our manifest reported as ours
(`harness.manifest_rejected` with dpone's message), never as a dpone run failure. Real dpone 0.88.0 (this venv)
and a real dpone 0.87.4 (a venv built once under the pytest cache, or DPONE_CERTIFY_TEST_0874_PYTHON)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from dpone_certify.dpone.adapter import DponeAdapter
from dpone_certify.matrix.local import LocalContext, manifests, run_local_cases
from dpone_certify.matrix.records import CaseRecord, CaseSettings
from tests.matrix.local.conftest import case

CASE = "postgres_to_postgres__full_refresh"
CONTROL = "0.87.4"


@pytest.fixture(scope="session")
def dpone_0874_python(request: pytest.FixtureRequest) -> str:
    configured = os.environ.get("DPONE_CERTIFY_TEST_0874_PYTHON")
    if configured:
        return configured
    folder = Path(request.config.cache.mkdir("dpone-0.87.4-venv"))
    python = folder / "bin" / "python"
    ready = folder / ".ready"
    if not ready.exists():
        steps = [
            [sys.executable, "-m", "venv", "--clear", str(folder)],
            [str(python), "-m", "pip", "install", "--quiet", f"dpone[postgres,mysql,pandas,columnar]=={CONTROL}"],
        ]
        for step in steps:
            proc = subprocess.run(step, capture_output=True, text=True, timeout=1200, check=False)
            if proc.returncode != 0:
                pytest.skip(f"cannot build a dpone {CONTROL} venv: {proc.stderr[-500:]}")
        ready.write_text(CONTROL, encoding="utf-8")
    return str(python)


def _run(tmp_path: Path, python: str | None) -> CaseRecord:
    ctx = LocalContext(
        out_dir=tmp_path,
        run_id=str(uuid.uuid4()),
        settings=CaseSettings(row_count=100, change_ratio=0.2, delete_ratio=0.05, wide_columns=10),
        adapter=DponeAdapter(timeout_seconds=600, python=python),
        max_parallel=1,
        variants=[],
    )
    return run_local_cases([case(CASE)], ctx)[CASE]


def _load1(record: CaseRecord) -> dict:
    import json

    return json.loads(Path(record.artifacts["dpone_run_load1"]).read_text(encoding="utf-8"))


@pytest.mark.parametrize("build", ["0.88.0", CONTROL])
def test_postgres_manifest_is_accepted_by_both_builds(
    tmp_path: Path, build: str, request: pytest.FixtureRequest
) -> None:
    python = request.getfixturevalue("dpone_0874_python") if build == CONTROL else None
    record = _run(tmp_path, python)
    run1 = _load1(record)
    assert run1["rc"] == 0 and run1["status"] == "success", run1["errors"]
    assert not [b for b in record.blockers if b.startswith(("harness.manifest_rejected", "run.failed"))]
    assert record.rows_moved == 100


def test_top_level_runtime_block_is_our_manifest_refused(
    tmp_path: Path, dpone_0874_python: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The form earlier harness versions wrote (runtime at the top level), which 0.87.4 refuses as configuration."""
    render = manifests.render

    def top_level_runtime(spec: manifests.ManifestSpec) -> str:
        lines = render(spec).splitlines()
        runtime = next(line for line in lines if line.strip().startswith("runtime:"))
        return "\n".join([line for line in lines if line is not runtime] + [runtime.strip(), ""])

    monkeypatch.setattr(manifests, "render", top_level_runtime)
    record = _run(tmp_path, dpone_0874_python)
    assert record.blockers == [f"harness.manifest_rejected:{CASE}"]  # never run.failed
    assert record.dpone_errors and "load1:" in record.dpone_errors[0]
    assert _load1(record)["rc"] == 2
    assert "runtime" in record.dpone_errors[0].lower()
