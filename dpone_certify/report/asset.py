"""`certification_report`: the last asset of `full_certification`. Appends the run to the history dataset,
writes the report page (HTML + Markdown + JSON) into the run folder, and tags the run with its verdict.

Thin on purpose: building and rendering live in `report.certification` and `report.history`."""

import json
import warnings
from collections.abc import Iterator
from typing import Any

import dagster as dg

from dpone_certify.certification.keys import COMPARISON_GATES, FULL_CERTIFICATION_GATES
from dpone_certify.certification.records import GateRecord
from dpone_certify.gates.common import GROUP, Evaluation, finish, verdict_check
from dpone_certify.gates.matrix import CASES
from dpone_certify.matrix.records import CaseRecord, EvidenceStatus
from dpone_certify.report import certification, history, partitions
from dpone_certify.resources import CertifyResource
from dpone_certify.settings import Profile

REPORT_ASSET = "certification_report"
TAG_PREFIX = "dpone_certify/"
TAG_PROFILE = f"{TAG_PREFIX}profile"
TAG_RELEASE = f"{TAG_PREFIX}release"
TAG_DPONE_VERSION = f"{TAG_PREFIX}dpone_version"
TAG_VERDICT = f"{TAG_PREFIX}verdict"
TAG_REPORT = f"{TAG_PREFIX}certification_report"


def certify_dpone_version(certify: CertifyResource) -> str:
    """The version of the dpone under test when it is the one installed here; "" (unknown) for another build
    (its identity then comes from the case records, when they carry it)."""
    from dpone_certify import settings

    if certify.dpone_python or certify.dpone_wheel or settings.env_dpone_python():
        return ""
    from dpone_certify.matrix.catalogue import dpone_version

    return dpone_version()


def _step_seconds(context: dg.AssetExecutionContext) -> dict[str, float]:
    try:
        stats = context.instance.get_run_step_stats(context.run_id)
    except Exception:  # noqa: BLE001 - durations are a trend, never a reason to lose the report
        return {}
    return {s.step_key: s.end_time - s.start_time for s in stats if s.start_time and s.end_time}


def append_history(context: dg.AssetExecutionContext, certify: CertifyResource, version: str, release: str) -> None:
    root = certify.root()
    try:
        raw = json.loads(certify.layout(context.run_id).matrix_run_path.read_text(encoding="utf-8"))
        records = [r for r in raw.get("records", []) if isinstance(r, dict)]
    except (OSError, ValueError):
        records = []
    time = history.now()
    cases = history.case_rows(records, run_id=context.run_id, time=time, dpone_version=version, release=release)
    base = certification.collect(root, context.run_id, FULL_CERTIFICATION_GATES)
    seconds = _step_seconds(context)
    profile = certify.resolved_profile().value
    gates = [
        {
            "run_id": context.run_id,
            "gate": g.gate,
            "time": time,
            "profile": profile,
            "status": g.status,
            "required": g.required,
            "evidence_status": g.evidence_status or "",
            "blocker_count": len(g.blockers),
            "duration_seconds": seconds.get(g.gate, float("nan")),
        }
        for g in base.gates
    ]
    history.append_run(root, context.run_id, cases, gates)


@dg.asset(
    group_name=GROUP,
    # release_comparison (selected with a control build) runs first, so the report shows what the build changed.
    deps=[*FULL_CERTIFICATION_GATES, *COMPARISON_GATES],
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"html"},
    description="The certification report of the run: verdict, gates, matrix grids, coverage, findings with "
    "remediations, comparison with the previous run of the profile, trends, the chain head. One self-contained "
    "HTML page and a Markdown version in the run folder; history appended to <evidence_root>/history.",
)
def certification_report(context: dg.AssetExecutionContext, certify: CertifyResource) -> dg.Output[GateRecord]:
    root = certify.root()
    run_dir = certify.layout(context.run_id).run_dir
    version = certify_dpone_version(certify)
    release = certify.release_name()
    append_history(context, certify, version, release)
    report = certification.build(root, context.run_id, dpone_version=version, log_path=run_dir / certification.LOG_FILE)
    files = certification.write(report, run_dir)
    tags = {
        TAG_PROFILE: report.profile,
        TAG_RELEASE: report.release or release,
        TAG_DPONE_VERSION: report.dpone_version or "unknown",
        TAG_VERDICT: report.verdict,
        TAG_REPORT: str(files.html),
    }
    context.instance.add_run_tags(context.run_id, tags)
    unverified = report.unverified or certify.resolved_profile() is Profile.CONTRACT
    record = GateRecord(
        gate=REPORT_ASSET,
        run_id=context.run_id,
        profile=certify.resolved_profile(),
        evidence_status=EvidenceStatus.UNVERIFIED
        if unverified
        else (EvidenceStatus.PASS if report.verdict == "CERTIFIED" else EvidenceStatus.FAIL),
        passed=report.verdict == "CERTIFIED",
        required=False,  # the report restates the gates' verdicts; it adds no requirement of its own
        blockers=[f"certification.not_certified:{g.gate}" for g in report.failed_required],
        artifacts={"report": str(files.html), "markdown": str(files.markdown), "json": str(files.json_path)},
        metrics={
            "failed_required_gates": float(len(report.failed_required)),
            **(
                {"cases_covered": float(report.coverage.covered), "cases_selected": float(report.coverage.selected)}
                if report.coverage
                else {}
            ),
        },
        summary=report.sentence,
        output_dir=str(run_dir),
        release=report.release or release,
        extra={"verdict": report.verdict, "tags": tags},
    )
    extra: dict[str, Any] = {
        "verdict": report.verdict,
        "report_html": dg.MetadataValue.path(str(files.html)),
        "report_url": dg.MetadataValue.url(files.html.as_uri()),
        "report_markdown": dg.MetadataValue.path(str(files.markdown)),
    }
    return finish(certify, record, extra)


def _verdict(certify: CertifyResource, run_id: str, record: GateRecord | None) -> Evaluation:
    # WARN, never failing the run: the failing gates already fail it; this check restates them.
    if record is None:
        return Evaluation(False, dg.AssetCheckSeverity.WARN, "the report was not written in this run")
    metadata = {
        "verdict": str(record.extra.get("verdict")),
        "report_html": dg.MetadataValue.path(record.artifacts["report"]),
    }
    return Evaluation(record.passed, dg.AssetCheckSeverity.WARN, record.summary[:1000], metadata)


certification_report_verdict = verdict_check(
    REPORT_ASSET,
    "The certification verdict: passes only when CERTIFIED (every required gate ran and passed on real evidence). "
    "WARN severity: the failing gates already fail the run; this check restates them.",
    _verdict,
)


# Partitioned asset checks are a preview feature of Dagster 1.13: chosen because they show a verdict per
# partition in the UI (the partitions view of an asset shows materialized-or-not only).
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.PreviewWarning)
    CASE_VERDICT_SPEC = dg.AssetCheckSpec(
        partitions.CASE_CHECK,
        asset="source_sink_matrix",
        partitions_def=CASES,
        description="Each case's own verdict, per partition: passed (real evidence), UNVERIFIED (the contract "
        "profile's simulation; WARN), not covered (WARN, with the reason), failed or error (ERROR).",
    )


@dg.multi_asset_check(name="source_sink_matrix_case_verdict", specs=[CASE_VERDICT_SPEC], can_subset=True)
def source_sink_matrix_case_verdict(
    context: dg.AssetCheckExecutionContext, certify: CertifyResource
) -> Iterator[dg.AssetCheckResult]:
    """One evaluation per case of this run, logged with its partition (a single-run backfill has no one
    partition key for the step, so the per-partition evaluations are logged, not returned)."""
    path = certify.layout(context.run.run_id).matrix_run_path
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        context.log.warning(f"no matrix record in this run ({path.name}): no case verdicts to report")
        return
    for item in raw.get("records", []):
        record = CaseRecord.model_validate(item)
        # log_event accepts AssetCheckEvaluation at run time (op_execution_context.py); the stubs do not say so
        context.op_execution_context.log_event(partitions.case_evaluation(record))  # type: ignore[arg-type]
    yield from ()
