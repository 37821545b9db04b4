"""Lineage per run (issue 12): a gate consumes the records its upstream produced in the same run, or those of an
explicitly named earlier run; everything a verdict depends on lives in the run's folder and is indexed by the
chain; a crashed or timed-out input yields no verdict about dpone. Real dpone, real Dagster instances."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from dpone_certify.certification.keys import FULL_CERTIFICATION_GATES
from dpone_certify.certification.layout import EvidenceLayout
from dpone_certify.certification.records import GateRecord
from dpone_certify.evidence.verify import BreakClass, verify_evidence
from dpone_certify.matrix.catalogue import case_ids
from dpone_certify.matrix.records import CaseRecord, CaseStatus
from tests.conftest import PG_CASE, case_range, checks_by_asset, materialize

CASE_A, CASE_B = case_range(PG_CASE, 2)
DAGSTER = str(Path(sys.executable).parent / "dagster")
DOWNSTREAM = list(FULL_CERTIFICATION_GATES[FULL_CERTIFICATION_GATES.index("run_registry") :])


def _record(root: Path, run_id: str, gate: str) -> GateRecord:
    return GateRecord.model_validate_json(EvidenceLayout(root, run_id).record_path(gate).read_text())


def _indexed_paths(root: Path, run_id: str) -> list[Path]:
    index = json.loads(Path(_record(root, run_id, "artifact_index").artifacts["report"]).read_text())
    return [Path(item["path"]) for item in index["items"]]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two whole certifications at once on one evidence root, through the real CLI, each with its own Dagster
    home, release and case."""
    base = tmp_path_factory.mktemp("shared")
    root = base / "evidence"
    procs = {}
    for name, case in (("A", CASE_A), ("B", CASE_B)):
        home = base / f"home{name}"
        home.mkdir()
        env = {**os.environ, "DAGSTER_HOME": str(home), "DPONE_CERTIFY_EVIDENCE_ROOT": str(root)}
        env.pop("DPONE_CERTIFY_PROFILE", None)
        config = {"release": f"rel{name}", "evidence_case": case, "row_count": 200}
        cmd = [DAGSTER, "asset", "materialize", "-m", "dpone_certify.definitions", "--partition", case,
               "--select", ",".join(FULL_CERTIFICATION_GATES),
               "--config-json", json.dumps({"resources": {"certify": {"config": config}}})]  # fmt: skip
        procs[name] = subprocess.Popen(cmd, cwd=base, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    outputs = {name: p.communicate(timeout=900)[0].decode() for name, p in procs.items()}
    runs = {}
    for name, case in (("A", CASE_A), ("B", CASE_B)):
        # the run whose matrix ran this case (each run folder holds only its own case's records)
        ran = [p.name for p in (root / "runs").iterdir()]
        (run_id,) = [r for r in ran if EvidenceLayout(root, r).lineage_path("source_sink_matrix", case).exists()]
        runs[name] = run_id
    assert len(set(runs.values())) == 2, outputs
    return {"root": root, **runs, "cases": {"A": CASE_A, "B": CASE_B}}


def test_concurrent_runs_index_only_their_own_artifacts(two_runs: dict[str, Any]) -> None:
    root = two_runs["root"]
    for name in ("A", "B"):
        run_id, case = two_runs[name], two_runs["cases"][name]
        layout = EvidenceLayout(root, run_id)
        assert _record(root, run_id, "matrix_report").extra["case_ids"] == [case]
        assert _record(root, run_id, "evidence_bundle").extra["case_id"] == case
        for gate in DOWNSTREAM:
            assert _record(root, run_id, gate).consumed_runs == {}, gate  # all from its own run
        paths = _indexed_paths(root, run_id)
        assert paths and all(p.is_relative_to(layout.run_dir) for p in paths)
        other = two_runs["cases"]["B" if name == "A" else "A"]
        assert not any(other in p.name for p in paths)
        # what the verdicts depend on is indexed: the plan, the lineage records, the matrix's case records
        needed = [layout.lineage_path(g) for g in ("certification_plan", "matrix_report")]
        needed += [layout.matrix_run_path, layout.lineage_path("source_sink_matrix", case)]
        assert set(needed) <= set(paths), set(needed) - set(paths)
    entries = json.loads(EvidenceLayout(root).chain_index_path.read_text())["entries"]
    assert sorted(e["release"].split("__")[0] for e in entries) == ["relA", "relB"]
    report = verify_evidence(root)
    assert report.intact, report.summary()


def test_an_edited_required_flag_is_a_named_break_and_waives_nothing(
    two_runs: dict[str, Any], instance: dg.DagsterInstance
) -> None:
    root, run_a = two_runs["root"], two_runs["A"]
    plan = EvidenceLayout(root, run_a).lineage_path("certification_plan")
    original = plan.read_text()
    raw = json.loads(original)
    for step in raw["data"]["extra"]["steps"]:
        step["required"] = False
    plan.write_text(json.dumps(raw))
    try:
        report = verify_evidence(root)
        assert not report.intact
        assert any(b.break_class is BreakClass.ARTIFACT_EDITED and b.artifact == str(plan) for b in report.breaks)
        # Re-running the downstream gates on run A's records: the edited plan waives nothing.
        config = {"evidence_root": str(root), "row_count": 200, "upstream_run": run_a}
        again = materialize(instance, DOWNSTREAM, config=config)
        assert not again.success
        checks = checks_by_asset(again)
        assert all(ev.severity == dg.AssetCheckSeverity.ERROR for ev in checks.values())
        chain = _record(root, again.run_id, "evidence_chain")
        assert not chain.passed and any(b.startswith("chain.artifact_edited") for b in chain.blockers)
        assert _record(root, again.run_id, "run_registry").consumed_runs == {
            "matrix_report": run_a,
            "benchmark_baseline": run_a,
        }
    finally:
        plan.write_text(original)


def test_crashed_inputs_draw_no_verdict_about_dpone(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    """With a 1 s gate timeout the simulation of the whole matrix is killed: nothing was measured."""
    root = tmp_path / "evidence"
    config = {"evidence_root": str(root), "gate_timeout_seconds": 1.0}
    gates = ["source_sink_matrix", "matrix_report", "benchmark_baseline", "run_registry"]
    result = materialize(instance, gates, cases=case_ids(), config=config)
    layout = EvidenceLayout(root, result.run_id)
    cases = [CaseRecord.model_validate(r) for r in json.loads(layout.matrix_run_path.read_text())["records"]]
    assert cases and all(c.status is CaseStatus.ERROR for c in cases)  # the precondition: every call timed out
    assert any(b.startswith("gate.timeout:") for c in cases for b in c.blockers)
    assert "input.crashed:source_sink_matrix" in _record(root, result.run_id, "matrix_report").blockers
    benchmark = _record(root, result.run_id, "benchmark_baseline")
    assert benchmark.blockers == ["input.crashed:matrix_report"] and benchmark.dpone_command is None
    assert not any(b.startswith("benchmark.regression") for b in benchmark.blockers + benchmark.warnings)
    registry = _record(root, result.run_id, "run_registry")
    assert registry.blockers == ["input.crashed:matrix_report", "input.crashed:benchmark_baseline"]
    assert registry.dpone_command is None
