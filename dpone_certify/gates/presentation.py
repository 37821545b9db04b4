"""How a gate looks in the Dagster UI: a markdown summary, a blockers table with remediations, artifact
paths, and numeric metadata the UI plots across runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import dagster as dg

from dpone_certify.gates.records import GateRecord
from dpone_certify.matrix.records import EvidenceStatus
from dpone_certify.runbooks import Remediation, remediations_for, render_markdown

UNVERIFIED_LABEL = "UNVERIFIED (dpone mock_contract simulation: a contract exists, no data was moved)"


def evidence_label(status: EvidenceStatus) -> str:
    return UNVERIFIED_LABEL if status is EvidenceStatus.UNVERIFIED else status.value


def blockers_table(remediations: Iterable[Remediation]) -> dg.TableMetadataValue:
    records = [
        dg.TableRecord(
            {
                "blocker": r.blocker,
                "known": r.known,
                "meaning": r.meaning,
                "reproduce": r.reproduce[0] if r.reproduce else "",
                "first_fix": r.fix[0] if r.fix else "",
            }
        )
        for r in remediations
    ]
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn("blocker", "string", description="what the gate reported"),
            dg.TableColumn("known", "bool", description="false: no runbook entry, generic triage"),
            dg.TableColumn("meaning", "string"),
            dg.TableColumn("reproduce", "string", description="exact command"),
            dg.TableColumn("first_fix", "string"),
        ]
    )
    return dg.MetadataValue.table(records=records, schema=schema)


def summary_markdown(record: GateRecord, remediations: list[Remediation]) -> str:
    verdict = "PASSED" if record.passed else "FAILED"
    lines = [
        f"## {record.gate}: {verdict}",
        "",
        f"- Evidence status: **{evidence_label(record.evidence_status)}**",
        f"- Profile: `{record.profile.value}`" + (f", release `{record.release}`" if record.release else ""),
        f"- Required by dpone's certification plan: `{record.required}`",
    ]
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


def reproduce_hint(gate: str, partition: str | None = None) -> str:
    selection = f"--select {gate}" + (f" --partition {partition}" if partition else "")
    return f"dagster asset materialize -m dpone_certify.definitions {selection}"
