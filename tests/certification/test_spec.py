"""What a spec does not have to state: the `ops` argv prefix, the answer's own verdict as the judge, artifact
files in the gate's folder."""

from __future__ import annotations

from pathlib import Path

from dpone_certify.certification.full_certification import CERTIFICATION_SUITE
from dpone_certify.certification.spec import GateInputs, blockers_or, ops, own_verdict
from dpone_certify.dpone.models import CertificationSuite


def _inputs(tmp_path: Path, gate: str = "certification_suite") -> GateInputs:
    return GateInputs(gate=gate, run_id="r1", out=tmp_path, settings=None, records={})


def test_a_failed_answer_without_blockers_gets_the_gates_not_passed(tmp_path: Path) -> None:
    def suite(passed: bool, blockers: list[str]) -> CertificationSuite:
        return CertificationSuite.model_validate({"suite_id": "s", "passed": passed, "blockers": blockers, "items": []})

    assert CERTIFICATION_SUITE.command is not None and CERTIFICATION_SUITE.command.judge is own_verdict
    assert own_verdict(_inputs(tmp_path), suite(False, [])).blockers == ["certification_suite.not_passed"]
    assert own_verdict(_inputs(tmp_path), suite(False, ["lineage.missing"])).blockers == ["lineage.missing"]
    assert own_verdict(_inputs(tmp_path), suite(True, [])).blockers == []
    # dpone's blockers are kept even on a pass (a record is failed by any blocker)
    assert blockers_or(True, ["x.warn"], "g.not_passed") == ["x.warn"]


def test_ops_argv_and_artifact_files_are_in_the_gates_folder(tmp_path: Path) -> None:
    inputs = _inputs(tmp_path)
    argv = ops(inputs, "artifact-index", "--release", "r1")
    assert argv == ["ops", "artifact-index", "--output-dir", str(tmp_path), "--release", "r1"]
    assert CERTIFICATION_SUITE.artifact_paths(inputs) == {"report": str(tmp_path / "certification_suite.json")}
