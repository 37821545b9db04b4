"""matrix_report's count of positive controls (cases whose reference variant passed)."""

from __future__ import annotations

from dpone_certify.certification.matrix_certification import positive_controls
from dpone_certify.matrix.records import CaseRecord, CaseSettings, CaseStatus, EvidenceStatus
from dpone_certify.settings import Profile


def _record(case_id: str, variants: list[dict]) -> CaseRecord:
    return CaseRecord(
        case_id=case_id,
        source="postgres",
        sink="postgres",
        strategy=case_id.rsplit("__", 1)[-1],
        profile=Profile.LOCAL,
        status=CaseStatus.FAILED,
        evidence_status=EvidenceStatus.FAIL,
        run_id="r",
        settings=CaseSettings(row_count=10, change_ratio=0.2, delete_ratio=0.05),
        variants=variants,
    )


def test_none_passed_says_harness_unproven() -> None:
    records = [
        _record("a__full_refresh", [{"name": "documented", "passed": False}, {"name": "reference", "passed": False}])
    ]
    controls = positive_controls(records)
    assert controls["count"] == 0 and controls["statement"].startswith("harness unproven")


def test_counts_only_reference_variants() -> None:
    records = [
        _record("a__full_refresh", [{"name": "documented", "passed": False}, {"name": "reference", "passed": True}]),
        _record("b__scd2", [{"name": "documented", "passed": True}, {"name": "reference", "passed": False}]),
        _record("c__cdc", []),
    ]
    controls = positive_controls(records)
    assert controls["cases"] == ["a__full_refresh"] and controls["with_variants"] == 2
    assert controls["statement"] == "positive controls: 1/2 reference variants passed"
    assert records[0].positive_control and not records[1].positive_control


def test_profile_without_variants() -> None:
    assert positive_controls([_record("a__full_refresh", [])])["statement"].startswith("no case ran variants")
