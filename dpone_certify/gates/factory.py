"""The gate factory: one `GateSpec` with a dpone call -> its asset and its verdict check.

The shared behaviour lives here once: an upstream that never ran (`gate.input_missing:<upstream>`), dpone
crashing, timing out or answering something unreadable (the call's own blocker), the record (status from the
inputs, profile from the records judged, trust-gate blocker), and the UI metadata."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dagster as dg

from dpone_certify.certification.records import GateRecord, crashed_inputs
from dpone_certify.certification.spec import GateInputs, GateSpec, InputMissing, Judgement
from dpone_certify.dpone.adapter import DponeCallError
from dpone_certify.gates.common import compose_record, finish, input_missing, verdict_check
from dpone_certify.resources import CertifyResource, DponeResource

# Extra UI metadata for a gate's materialization, from its record (e.g. the plan's step table).
UiMetadata = Callable[[GateRecord], dict[str, Any]]


@dataclass(frozen=True)
class BuiltGate:
    spec: GateSpec
    asset: dg.AssetsDefinition
    check: dg.AssetChecksDefinition


def run_spec(
    spec: GateSpec, run_id: str, certify: CertifyResource, dpone: DponeResource, records: dict[str, GateRecord | None]
) -> GateRecord:
    """Everything a dpone gate does, outside Dagster's decorators (so tests and other builders can call it)."""
    command = spec.command
    assert command is not None, f"{spec.name} is hand-written"
    if not spec.partial_inputs:
        absent = next((name for name, rec in records.items() if rec is None), None)
        if absent is not None:
            return input_missing(run_id, certify, spec.name, absent)
    out = certify.gate_dir(run_id, spec.name)
    inputs = GateInputs(gate=spec.name, run_id=run_id, out=out, settings=certify, records=records)
    crashed = crashed_inputs(dict(records))
    if crashed and not spec.runs_on_crashed_inputs:
        # Nothing was measured upstream: no verdict about dpone from it.
        summary = f"Not judged: {', '.join(c.split(':', 1)[1] for c in crashed)} crashed or timed out upstream."
        return compose_record(run_id, certify, spec.name, inputs.present, blockers=crashed, out=out, call=None,
                              artifacts={}, summary=summary)  # fmt: skip
    try:
        argv = command.argv(inputs)
    except InputMissing as exc:
        return input_missing(run_id, certify, spec.name, exc.upstream)
    call = dpone.adapter(certify).cli(spec.name, [*argv, "--format", "json"])
    blockers: list[str] = [*crashed, *inputs.state.get("blockers", [])]
    judgement = Judgement()
    try:
        answer = call.parse(command.answer)
        inputs.state["payload"] = call.payload
        judgement = command.judge(inputs, answer)
    except DponeCallError as exc:
        blockers.append(exc.blocker)
    blockers += [b for b in judgement.blockers if b not in blockers]
    return compose_record(
        run_id,
        certify,
        spec.name,
        [] if spec.judges_settings_profile else inputs.present,
        blockers=blockers,
        out=out,
        call=call,
        artifacts={**spec.artifact_paths(inputs), **judgement.artifacts},
        summary=judgement.summary or spec.summary_for(inputs),
        metrics=judgement.metrics,
        extra={**inputs.state.get("extra", {}), **judgement.extra},
        release=certify.release_name() if spec.records_release else None,
        trust_gate=spec.trust_gate,
    )


def build_gate(spec: GateSpec, ui_metadata: UiMetadata | None = None) -> BuiltGate:
    """The asset (inputs: the upstream records by lineage) and the verdict check of one dpone gate."""

    @dg.asset(
        name=spec.name,
        group_name=spec.group,
        description=spec.description,
        ins={name: dg.AssetIn(name) for name in spec.upstream},
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds=set(spec.kinds),
    )
    def _gate(
        context: dg.AssetExecutionContext, certify: CertifyResource, dpone: DponeResource, **upstream: Any
    ) -> dg.Output[GateRecord]:
        records = {name: upstream.get(name) for name in spec.upstream}
        record = run_spec(spec, context.run_id, certify, dpone, records)
        return finish(certify, record, ui_metadata(record) if ui_metadata else None)

    check = verdict_check(spec.name, f"dpone's verdict for {spec.name}, with remediation per blocker")
    return BuiltGate(spec=spec, asset=_gate, check=check)
