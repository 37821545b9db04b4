"""The matrix's numbers and our matrix certification report (whose evidence_status is computed, never copied)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from dpone_certify.matrix.catalogue import ABSENT_IN_BUILD
from dpone_certify.matrix.records import CaseRecord, CaseStatus, EvidenceStatus
from dpone_certify.settings import Profile

SCHEMA_VERSION = "dpone_certify.matrix_certification.v1"


def matrix_stats(records: list[CaseRecord]) -> dict[str, float]:
    covered = [r for r in records if r.covered]
    passed = [r for r in records if r.status is CaseStatus.PASSED]
    load = sum(r.load_seconds for r in covered)
    rows = sum(r.rows_moved for r in covered)
    return {
        "cases": float(len(records)),
        "covered_cases": float(len(covered)),
        "passed_cases": float(len(passed)),
        "pass_rate": len(passed) / len(records) if records else 0.0,
        "coverage": len(covered) / len(records) if records else 0.0,
        "rows_moved": float(rows),
        "load_seconds": load,
        "rows_per_second": rows / load if load > 0 else 0.0,
    }


def case_blockers(records: list[CaseRecord]) -> list[str]:
    """Each case's blockers, or `matrix_case.failed:<case>` for a case that did not pass without naming why."""
    return [
        b
        for r in records
        for b in (r.blockers or ([] if r.status is CaseStatus.PASSED else [f"matrix_case.failed:{r.case_id}"]))
    ]


def weakest_profile(profiles: list[str]) -> Profile:
    """The profile a mixed matrix is judged by: simulated evidence taints the whole report."""
    for candidate in (Profile.CONTRACT, Profile.LOCAL, Profile.LIVE):
        if candidate.value in profiles:
            return candidate
    return Profile.CONTRACT


def matrix_evidence_status(records: list[CaseRecord], dpone_passed: bool) -> EvidenceStatus:
    """PASS only when every selected case moved data for real and reconciled."""
    if not records:
        return EvidenceStatus.FAIL
    if any(r.evidence_status is EvidenceStatus.UNVERIFIED for r in records):
        return EvidenceStatus.UNVERIFIED
    if dpone_passed and all(
        r.status is CaseStatus.PASSED and r.evidence_status is EvidenceStatus.PASS for r in records
    ):
        return EvidenceStatus.PASS
    return EvidenceStatus.FAIL


def positive_controls(records: list[CaseRecord]) -> dict[str, Any]:
    """Cases whose `reference` variant passed: proof that the harness can say PASS where dpone works. With
    variants but none passing, the harness is unproven and the failures alone say little."""
    with_variants = [r for r in records if r.variants]
    cases = [r.case_id for r in with_variants if r.positive_control]
    if not with_variants:
        statement = "no case ran variants (no positive control possible in this profile)"
    elif not cases:
        statement = f"harness unproven: none of {len(with_variants)} reference variants passed"
    else:
        statement = f"positive controls: {len(cases)}/{len(with_variants)} reference variants passed"
    return {"count": len(cases), "cases": cases, "with_variants": len(with_variants), "statement": statement}


def matrix_certification(
    records: list[CaseRecord], *, passed: bool, status: EvidenceStatus, blockers: list[str], dpone_report: str
) -> dict[str, Any]:
    stats = matrix_stats(records)
    return {
        "schema_version": SCHEMA_VERSION,
        "passed": passed,
        "evidence_status": status.value,
        "profiles": sorted({r.profile.value for r in records}),
        "coverage": {
            "selected": len(records),
            "covered": int(stats["covered_cases"]),
            "passed": int(stats["passed_cases"]),
        },
        "blockers": blockers,
        "positive_controls": positive_controls(records),
        "docs_contradictions": sorted({f for r in records for f in r.findings if f.startswith("docs.contradiction:")}),
        "dpone_report": dpone_report,
        "note": (
            "evidence_status is computed by dpone-certify: PASS only when every selected case moved data for real "
            "and reconciled; UNVERIFIED when any case comes from dpone's mock_contract simulation."
        ),
        "cases": [
            {
                "case_id": r.case_id,
                "status": r.status.value,
                "evidence_status": r.evidence_status.value,
                "profile": r.profile.value,
                "engine": r.engine,
                "rows_moved": r.rows_moved,
                "blockers": r.blockers,
                "run_id": r.run_id,
                "dpone_errors": r.dpone_errors,
                "findings": r.findings,
                "variants": [
                    {k: v.get(k) for k in ("name", "passed", "blockers", "root_causes", "dpone_errors", "manifest")}
                    for v in r.variants
                ],
            }
            for r in records
        ],
    }


def _link(src: Path, dest: Path) -> None:
    dest.unlink(missing_ok=True)
    try:
        os.link(src, dest)  # same file system: no copy of ~120 MB of behavior files
    except OSError:
        shutil.copyfile(src, dest)


def stage_case_inputs(records: list[CaseRecord], input_dir: Path) -> list[str]:
    """Link each covered case's preflight and behavior files into `input_dir` (what dpone's matrix report reads);
    the blockers of cases not covered and of files missing."""
    blockers: list[str] = []
    for r in records:
        if not r.covered:
            absent = [b for b in r.blockers if b.startswith(f"{ABSENT_IN_BUILD}:")]
            blockers.extend(absent or [f"matrix_case.not_covered:{r.case_id}"])
            continue
        files = [(r.preflight_path, f"{r.case_id}.json"), (r.behavior_path, f"{r.case_id}__behavior.json")]
        for src, name in files:
            if src and Path(src).exists():
                _link(Path(src), input_dir / name)
            elif "gate.input_missing:source_sink_matrix" not in blockers:
                blockers.append("gate.input_missing:source_sink_matrix")
    return blockers
