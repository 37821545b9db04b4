"""A new dpone gate is one spec plus its remediation entries: a throwaway spec, built by the factory and
materialized for real (real dpone, a real Dagster instance), gets its asset, its verdict check, its record, its
plan-step mapping and its place in the index order from the spec alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from dpone_certify.certification import keys
from dpone_certify.certification.full_certification import FULL_CERTIFICATION
from dpone_certify.certification.layout import EvidenceLayout
from dpone_certify.certification.records import GateRecord
from dpone_certify.certification.spec import DponeCommand, GateInputs, GateSpec, Judgement
from dpone_certify.dpone.models import CertificationPlan
from dpone_certify.gates.factory import build_gate
from dpone_certify.gates.full_certification import BUILT
from dpone_certify.gates.io_manager import EvidenceIOManager
from dpone_certify.resources import CertifyResource, DponeResource
from dpone_certify.runbooks import CatalogueError, parse_catalogue


def _argv(inputs: GateInputs) -> list[str]:
    """A second look at dpone's plan, for the profile the upstream plan record judged."""
    profile = inputs.record("certification_plan").profile
    return ["ops", "certification-automation-plan", "--output-dir", str(inputs.out), "--profile", profile.dpone_profile]


def _judge(inputs: GateInputs, plan: CertificationPlan) -> Judgement:
    blockers = [] if plan.passed else ["plan_echo.not_passed"]
    return Judgement(blockers=blockers, metrics={"steps": float(len(plan.steps))})


TOY = GateSpec(
    name="plan_echo",
    description="dpone's plan, asked again (a throwaway gate for this test).",
    upstream=("certification_plan",),
    plan_steps=("plan_echo_step",),
    indexed=True,
    command=DponeCommand(argv=_argv, answer=CertificationPlan, judge=_judge),
    artifacts={"report": "certification_automation_plan.json"},
    summary="dpone's plan, asked again.",
)
BROKEN = GateSpec(
    name="plan_broken",
    description="a dpone call with arguments dpone rejects",
    upstream=("certification_plan",),
    command=DponeCommand(
        argv=lambda i: ["ops", "certification-automation-plan", "--no-such-flag"],
        answer=CertificationPlan,
        judge=_judge,
    ),
)

REMEDIATION = """
- blocker: "plan_echo.not_passed"
  gate: "plan_echo"
  meaning: "dpone's second plan did not pass."
  inspect: ["The plan JSON in {evidence_dir}."]
  reproduce: ["dagster asset materialize -m dpone_certify.definitions --select plan_echo"]
  fix: ["Fix what dpone's plan reports."]
  do_not: ["Do not mark the plan passed by hand."]
"""


def _defs(*specs: GateSpec) -> dg.Definitions:
    built = [build_gate(s) for s in specs]
    plan = BUILT["certification_plan"]
    return dg.Definitions(
        assets=[plan.asset, *(b.asset for b in built)],
        asset_checks=[plan.check, *(b.check for b in built)],
        resources={"certify": CertifyResource(), "dpone": DponeResource(), "io_manager": EvidenceIOManager()},
        executor=dg.in_process_executor,
    )


def _run(defs: dg.Definitions, root: Path, selection: list[str]) -> dg.ExecuteInProcessResult:
    with dg.instance_for_test() as instance:
        return defs.resolve_implicit_global_asset_job_def().execute_in_process(
            asset_selection=[dg.AssetKey(a) for a in selection],
            instance=instance,
            run_config={"resources": {"certify": {"config": {"evidence_root": str(root)}}}},
            raise_on_error=False,
        )


def _record(root: Path, run_id: str, gate: str) -> GateRecord:
    return GateRecord.model_validate_json(EvidenceLayout(root, run_id).record_path(gate).read_text())


def test_the_spec_alone_places_the_gate_in_the_graph() -> None:
    specs = (*FULL_CERTIFICATION, TOY)
    assert keys.plan_step_mapping(specs)["plan_echo_step"] == "plan_echo"
    assert "plan_echo_step" not in keys.PLAN_STEP_TO_ASSET
    assert keys.indexed(specs)[-1] == "plan_echo"
    built = build_gate(TOY)
    assert built.asset.key == dg.AssetKey("plan_echo")
    assert built.asset.asset_deps[dg.AssetKey("plan_echo")] == {dg.AssetKey("certification_plan")}
    assert built.asset.group_names_by_key[dg.AssetKey("plan_echo")] == "full_certification"
    assert {c.name for c in built.check.check_specs} == {"verdict"}


def test_the_remediation_entries_are_the_other_half() -> None:
    entries = parse_catalogue(REMEDIATION, asset_keys=(*keys.ALL_GATES, TOY.name))
    assert [e.blocker for e in entries] == ["plan_echo.not_passed"]
    with pytest.raises(CatalogueError, match="not an asset key"):
        parse_catalogue(REMEDIATION)


def test_a_built_gate_runs_dpone_records_and_checks(tmp_path: Path) -> None:
    root = tmp_path / "evidence"
    result = _run(_defs(TOY, BROKEN), root, ["certification_plan", "plan_echo", "plan_broken"])
    record = _record(root, result.run_id, "plan_echo")
    plan = _record(root, result.run_id, "certification_plan")
    assert record.passed and record.blockers == [] and record.metrics["steps"] == plan.metrics["plan_steps"] > 0
    assert record.profile == plan.profile  # from the record it judged
    assert record.dpone_command and record.dpone_command.endswith("--format json")
    assert Path(record.artifacts["report"]).is_file()
    checks: dict[str, Any] = {ev.asset_key.path[-1]: ev for ev in result.get_asset_check_evaluations()}
    assert checks["plan_echo"].passed
    broken = _record(root, result.run_id, "plan_broken")
    assert not broken.passed and broken.blockers == ["gate.crashed:plan_broken"]
    assert not checks["plan_broken"].passed and not result.success


def test_a_gate_whose_input_never_ran_says_so(tmp_path: Path) -> None:
    root = tmp_path / "evidence"
    result = _run(_defs(TOY), root, ["plan_echo"])
    record = _record(root, result.run_id, "plan_echo")
    assert record.blockers == ["gate.input_missing:certification_plan"] and record.dpone_command is None
