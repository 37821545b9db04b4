"""How a gate looks in the Dagster UI: a markdown summary, a blockers table with remediations, artifact
paths, and numeric metadata the UI plots across runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import dagster as dg

from dpone_certify.certification.labels import UNVERIFIED_LABEL, evidence_label, reproduce_hint
from dpone_certify.certification.records import GateRecord
from dpone_certify.matrix.records import CaseRecord
from dpone_certify.runbooks import Remediation, remediations_for, render_markdown

__all__ = ["UNVERIFIED_LABEL", "blockers_table", "evidence_label", "gate_metadata", "reproduce_hint", "table"]


def table(rows: list[dict[str, Any]], types: Mapping[str, str], descriptions: Mapping[str, str] | None = None):
    """A table for the UI: `types` names the columns in order (column -> "string" | "int" | "bool" | ...)."""
    return dg.MetadataValue.table(
        records=[dg.TableRecord(row) for row in rows],
        schema=dg.TableSchema(
            columns=[dg.TableColumn(c, t, description=(descriptions or {}).get(c)) for c, t in types.items()]
        ),
    )


DOMAIN_COLUMNS = ["domain", "status", "artifact", "reason"]


def domain_table(rows: list[dict[str, Any]]) -> dg.TableMetadataValue:
    """The evidence domains of a release producer or gate (its columns, or the default ones when it has none)."""
    types = {"passed_to_dpone": "bool", "dpone_passed": "bool"}
    return table(rows, {c: types.get(c, "string") for c in (list(rows[0]) if rows else DOMAIN_COLUMNS)})


def blockers_table(remediations: Iterable[Remediation]) -> dg.TableMetadataValue:
    rows = [
        {
            "blocker": r.blocker,
            "known": r.known,
            "meaning": r.meaning,
            "reproduce": r.reproduce[0] if r.reproduce else "",
            "first_fix": r.fix[0] if r.fix else "",
        }
        for r in remediations
    ]
    types = {"blocker": "string", "known": "bool", "meaning": "string", "reproduce": "string", "first_fix": "string"}
    descriptions = {
        "blocker": "what the gate reported",
        "known": "false: no runbook entry, generic triage",
        "reproduce": "exact command",
    }
    return table(rows, types, descriptions)


def summary_markdown(record: GateRecord, remediations: list[Remediation]) -> str:
    verdict = "PASSED" if record.passed else "FAILED"
    release = f", release `{record.release}`" if record.release else ""
    lines = [f"## {record.gate}: {verdict}", "", f"- Evidence status: **{evidence_label(record.evidence_status)}**"]
    lines += [f"- Profile: `{record.profile.value}`{release}"]
    lines += [f"- Required by dpone's certification plan: `{record.required}`"]
    if record.warnings:
        lines += [f"- Warnings (shown, not failing): {', '.join(f'`{w}`' for w in record.warnings)}"]
    if record.consumed_runs:
        lines += [f"- Consumed from earlier runs: {', '.join(f'{g} ({r})' for g, r in record.consumed_runs.items())}"]
    if record.summary:
        lines += ["", record.summary]
    if record.dpone_command:
        lines += ["", "Underlying dpone call:", "", f"```\n{record.dpone_command}\n```"]
    if remediations:
        lines += ["", render_markdown(remediations)]
    return "\n".join(lines)


def gate_metadata(record: GateRecord, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    remediations = remediations_for(record.blockers, gate=record.gate)
    metadata: dict[str, Any] = {
        "summary": dg.MetadataValue.md(summary_markdown(record, remediations)),
        "passed": record.passed,
        "evidence_status": record.evidence_status.value,
        "profile": record.profile.value,
        "blocker_count": len(record.blockers),
        "output_dir": dg.MetadataValue.path(record.output_dir),
    }
    if remediations:
        metadata["blockers"] = blockers_table(remediations)
    for name, path in record.artifacts.items():
        metadata[f"artifact/{name}"] = dg.MetadataValue.path(path)
    for name, value in record.metrics.items():
        metadata[name] = float(value)
    if record.dpone_command:
        metadata["dpone_command"] = dg.MetadataValue.text(record.dpone_command)
    metadata.update(extra or {})
    return metadata


CASE_COLUMNS = {
    c: "string"
    for c in ("case_id", "status", "evidence", "engine", "rows", "blockers", "reason", "dpone_error", "reference")
}


def case_table(records: list[CaseRecord]) -> dg.TableMetadataValue:
    rows = [
        {
            "case_id": r.case_id,
            "status": r.status.value,
            "evidence": r.evidence_status.value,
            "engine": ", ".join(f"{k}={v}" for k, v in r.engine.items()),
            "rows": r.rows_moved,
            "blockers": ", ".join(r.blockers),
            "reason": r.reason or "",
            "dpone_error": "; ".join(r.dpone_errors)[:500],
            "reference": next(
                (("passed" if v.get("passed") else "failed") for v in r.variants if v.get("name") == "reference"), ""
            ),
        }
        for r in records
    ]
    return table(rows, {**CASE_COLUMNS, "rows": "int"})
