"""Each matrix case's verdict where the UI shows partitions.

Every case materializes (a failed case is evidence too), so the partitions view alone is all green. Each case
therefore gets (1) its own materialization metadata: verdict, the reason in full, the blockers, the columns of
per-column findings, and links to its evidence files; and (2) an evaluation of the partitioned asset check
`source_sink_matrix:case_verdict` for its partition: passed only for a real pass; UNVERIFIED (the contract
profile's simulation) and not covered are WARN, failed and error are ERROR."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg

from dpone_certify.matrix.records import CaseRecord, CaseStatus, EvidenceStatus

CASE_CHECK = "case_verdict"
ASSET = dg.AssetKey("source_sink_matrix")


def case_verdict(r: CaseRecord) -> str:
    if r.status is CaseStatus.PASSED:
        return "UNVERIFIED" if r.evidence_status is EvidenceStatus.UNVERIFIED else "passed"
    return {CaseStatus.FAILED: "failed", CaseStatus.NOT_COVERED: "not covered", CaseStatus.ERROR: "error"}[r.status]


def _report_of(r: CaseRecord) -> dict[str, Any]:
    """The case's own report (local profile), when one of its artifacts is a JSON object with findings."""
    for path in (r.artifacts.get("reconciliation_report"), r.artifacts.get("case_report"), r.artifacts.get("report")):
        if not path:
            continue
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "type_fidelity" in data:
            return data
    return {}


def column_findings(r: CaseRecord) -> list[str]:
    """Per-column findings with the columns named: `type_fidelity.timestamptz_to_timestamp: created_at, ...`."""
    if not any(b.startswith("type_fidelity.") for b in r.blockers):
        return []
    fidelity = _report_of(r).get("type_fidelity") or {}
    out = []
    for f in fidelity.get("findings") or []:
        if isinstance(f, dict):
            out.append(f"type_fidelity.{f.get('from')}_to_{f.get('to')}: columns {', '.join(f.get('columns') or [])}")
    return out


def case_metadata(r: CaseRecord) -> dict[str, Any]:
    """Metadata of one partition's materialization."""
    verdict = case_verdict(r)
    metadata: dict[str, Any] = {
        "case_verdict": verdict,
        "case_profile": r.profile.value,
        "case_evidence_status": r.evidence_status.value,
        "case_rows_moved": r.rows_moved,
        "case_load_seconds": r.load_seconds,
    }
    if r.blockers:
        metadata["case_blockers"] = dg.MetadataValue.text(", ".join(r.blockers))
    if r.reason:
        metadata["case_reason"] = dg.MetadataValue.md(r.reason)  # in full: the UI cut it mid-value before
    findings = column_findings(r)
    if findings:
        metadata["case_column_findings"] = dg.MetadataValue.md("\n".join(f"- {f}" for f in findings))
    files = {"preflight": r.preflight_path, "behavior": r.behavior_path, **r.artifacts}
    for name, path in files.items():
        if path and Path(path).is_file():
            metadata[f"evidence/{name}"] = dg.MetadataValue.path(path)
    return metadata


def case_evaluation(r: CaseRecord) -> dg.AssetCheckEvaluation:
    verdict = case_verdict(r)
    passed = verdict == "passed"
    severity = dg.AssetCheckSeverity.ERROR if verdict in ("failed", "error") else dg.AssetCheckSeverity.WARN
    detail = ", ".join(r.blockers) or (r.reason or "")
    description = f"{verdict} ({r.profile.value} profile)" + (f": {detail}" if detail and not passed else "")
    findings = column_findings(r)
    metadata: dict[str, Any] = {"verdict": verdict, "profile": r.profile.value, "run_id": r.run_id}
    if findings:
        metadata["column_findings"] = dg.MetadataValue.md("\n".join(f"- {f}" for f in findings))
    return dg.AssetCheckEvaluation(
        asset_key=ASSET,
        check_name=CASE_CHECK,
        passed=passed,
        severity=severity,
        description=description[:2000],
        metadata=metadata,
        partition=r.case_id,
        blocking=False,
    )
