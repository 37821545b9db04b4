"""Shared machinery of the gate assets: the record of a gate (composed, saved, handed to lineage) and the
verdict check every gate carries. The factory (`gates.factory`) and the hand-written assets both use it."""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from dpone_certify.certification.keys import PLAN_STEP_TO_ASSET
from dpone_certify.certification.layout import RECORD_FILE
from dpone_certify.certification.records import GateRecord
from dpone_certify.certification.spec import FULL_CERTIFICATION_GROUP
from dpone_certify.dpone.adapter import DponeCall
from dpone_certify.evidence.atomic import atomic_write_json
from dpone_certify.gates.presentation import evidence_label, gate_metadata, reproduce_hint
from dpone_certify.matrix.records import EvidenceStatus
from dpone_certify.resources import CertifyResource
from dpone_certify.runbooks import Remediation, remediations_for, render_markdown

GROUP = FULL_CERTIFICATION_GROUP
__all__ = [
    "GROUP",
    "PLAN_STEP_TO_ASSET",
    "RECORD_FILE",
    "Evaluation",
    "GateFailed",
    "finish",
    "input_missing",
    "verdict_check",
]


class GateFailed(Exception):
    """Raised by a check after it recorded a failing ERROR evaluation, so the run (and the CI exit code) fails
    while the other gates still run and report."""


def record_path(certify: CertifyResource, run_id: str, gate: str) -> Path:
    return certify.layout(run_id).record_path(gate)


def save_record(certify: CertifyResource, record: GateRecord) -> None:
    atomic_write_json(record_path(certify, record.run_id, record.gate), record.model_dump(mode="json"), durable=False)


def load_run_record(certify: CertifyResource, run_id: str, gate: str) -> GateRecord | None:
    path = record_path(certify, run_id, gate)
    if not path.exists():
        return None
    return GateRecord.model_validate(json.loads(path.read_text(encoding="utf-8")))


def is_required(certify: CertifyResource, run_id: str, gate: str) -> bool:
    """Required unless the certification plan of this run (materialized in it, or consumed with the upstream
    records of an earlier run) says otherwise; a run without a plan requires every gate. The evidence chain's
    integrity is never waived by a plan."""
    if gate == "evidence_chain":
        return True
    plan = certify.layout(run_id).lineage_path("certification_plan")
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


def first_missing(
    context: dg.AssetExecutionContext, certify: CertifyResource, gate: str, inputs: dict[str, GateRecord | None]
) -> dg.Output[GateRecord] | None:
    """The finished `gate.input_missing` record for the first absent input, or None when all are present."""
    for name, rec in inputs.items():
        if rec is None:
            return finish(certify, input_missing(context.run_id, certify, gate, name))
    return None


def add_unverified_blocker(record: GateRecord) -> None:
    """A trust gate that failed on simulated evidence gets a blocker that points at the real fix."""
    if not record.passed and record.evidence_status is EvidenceStatus.UNVERIFIED:
        code = f"evidence.unverified:{record.gate}"
        if code not in record.blockers:
            record.blockers.append(code)


def consumed_status(*records: GateRecord) -> EvidenceStatus:
    """The weakest evidence among the inputs: simulated evidence anywhere makes the result UNVERIFIED."""
    statuses = {r.evidence_status for r in records}
    if EvidenceStatus.UNVERIFIED in statuses:
        return EvidenceStatus.UNVERIFIED
    return EvidenceStatus.PASS if statuses <= {EvidenceStatus.PASS} else EvidenceStatus.FAIL


def compose_record(
    run_id: str,
    certify: CertifyResource,
    gate: str,
    inputs: list[GateRecord],
    *,
    blockers: list[str],
    out: Path,
    call: DponeCall | None,
    artifacts: dict[str, str],
    summary: str,
    metrics: dict[str, float] | None = None,
    extra: dict[str, Any] | None = None,
    release: str | None = None,
    trust_gate: bool = False,
) -> GateRecord:
    """A dpone gate's record: its evidence is the weakest of its inputs, its profile the profile of the records
    it judged (the run's profile only for a gate with no input), failed when it has any blocker."""
    upstream = consumed_status(*inputs) if inputs else EvidenceStatus.PASS
    passed = not blockers
    status = upstream if passed or upstream is EvidenceStatus.UNVERIFIED else EvidenceStatus.FAIL
    if call is not None and call.outcome.value != "ok":
        summary = f"{summary}\n\n{call.describe()}"
    record = GateRecord(
        gate=gate,
        run_id=run_id,
        profile=inputs[0].profile if inputs else certify.resolved_profile(),
        evidence_status=status,
        passed=passed,
        blockers=blockers,
        artifacts={k: v for k, v in artifacts.items() if v and Path(v).exists()},
        metrics=metrics or {},
        dpone_command=call.command if call else None,
        summary=summary,
        output_dir=str(out),
        extra=extra or {},
        release=release,
        consumed_runs={r.gate: r.run_id for r in inputs if r.run_id != run_id},
    )
    if trust_gate:
        add_unverified_blocker(record)
    return record


def severity(required: bool) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if required else dg.AssetCheckSeverity.WARN


@dataclass(frozen=True)
class Evaluation:
    """What a verdict check reports; `fails_run`: the message of the GateFailed raised after it is recorded."""

    passed: bool
    severity: dg.AssetCheckSeverity
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)
    fails_run: str | None = None


# How one gate's verdict check reads its record of this run (None: the gate left none) into its evaluation.
CheckJudge = Callable[[CertifyResource, str, GateRecord | None], Evaluation]


def no_record(gate: str, run_id: str, required: bool) -> Evaluation:
    """The evaluation when `gate` left no record in run `run_id`; it fails the run if the gate is required."""
    return Evaluation(
        passed=False,
        severity=severity(required),
        description=f"{gate} left no record in this run; it was not materialized or crashed before writing.",
        metadata={"reproduce": dg.MetadataValue.text(reproduce_hint(gate))},
        fails_run=f"{gate}: no record in run {run_id}" if required else None,
    )


def remediation_metadata(record: GateRecord, remediations: list[Remediation]) -> dict[str, Any]:
    """The gate's UI metadata and the remediation of each of its blockers."""
    metadata = gate_metadata(record)
    metadata["remediation"] = dg.MetadataValue.md(render_markdown(remediations) if remediations else "none")
    return metadata


def _describe(gate: str, record: GateRecord) -> str:
    if not record.passed:
        return f"{gate} failed with {len(record.blockers)} blocker(s): {', '.join(record.blockers[:5])}"
    warnings = f"; warnings: {', '.join(record.warnings)}" if record.warnings else ""
    return f"{gate} passed; evidence {evidence_label(record.evidence_status)}{warnings}"


def record_verdict(gate: str, record: GateRecord, required: bool, description: str | None = None) -> Evaluation:
    """A gate's verdict from its record: passed, or failed with its blockers (or `description` instead), with
    the remediations; a failed required gate fails the run."""
    remediations = remediations_for(record.blockers, gate=gate)
    description = _describe(gate, record) if description is None else description
    metadata = remediation_metadata(record, remediations)
    metadata["unknown_blockers"] = sum(1 for r in remediations if not r.known)
    fails = not record.passed and required
    return Evaluation(
        passed=record.passed,
        severity=severity(required),
        description=description,
        metadata=metadata,
        fails_run=f"{description}. Remediation is in the check's metadata." if fails else None,
    )


def plan_verdict(gate: str) -> CheckJudge:
    """The common judge: required as dpone's certification plan says (`is_required`)."""

    def judge(certify: CertifyResource, run_id: str, record: GateRecord | None) -> Evaluation:
        required = is_required(certify, run_id, gate)
        return no_record(gate, run_id, required) if record is None else record_verdict(gate, record, required)

    return judge


def verdict_check(gate: str, description: str, judge: CheckJudge | None = None) -> dg.AssetChecksDefinition:
    """The `verdict` check of one gate: `judge` (default `plan_verdict`) reads the gate's record of this run.

    Non-blocking on purpose, so every downstream gate still runs and reports (as dpone's own chain does); when
    the evaluation says so (a required gate failed), the check records it and then raises, which fails the run,
    so `dagster asset materialize` exits non-zero (a failing non-blocking check alone would leave it at 0)."""
    read = judge or plan_verdict(gate)

    # A generator check (yield the evaluation, then raise) is supported at run time; the stubs only know returns.
    @dg.asset_check(asset=dg.AssetKey(gate), name="verdict", blocking=False, description=description)  # type: ignore[arg-type]
    def _check(context: dg.AssetCheckExecutionContext, certify: CertifyResource) -> Iterator[dg.AssetCheckResult]:
        run_id = context.run.run_id
        e = read(certify, run_id, load_run_record(certify, run_id, gate))
        yield dg.AssetCheckResult(passed=e.passed, severity=e.severity, description=e.description, metadata=e.metadata)
        if e.fails_run:
            raise GateFailed(e.fails_run)

    return _check
