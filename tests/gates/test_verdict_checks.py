"""Every `verdict` check is `verdict_check(gate, description, judge)`: the judges, record in, evaluation out
(severity, description, metadata, and whether the run fails after it is recorded)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from dpone_certify.certification.records import GateRecord
from dpone_certify.compare import asset as compare
from dpone_certify.gates import selftest
from dpone_certify.gates.common import plan_verdict
from dpone_certify.matrix.records import EvidenceStatus
from dpone_certify.report import asset as report
from dpone_certify.resources import CertifyResource
from dpone_certify.settings import Profile

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


def _record(gate: str, blockers: list[str], **fields: object) -> GateRecord:
    status = EvidenceStatus.FAIL if blockers else EvidenceStatus.PASS
    return GateRecord.model_validate(
        {
            "gate": gate,
            "run_id": "r1",
            "profile": Profile.LOCAL,
            "evidence_status": status,
            "passed": not blockers,
            "blockers": blockers,
            "output_dir": "/nowhere",
            **fields,
        }  # fmt: skip
    )


def _certify(tmp_path: Path, profile: str = "local") -> CertifyResource:
    return CertifyResource(evidence_root=str(tmp_path), profile=profile)


def test_the_common_judge_fails_the_run_for_a_required_gate(tmp_path: Path) -> None:
    judge = plan_verdict("run_registry")  # no plan in the run: every gate is required
    failed = judge(_certify(tmp_path), "r1", _record("run_registry", ["run_result.not_passed"]))
    assert (failed.passed, failed.severity) == (False, ERROR)
    assert failed.description == "run_registry failed with 1 blocker(s): run_result.not_passed"
    assert failed.fails_run == f"{failed.description}. Remediation is in the check's metadata."
    assert failed.metadata["unknown_blockers"] == 0 and "remediation" in failed.metadata
    passed = judge(_certify(tmp_path), "r1", _record("run_registry", [], warnings=["benchmark.informative"]))
    assert passed.passed and passed.fails_run is None
    assert passed.description == "run_registry passed; evidence PASS; warnings: benchmark.informative"
    missing = judge(_certify(tmp_path), "r1", None)
    assert missing.fails_run == "run_registry: no record in run r1" and "reproduce" in missing.metadata


def test_the_selftest_is_not_required_where_it_does_not_apply(tmp_path: Path) -> None:
    record = _record(selftest.GATE, [selftest.NOT_APPLICABLE], required=False, summary="Not run: contract.")
    not_run = selftest._verdict(_certify(tmp_path, "contract"), "r1", record)
    assert (not_run.passed, not_run.severity, not_run.fails_run) == (False, WARN, None)
    assert not_run.description == "reconciliation_selftest did not run (not required here): Not run: contract."
    assert selftest._verdict(_certify(tmp_path, "contract"), "r1", None).severity == WARN
    missing = selftest._verdict(_certify(tmp_path, "local"), "r1", None)
    assert missing.severity == ERROR and missing.fails_run == "reconciliation_selftest: no record in run r1"


def test_the_comparison_warns_without_a_control_and_fails_on_a_regression(tmp_path: Path) -> None:
    certify = _certify(tmp_path)
    no_control = compare._verdict(certify, "r1", _record(compare.GATE, ["comparison.no_control"]))
    assert (no_control.severity, no_control.metadata, no_control.fails_run) == (WARN, {}, None)
    regression = compare._verdict(certify, "r1", _record(compare.GATE, ["comparison.regression:c1"]))
    assert regression.severity == ERROR and regression.description == "1 regression(s): comparison.regression:c1"
    assert regression.fails_run == "release_comparison: 1 regression(s): comparison.regression:c1"
    assert "unknown_blockers" not in regression.metadata and "remediation" in regression.metadata
    assert compare._verdict(certify, "r1", None).fails_run == "release_comparison: no record in run r1"


def test_the_report_check_restates_the_verdict_and_never_fails_the_run(tmp_path: Path) -> None:
    record = _record(report.REPORT_ASSET, ["certification.not_certified:run_registry"], summary="NOT CERTIFIED.")
    record.artifacts["report"] = str(tmp_path / "report.html")
    record.extra["verdict"] = "NOT CERTIFIED"
    e = report._verdict(_certify(tmp_path), "r1", record)
    assert (e.passed, e.severity, e.description, e.fails_run) == (False, WARN, "NOT CERTIFIED.", None)
    assert e.metadata["verdict"] == "NOT CERTIFIED"
    assert report._verdict(_certify(tmp_path), "r1", None).description == "the report was not written in this run"
