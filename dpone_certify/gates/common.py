"""Shared machinery of the gate assets: run folders, records, and the verdict check every gate carries."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg

from dpone_certify.gates.io_manager import write_json_atomic
from dpone_certify.gates.presentation import evidence_label, gate_metadata, reproduce_hint
from dpone_certify.gates.records import GateRecord
from dpone_certify.matrix.records import EvidenceStatus
from dpone_certify.resources import CertifyResource
from dpone_certify.runbooks import remediations_for, render_markdown

GROUP = "full_certification"
RECORD_FILE = "gate_record.json"

# dpone's plan step -> our asset (dpone's plan is the authority on which gates are required).
PLAN_STEP_TO_ASSET = {
    "source_sink_matrix": "source_sink_matrix",
    "matrix_report": "matrix_report",
    "benchmark_baseline": "benchmark_baseline",
    "run_registry": "run_registry",
    "lineage_export": "lineage_report",
    "evidence_bundle": "evidence_bundle",
    "strategy_certification_bundle": "strategy_certification_bundle",
    "certification_suite": "certification_suite",
    "artifact_index": "artifact_index",
    "evidence_chain": "evidence_chain",
    "evidence_chain_verify": "evidence_chain",
}


class GateFailed(Exception):
    """Raised by a check after it recorded a failing ERROR evaluation, so the run (and the CI exit code) fails
    while the other gates still run and report."""


def record_path(certify: CertifyResource, run_id: str, gate: str) -> Path:
    return certify.gate_dir(run_id, gate) / RECORD_FILE


def save_record(certify: CertifyResource, record: GateRecord) -> None:
    write_json_atomic(record_path(certify, record.run_id, record.gate), record.model_dump(mode="json"))


def load_run_record(certify: CertifyResource, run_id: str, gate: str) -> GateRecord | None:
    path = record_path(certify, run_id, gate)
    if not path.exists():
        return None
    return GateRecord.model_validate(json.loads(path.read_text(encoding="utf-8")))


def is_required(certify: CertifyResource, gate: str) -> bool:
    """Required unless dpone's latest certification plan says otherwise."""
    plan = certify.root() / "lineage" / "certification_plan" / "latest.json"
    if not plan.exists():
        return True
    data = json.loads(plan.read_text(encoding="utf-8"))["data"]
    steps = data.get("extra", {}).get("steps", [])
    flags = [s["required"] for s in steps if PLAN_STEP_TO_ASSET.get(s["name"]) == gate]
    return any(flags) if flags else True


def finish(
    certify: CertifyResource, record: GateRecord, extra_metadata: dict[str, Any] | None = None
) -> dg.Output[GateRecord]:
    """Persist the record in the run folder (for the check) and hand it to the IO manager (for lineage).
    The one place a gate record gets the identity of the build under test."""
    if record.build is None:
        record.build = certify.build_identity()
    save_record(certify, record)
    metadata = {**(extra_metadata or {}), "build": record.build.label}
    return dg.Output(record, metadata=gate_metadata(record, metadata))


def input_missing(run_id: str, certify: CertifyResource, gate: str, upstream: str) -> GateRecord:
    """The record of a gate whose upstream asset was never materialized (or whose artifact is gone)."""
    return GateRecord(
        gate=gate,
        run_id=run_id,
        profile=certify.resolved_profile(),
        evidence_status=EvidenceStatus.FAIL,
        passed=False,
        blockers=[f"gate.input_missing:{upstream}"],
        output_dir=str(certify.gate_dir(run_id, gate)),
        summary=f"`{upstream}` has no usable output; materialize it first.",
    )


def add_unverified_blocker(record: GateRecord) -> None:
    """A trust gate that failed on simulated evidence gets a blocker that points at the real fix."""
    if not record.passed and record.evidence_status is EvidenceStatus.UNVERIFIED:
        code = f"evidence.unverified:{record.gate}"
        if code not in record.blockers:
            record.blockers.append(code)


def verdict_check(gate: str, description: str) -> dg.AssetChecksDefinition:
    """The ERROR-severity verdict of one gate.

    Non-blocking on purpose, so every downstream gate still runs and reports (as dpone's own chain does); when
    a required gate fails, the check records its evaluation and then raises, which fails the run, so
    `dagster asset materialize` exits non-zero (a failing non-blocking check alone would leave it at 0)."""

    # A generator check (yield the evaluation, then raise) is supported at run time; the stubs only know returns.
    @dg.asset_check(asset=dg.AssetKey(gate), name="verdict", blocking=False, description=description)  # type: ignore[arg-type]
    def _check(context: dg.AssetCheckExecutionContext, certify: CertifyResource) -> Iterator[dg.AssetCheckResult]:
        record = load_run_record(certify, context.run.run_id, gate)
        required = is_required(certify, gate)
        severity = dg.AssetCheckSeverity.ERROR if required else dg.AssetCheckSeverity.WARN
        if record is None:
            yield dg.AssetCheckResult(
                passed=False,
                severity=severity,
                description=f"{gate} left no record in this run; it was not materialized or crashed before writing.",
                metadata={"reproduce": dg.MetadataValue.text(reproduce_hint(gate))},
            )
            if required:
                raise GateFailed(f"{gate}: no record in run {context.run.run_id}")
            return
        remediations = remediations_for(record.blockers, gate=gate)
        status = evidence_label(record.evidence_status)
        if record.passed:
            description = f"{gate} passed; evidence {status}"
        else:
            description = f"{gate} failed with {len(record.blockers)} blocker(s): {', '.join(record.blockers[:5])}"
        metadata = gate_metadata(record)
        metadata["remediation"] = dg.MetadataValue.md(render_markdown(remediations) if remediations else "none")
        metadata["unknown_blockers"] = sum(1 for r in remediations if not r.known)
        yield dg.AssetCheckResult(passed=record.passed, severity=severity, description=description, metadata=metadata)
        if not record.passed and required:
            raise GateFailed(f"{description}. Remediation is in the check's metadata.")

    return _check
