"""reconciliation_selftest on the contract profile (no engine) and the matrix's use of its record."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from dpone_certify.gates.records import GateRecord
from dpone_certify.gates.selftest import harness_unproven
from dpone_certify.matrix.local import engines
from dpone_certify.matrix.records import CaseRecord, CaseSettings, CaseStatus, EvidenceStatus
from dpone_certify.runbooks import remediation_for
from dpone_certify.settings import Profile
from tests.conftest import checks_by_asset, materialize

CASE = "postgres_to_postgres__full_refresh"


def test_contract_profile_records_not_applicable_without_an_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_engine(*args: object, **kwargs: object) -> engines.Engine:
        raise AssertionError("the contract profile must not reach an engine")

    monkeypatch.setattr(engines, "postgres_engine", no_engine)
    monkeypatch.setattr(engines, "mysql_engine", no_engine)
    monkeypatch.delenv("DPONE_CERTIFY_PROFILE", raising=False)
    with dg.instance_for_test() as instance:
        result = materialize(instance, ["reconciliation_selftest"], config={"evidence_root": str(tmp_path)})
    assert result.success  # not required here: its failed check does not fail the run
    record = GateRecord.model_validate_json(
        (tmp_path / "runs" / result.run_id / "reconciliation_selftest" / "gate_record.json").read_text()
    )
    assert record.profile is Profile.CONTRACT and record.evidence_status is EvidenceStatus.NOT_COVERED
    assert not record.passed and not record.required  # never reported as passed
    assert record.blockers == ["selftest.not_applicable"] and remediation_for(record.blockers[0]).known
    assert "corruptions_caught" not in record.metrics  # nothing was measured, so nothing is claimed
    check = checks_by_asset(result)["reconciliation_selftest"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN


def _record(status: CaseStatus, blockers: list[str], profile: Profile = Profile.LOCAL) -> CaseRecord:
    return CaseRecord(
        case_id=CASE,
        source="postgres",
        sink="postgres",
        strategy="full_refresh",
        profile=profile,
        status=status,
        evidence_status=EvidenceStatus.PASS if status is CaseStatus.PASSED else EvidenceStatus.FAIL,
        run_id="r1",
        settings=CaseSettings(row_count=10, change_ratio=0.2, delete_ratio=0.05),
        blockers=blockers,
    )


def _selftest(passed: bool, profile: Profile = Profile.LOCAL) -> GateRecord:
    return GateRecord(
        gate="reconciliation_selftest",
        run_id="r1",
        profile=profile,
        evidence_status=EvidenceStatus.PASS if passed else EvidenceStatus.FAIL,
        passed=passed,
        blockers=[] if passed else ["selftest.missed:postgres_to_postgres:changed_cell"],
        output_dir="unused",
    )


@pytest.mark.parametrize("status", [CaseStatus.PASSED, CaseStatus.FAILED])
def test_cases_are_unproven_unless_the_selftest_passed_in_the_same_run(status: CaseStatus) -> None:
    blockers = [] if status is CaseStatus.PASSED else [f"correctness.checksum_mismatch:{CASE}"]
    records = {CASE: _record(status, blockers)}
    assert harness_unproven(records, _selftest(True), Profile.LOCAL, "r1") == records
    earlier_run = _selftest(True).model_copy(update={"run_id": "r0"})
    for selftest in (_selftest(False), None, earlier_run, _selftest(False, Profile.CONTRACT)):
        unproven = harness_unproven(records, selftest, Profile.LOCAL, "r1")[CASE]
        assert unproven.blockers == [f"harness.unproven:{CASE}"] and unproven.status is CaseStatus.FAILED
        assert unproven.evidence_status is EvidenceStatus.FAIL and unproven.covered
        assert unproven.reason and "not a verdict about dpone" in unproven.reason
        assert all(b in unproven.reason for b in blockers)  # the unproven findings are kept, labelled


def test_contract_and_not_covered_cases_are_left_alone() -> None:
    contract = {CASE: _record(CaseStatus.PASSED, [], Profile.CONTRACT)}
    assert harness_unproven(contract, None, Profile.CONTRACT, "r1") == contract
    not_covered = {CASE: _record(CaseStatus.NOT_COVERED, [f"matrix_case.not_covered:{CASE}"])}
    assert harness_unproven(not_covered, _selftest(False), Profile.LOCAL, "r1") == not_covered
