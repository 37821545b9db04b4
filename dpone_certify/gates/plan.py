"""certification_plan: dpone's own plan of the certification chain, checked against the graph we run."""

import dagster as dg

from dpone_certify.dpone.adapter import DponeCallError
from dpone_certify.dpone.models import CertificationPlan
from dpone_certify.gates.common import GROUP, PLAN_STEP_TO_ASSET, finish
from dpone_certify.gates.records import GateRecord
from dpone_certify.matrix.records import EvidenceStatus
from dpone_certify.resources import CertifyResource


@dg.asset(group_name=GROUP, backfill_policy=dg.BackfillPolicy.single_run(), kinds={"dpone"})
def certification_plan(context: dg.AssetExecutionContext, certify: CertifyResource) -> dg.Output[GateRecord]:
    """dpone's certification-automation-plan for the selected profile; fails when dpone plans a step that this
    graph does not model, so a new gate in dpone cannot be skipped silently."""
    profile = certify.resolved_profile()
    out = certify.gate_dir(context.run_id, "certification_plan")
    argv = [
        "ops",
        "certification-automation-plan",
        "--output-dir",
        str(out),
        "--profile",
        profile.dpone_profile,
        "--row-count",
        str(certify.row_count),
        "--format",
        "json",
    ]
    call = certify.adapter().cli("certification_plan", argv)
    blockers: list[str] = []
    steps: list[dict[str, object]] = []
    try:
        plan = call.parse(CertificationPlan)
        steps = [{"name": s.name, "required": s.required, "asset": PLAN_STEP_TO_ASSET.get(s.name)} for s in plan.steps]
        blockers += [] if plan.passed else ["plan.not_passed"]
        blockers += [f"plan.step_unmodelled:{s.name}" for s in plan.steps if s.name not in PLAN_STEP_TO_ASSET]
    except DponeCallError as exc:
        blockers.append(exc.blocker)
    record = GateRecord(
        gate="certification_plan",
        run_id=context.run_id,
        profile=profile,
        evidence_status=EvidenceStatus.PASS if not blockers else EvidenceStatus.FAIL,
        passed=not blockers,
        blockers=blockers,
        artifacts={"report": str(out / "certification_automation_plan.json")},
        metrics={
            "plan_steps": float(len(steps)),
            "required_steps": float(sum(bool(s["required"]) for s in steps)),
        },
        dpone_command=call.command,
        summary=f"dpone plans {len(steps)} steps for profile `{profile.dpone_profile}`; each maps to an asset here.",
        output_dir=str(out),
        extra={"steps": steps},
    )
    table = dg.MetadataValue.table(
        records=[
            dg.TableRecord(
                {
                    "step": str(s["name"]),
                    "asset": str(s["asset"] or "UNMODELLED"),
                    "required": bool(s["required"]),
                }
            )
            for s in steps
        ],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("step", "string"),
                dg.TableColumn("asset", "string"),
                dg.TableColumn("required", "bool"),
            ]
        ),
    )
    return finish(certify, record, {"steps": table})
