"""Industrial-readiness domain artifacts backed by the local matrix records (contracts §3.2).

`dpone ops industrial-readiness` reads each domain under the production rule: `passed is True`, no non-empty
`blockers|violations|findings|errors|failed_stages`, and none of the keys that mark certification-trust or
local-only evidence (`evidence_status`, `profile`, `local_behavior_passed`, `production_certification`,
`local_evidence_status`, `environment_class`). So these files carry none of those keys; `passed` is computed
from the records, true only when every selected case ran for real and reconciled.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dpone_certify.matrix.records import CaseRecord, CaseStatus, EvidenceStatus

FORBIDDEN_KEYS = frozenset(
    {
        "evidence_status",
        "profile",
        "local_behavior_passed",
        "production_certification",
        "local_evidence_status",
        "environment_class",
        "schema",
        "schema_version",
    }
)


def _pct(ratio: float) -> float | int:
    value = round(ratio * 100, 4)
    return int(value) if value == int(value) else value


def _case_entry(record: CaseRecord) -> dict[str, Any]:
    return {
        "source": record.source,
        "sink": record.sink,
        "strategy": record.strategy,
        "row_count": record.settings.row_count,
        "changed_pct": _pct(record.settings.change_ratio),
        "deleted_pct": _pct(record.settings.delete_ratio),
        "wide_columns": record.wide_columns or record.settings.wide_columns,
    }


def _certified(record: CaseRecord) -> bool:
    return (
        record.status is CaseStatus.PASSED
        and record.evidence_status is EvidenceStatus.PASS
        and not record.blockers
        and record.rows_moved > 0
    )


def _case_status(record: CaseRecord) -> dict[str, Any]:
    return {
        "case_id": record.case_id,
        "result": record.status.value,
        "blockers": list(record.blockers),
        "reason": record.reason,
        "engine": dict(record.engine),
        "behavior_path": record.behavior_path,
    }


def local_matrix_payload(records: Sequence[CaseRecord]) -> dict[str, Any]:
    certified = [r for r in records if _certified(r)]
    covered = [r for r in records if r.covered]
    not_covered = [r for r in records if r.status is CaseStatus.NOT_COVERED]
    blockers = sorted({b for r in records for b in r.blockers})
    passed = bool(records) and len(certified) == len(records)
    return {
        "passed": passed,
        "summary": (
            f"{len(certified)}/{len(records)} selected cases certified by real dpone runs on local engines "
            f"(covered {len(covered)}/{len(records)}, not covered {len(not_covered)}); every case seeded, loaded, "
            "mutated (updates + physical deletes + inserts), reloaded and reconciled by independent SQL"
        ),
        "cases": [_case_entry(r) for r in certified],  # only certified cases count as covered
        "selected_cases": len(records),
        "covered_cases": len(covered),
        "certified_cases": len(certified),
        "attempted": [{**_case_entry(r), **_case_status(r)} for r in records],
        "blockers": blockers,
    }


def correctness_payload(records: Sequence[CaseRecord]) -> dict[str, Any]:
    checks = []
    for r in records:
        report = _read_report(r)
        final = report.get("final") or {}
        checks.append(
            {
                "case_id": r.case_id,
                "result": r.status.value,
                "expected_row_count": r.expected_row_count,
                "actual_row_count": r.actual_row_count,
                "rows_match": final.get("rows_match"),
                "checksum_match": final.get("checksum_match"),
                "expected_checksum": final.get("expected_checksum"),
                "actual_checksum": final.get("actual_checksum"),
                "type_fidelity_findings": (report.get("type_fidelity") or {}).get("findings", []),
                "empty_string_preservation": report.get("empty_string_preservation", {}),
                "blockers": [b for b in r.blockers if b.startswith(("correctness.", "type_fidelity."))],
                "reconciliation_report": r.artifacts.get("reconciliation_report"),
            }
        )
    blockers = sorted(
        {b for r in records for b in r.blockers if b.startswith(("correctness.", "type_fidelity.", "matrix_case."))}
        | {b for r in records for b in r.blockers if b.startswith(("run.failed", "rerun.failed"))}
    )
    passed = bool(records) and all(_certified(r) for r in records)
    return {
        "passed": passed,
        "summary": (
            f"independent reconciliation (row count, order-independent checksum of business columns, type "
            f"fidelity, NULL vs '' preservation, strategy promise after the second run) on {len(records)} cases; "
            f"{sum(_certified(r) for r in records)} reconciled"
        ),
        "checks": checks,
        "blockers": blockers,
    }


def schema_evolution_payload(records: Sequence[CaseRecord]) -> dict[str, Any]:
    cases = []
    for r in records:
        report = _read_report(r)
        runs = report.get("dpone_runs") or []
        second = next((run for run in runs if run.get("label") == "load2"), None)
        cases.append(
            {
                "case_id": r.case_id,
                "second_run": (
                    None
                    if second is None
                    else {"status": second.get("status"), "error_codes": second.get("error_codes", [])}
                ),
                "target_schema_after_second_run": report.get("schema_after_second_run"),
                "type_changes_first_load": (report.get("type_fidelity") or {}).get("findings", []),
            }
        )
    ran = [c for c in cases if c["second_run"] is not None]
    blocked = [c for c in ran if c["second_run"]["status"] != "success"]
    blockers = sorted(
        {b for r in records for b in r.blockers if b.startswith(("rerun.failed", "type_fidelity."))}
        | {f"matrix_case.not_covered:{r.case_id}" for r in records if r.status is CaseStatus.NOT_COVERED}
    )
    passed = bool(records) and bool(ran) and len(ran) == len(records) and not blocked and not blockers
    return {
        "passed": passed,
        "summary": (
            f"second runs into targets dpone created on the first load: {len(ran) - len(blocked)}/{len(ran)} "
            f"succeeded; {len(records) - len(ran)} cases had no second run"
        ),
        "cases": cases,
        "blockers": blockers,
    }


def _read_report(record: CaseRecord) -> dict[str, Any]:
    path = record.artifacts.get("reconciliation_report")
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def build_domains(records: Sequence[CaseRecord], out_dir: Path) -> dict[str, Path]:
    """Write local_matrix.json, correctness.json and schema_evolution.json; return name -> path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    payloads = {
        "local_matrix": local_matrix_payload(records),
        "correctness": correctness_payload(records),
        "schema_evolution": schema_evolution_payload(records),
    }
    paths: dict[str, Path] = {}
    for name, payload in payloads.items():
        assert not FORBIDDEN_KEYS & set(payload), f"{name} carries a key dpone's production rule rejects"
        path = out_dir / f"{name}.json"
        path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
        paths[name] = path.resolve()
    return paths
