"""Issue 13: our manifests in a form both dpone builds accept, and a refusal of our manifest reported as ours
(`harness.manifest_rejected` with dpone's message), never as a dpone run failure. Real dpone 0.88.0 (this venv)
and a real dpone 0.87.4 (tests/builds.py: built once from its wheel, as `--control-version` does)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from dpone_certify.dpone.adapter import DponeAdapter
from dpone_certify.matrix.local import LocalContext, manifests, run_local_cases
from dpone_certify.matrix.records import CaseRecord, CaseSettings
from tests.builds import OLD_VERSION as CONTROL
from tests.matrix.local.conftest import case

CASE = "postgres_to_postgres__full_refresh"


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
    python = str(request.getfixturevalue("old_python")) if build == CONTROL else None
    record = _run(tmp_path, python)
    run1 = _load1(record)
    assert run1["rc"] == 0 and run1["status"] == "success", run1["errors"]
    assert not [b for b in record.blockers if b.startswith(("harness.manifest_rejected", "run.failed"))]
    assert record.rows_moved == 100


def test_top_level_runtime_block_is_our_manifest_refused(
    tmp_path: Path, old_python: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The form earlier harness versions wrote (runtime at the top level), which 0.87.4 refuses as configuration."""
    render = manifests.render

    def top_level_runtime(spec: manifests.ManifestSpec) -> str:
        lines = render(spec).splitlines()
        runtime = next(line for line in lines if line.strip().startswith("runtime:"))
        return "\n".join([line for line in lines if line is not runtime] + [runtime.strip(), ""])

    monkeypatch.setattr(manifests, "render", top_level_runtime)
    record = _run(tmp_path, str(old_python))
    assert record.blockers == [f"harness.manifest_rejected:{CASE}"]  # never run.failed
    assert record.dpone_errors and "load1:" in record.dpone_errors[0]
    assert _load1(record)["rc"] == 2
    assert "runtime" in record.dpone_errors[0].lower()
