"""`release_comparison` (group `release`): the candidate build (the one this run certifies) against a control build
(`control_python`, `control_wheel` or `control_version`) on the same cases, profile, settings and engines.

The candidate's first run is the matrix's own (source_sink_matrix of this run); this asset runs the control build's
cases and then the repeats, interleaved candidate, control, control, candidate (with `comparison_repeats` 2), so a
drift of the machine over the run cancels in the throughput ratio. Seeded data is the same by construction: the
seeding is a pure function of (row id, column, version) and the case settings are the run's. Each case is
classified (compare.classify); the change-impact coverage (compare.impact) says which changed files the cases
exercised. The check fails on any regression: a case the control passes and the candidate fails, a case failing
with both builds where the candidate adds finding classes, or throughput below the control's beyond the noise band.
"""

import json
import sys
from typing import Any

import dagster as dg

from dpone_certify.certification.records import GateRecord
from dpone_certify.compare.classify import CaseComparison, Throughput, Verdict, compare_case, summarize
from dpone_certify.compare.impact import ImpactReport, impact
from dpone_certify.dpone.adapter import DponeAdapter
from dpone_certify.dpone.identity import IdentityError, read_files, read_identity
from dpone_certify.dpone.interpreter import InterpreterError
from dpone_certify.evidence.atomic import atomic_write_json
from dpone_certify.gates.common import Evaluation, finish, input_missing, remediation_metadata, verdict_check
from dpone_certify.matrix.catalogue import CatalogueError, build_catalogue
from dpone_certify.matrix.records import CaseRecord, EvidenceStatus
from dpone_certify.matrix.run import run_specs
from dpone_certify.report.control import ControlComparison, render_markdown
from dpone_certify.resources import CertifyResource, DponeResource
from dpone_certify.runbooks import remediations_for
from dpone_certify.secrets import secret_values_from_env

GATE = "release_comparison"
GROUP = "release"
ERROR = dg.AssetCheckSeverity.ERROR


def _impact(candidate_adapter: Any, control_adapter: Any, candidates: list[CaseRecord]) -> ImpactReport | None:
    from dpone_certify.matrix.local.engines import ENGINE_SETTINGS

    try:
        cand_files = read_files(candidate_adapter)
        ctrl_files = read_files(control_adapter)
    except IdentityError:
        return None
    covered = [r for r in candidates if r.covered]
    return impact(
        cand_files,
        ctrl_files,
        covered_engines={r.source for r in covered} | {r.sink for r in covered},
        covered_strategies={r.strategy for r in covered},
        how_to_enable={family: s.how_to_enable() for family, s in ENGINE_SETTINGS.items()},
        hints={family: s.enable_hint() for family, s in ENGINE_SETTINGS.items()},
    )


@dg.asset(group_name=GROUP, backfill_policy=dg.BackfillPolicy.single_run(), kinds={"dpone"})
def release_comparison(
    context: dg.AssetExecutionContext,
    certify: CertifyResource,
    dpone: DponeResource,
    source_sink_matrix: dict[str, CaseRecord],
) -> dg.Output[GateRecord]:
    """Every case of this run, candidate vs control: regression, fixed, still failing (same or different
    findings), still passing; throughput ratio with its noise band; which changed files the cases exercised."""
    candidates = sorted((r for r in source_sink_matrix.values() if r.run_id == context.run_id), key=lambda r: r.case_id)
    out = certify.gate_dir(context.run_id, GATE)
    if not candidates:
        return finish(certify, input_missing(context.run_id, certify, GATE, "source_sink_matrix"))

    def _failed(blocker: str, summary: str) -> GateRecord:
        """The record when the comparison cannot be made (no control build, or one that cannot run)."""
        return GateRecord(
            gate=GATE,
            run_id=context.run_id,
            profile=certify.resolved_profile(),
            evidence_status=EvidenceStatus.FAIL,
            passed=False,
            blockers=[blocker],
            output_dir=str(out),
            summary=summary,
        )

    if not certify.has_control():
        return finish(
            certify,
            _failed("comparison.no_control", "No control build: set control_python, control_wheel or control_version."),
        )
    candidate_id = certify.build_identity()
    try:
        control_adapter = certify.control_adapter()
        control_id = certify.control_identity()
        _version, control_cases = build_catalogue(control_adapter)
    except (IdentityError, InterpreterError, CatalogueError, ValueError) as exc:
        return finish(certify, _failed("comparison.control_unavailable", f"The control build cannot run: {exc}"))
    candidate_adapter = dpone.adapter(certify)
    _cv, candidate_cases = build_catalogue(candidate_adapter)
    specs = {
        "control": [control_cases[r.case_id] for r in candidates if r.case_id in control_cases],
        "candidate": [candidate_cases[r.case_id] for r in candidates if r.case_id in candidate_cases],
    }
    runs: dict[str, dict[str, list[CaseRecord]]] = {"candidate": {r.case_id: [r] for r in candidates}, "control": {}}
    repeats = certify.comparison_repeats >= 2
    repeat_adapter, repeat_id = candidate_adapter, candidate_id
    if candidate_id.interpreter != control_id.interpreter:
        # The matrix ran the candidate in this process's fork server; the control runs in its own interpreter and
        # pays an interpreter start and dpone's import per call. Throughput is compared within one mode only, so
        # the candidate's repeat runs isolated too (this python), between two control runs: A B A.
        repeat_adapter = DponeAdapter(
            python=sys.executable, timeout_seconds=certify.timeout(), secrets=secret_values_from_env()
        )
        repeat_id = read_identity(repeat_adapter)
        order = ["control"] + (["candidate", "control"] if repeats else [])
    else:
        # candidate (the matrix's run), then control, control, candidate: ABBA over the whole selection.
        order = ["control"] + (["control", "candidate"] if repeats else [])
    for i, side in enumerate(order):
        adapter = control_adapter if side == "control" else repeat_adapter
        identity = control_id if side == "control" else repeat_id
        # A run id of its own per batch: its schemas and dpone's run ids (and backfill ledgers) never collide.
        batch_run_id = f"{i + 1}{side[:3]}{context.run_id}"
        records = run_specs(
            batch_run_id, certify, specs[side], adapter, out / f"{i + 1}_{side}", release_engines=i == len(order) - 1
        )
        for key, rec in records.items():
            rec.build = identity
            rec.run_id = context.run_id
            runs[side].setdefault(key, []).append(rec)
        context.log.info(f"release_comparison: {side} run {i + 1}/{len(order)} done ({len(records)} cases)")
    rows: list[CaseComparison] = []
    for r in candidates:
        control_runs = runs["control"].get(r.case_id)
        if not control_runs:
            rows.append(
                CaseComparison(
                    case_id=r.case_id,
                    verdict=Verdict.NOT_COMPARED,
                    candidate_status=r.status.value,
                    control_status="absent_in_build",
                    reason=f"dpone {control_id.dpone_version} (control) has no case {r.case_id}",
                )
            )
            continue
        rows.append(compare_case(runs["candidate"][r.case_id], control_runs))
    counts = summarize(rows)
    change = _impact(candidate_adapter, control_adapter, candidates)
    blockers = [f"comparison.regression:{c.case_id}" for c in rows if c.verdict is Verdict.REGRESSION]
    # Worse while failing either way: finding classes the control did not have (e.g. rows lost on top of a
    # type-fidelity finding both builds share) fail the check too.
    blockers += [
        f"comparison.new_findings:{c.case_id}"
        for c in rows
        if c.verdict is Verdict.STILL_FAILING_DIFFERENT and c.appeared
    ]
    blockers += [f"comparison.throughput_regression:{c.case_id}" for c in rows if c.throughput is Throughput.REGRESSION]
    header = f"candidate {candidate_id.label} vs control {control_id.label}"
    impact_summary = change.summary if change else "unavailable (a build could not list its files)"
    report = out / "release_comparison.json"
    atomic_write_json(
        report,
        {
            "run_id": context.run_id,
            "candidate": candidate_id.model_dump(mode="json"),
            "control": control_id.model_dump(mode="json"),
            "order": ["candidate", *order],
            "counts": counts,
            "cases": [c.model_dump(mode="json") for c in rows],
            "impact": change.model_dump(mode="json") if change else None,
            "runs": {
                side: {k: [rec.model_dump(mode="json") for rec in v] for k, v in by_case.items()}
                for side, by_case in runs.items()
            },
        },
    )
    # The same section the certification report shows (report.control), from the objects at hand.
    section = ControlComparison(
        candidate=candidate_id.label,
        control=control_id.label,
        passed=not blockers,
        blockers=blockers,
        counts=counts,
        cases=rows,
        impact=change,
    )
    markdown = "\n".join(["## release_comparison", "", *render_markdown(section)]) + "\n"
    (out / "release_comparison.md").write_text(markdown, encoding="utf-8")
    record = GateRecord(
        gate=GATE,
        run_id=context.run_id,
        profile=certify.resolved_profile(),
        evidence_status=EvidenceStatus.PASS if not blockers else EvidenceStatus.FAIL,
        passed=not blockers,
        blockers=blockers,
        artifacts={"report": str(report), "markdown": str(out / "release_comparison.md")},
        metrics={k: float(v) for k, v in counts.items()},
        summary=f"{header}. " + ", ".join(f"{k} {v}" for k, v in counts.items() if v) + f". {impact_summary}",
        output_dir=str(out),
        extra={"control_build": control_id.model_dump(mode="json"), "impact_summary": impact_summary},
    )
    return finish(certify, record, {"comparison": dg.MetadataValue.md(markdown), "cases": json.dumps(counts)})


def _verdict(certify: CertifyResource, run_id: str, record: GateRecord | None) -> Evaluation:
    # Always required (dpone's plan knows nothing of this gate), but without a control build nothing was compared.
    if record is None:
        return Evaluation(
            False, ERROR, f"{GATE} left no record in this run", fails_run=f"{GATE}: no record in run {run_id}"
        )
    if record.blockers == ["comparison.no_control"]:
        return Evaluation(
            False,
            dg.AssetCheckSeverity.WARN,
            "no control build was given: nothing was compared (set control_python, control_wheel or "
            "control_version, or `dpone-certify run --control-version X.Y.Z`)",
        )
    metadata = remediation_metadata(record, remediations_for(record.blockers, gate=GATE))
    if record.passed:
        return Evaluation(True, ERROR, record.summary[:1000], metadata)
    description = f"{len(record.blockers)} regression(s): " + ", ".join(record.blockers[:5])
    return Evaluation(False, ERROR, description, metadata, fails_run=f"{GATE}: {description}")


release_comparison_verdict = verdict_check(
    GATE,
    "No case the control build passes fails with the candidate, and no throughput loss beyond the noise band. "
    "Without a control build (a release job run without control_*) it warns instead of failing.",
    _verdict,
)


COMPARISON_ASSETS = [release_comparison]
COMPARISON_CHECKS = [release_comparison_verdict]
defs = dg.Definitions(assets=COMPARISON_ASSETS, asset_checks=COMPARISON_CHECKS)
