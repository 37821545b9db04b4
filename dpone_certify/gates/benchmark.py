"""benchmark_baseline: metrics measured by this run's matrix against an accepted baseline of the same machine."""

import json

import dagster as dg

from dpone_certify.baseline.store import (
    TRACKED_METRICS,
    Baseline,
    accept,
    case_set_digest,
    current_machine,
    load_baseline,
    metric_guard,
    to_dpone_baseline,
)
from dpone_certify.certification.records import GateRecord, crashed_inputs
from dpone_certify.dpone.adapter import DponeCallError
from dpone_certify.dpone.models import BenchmarkReport
from dpone_certify.evidence.atomic import atomic_write_json
from dpone_certify.gates.common import GROUP, finish, input_missing
from dpone_certify.gates.io_manager import latest_materialization_run, load_record
from dpone_certify.matrix.records import EvidenceStatus
from dpone_certify.resources import CertifyResource, DponeResource
from dpone_certify.settings import Profile

OTHER_MACHINE = "benchmark.baseline_other_machine"


def _preconditions(matrix_report: GateRecord, measured: dict[str, float], baseline: Baseline | None) -> list[str]:
    """Why there is nothing to compare: no measurement (no case really ran, no row moved), an unusable metric,
    no baseline, or a baseline of another case set or row count."""
    if crashed_inputs({"matrix_report": matrix_report}):
        return crashed_inputs({"matrix_report": matrix_report})
    if not matrix_report.metrics.get("covered_cases") or not matrix_report.metrics.get("rows_moved"):
        return ["benchmark.nothing_measured"]
    blockers = metric_guard(measured, TRACKED_METRICS)
    if baseline is None:
        blockers.append("benchmark.baseline_missing")
    elif (baseline.case_set_sha256, [baseline.row_count]) != (
        case_set_digest(list(matrix_report.extra.get("case_ids", []))),
        list(matrix_report.extra.get("row_counts", [])),
    ):
        blockers.append("benchmark.baseline_incomparable")
    return blockers


@dg.asset(group_name=GROUP, backfill_policy=dg.BackfillPolicy.single_run(), kinds={"dpone"})
def benchmark_baseline(
    context: dg.AssetExecutionContext, certify: CertifyResource, dpone: DponeResource, matrix_report: GateRecord | None
) -> dg.Output[GateRecord]:
    """Matrix throughput and load time measured by the matrix report this gate consumes, compared by dpone's
    benchmark-baseline against the accepted baseline for the same profile, case set and row count. Regressions
    are informative, not failing, on the contract profile (dpone's simulation) and against a baseline measured
    on another machine (`benchmark.baseline_other_machine`) until one is accepted here."""
    if matrix_report is None:
        return finish(certify, input_missing(context.run_id, certify, "benchmark_baseline", "matrix_report"))
    out = certify.gate_dir(context.run_id, "benchmark_baseline")
    measured = {m: matrix_report.metrics[m] for m in TRACKED_METRICS if m in matrix_report.metrics}
    profile = matrix_report.profile
    baseline, baseline_source = load_baseline(certify.root(), profile.value)
    blockers = _preconditions(matrix_report, measured, baseline)
    machine = current_machine(matrix_report.build)
    warnings = [OTHER_MACHINE] if baseline is not None and not machine.same_machine(baseline.machine) else []
    metrics_path = out / "measured_metrics.json"
    atomic_write_json(metrics_path, {"metrics": measured, "source_run": matrix_report.run_id}, durable=False)
    command = None
    report_path = out / "benchmark_baseline.json"
    if not blockers and baseline is not None:
        argv = ["ops", "benchmark-baseline", "--output-dir", str(out), "--metrics-json", json.dumps(measured)]
        argv += ["--baseline-json", to_dpone_baseline(baseline)]
        argv += ["--allowed-regression-ratio", str(certify.allowed_regression_ratio), "--format", "json"]
        call = dpone.adapter(certify).cli("benchmark_baseline", argv)
        command = call.command
        try:
            report = call.parse(BenchmarkReport)
            regressions = [f"benchmark.regression:{i.metric}" for i in report.items if not i.passed]
            if not report.passed and not regressions:
                regressions.append("benchmark_baseline.not_passed")
            informative = bool(warnings) or profile is Profile.CONTRACT
            (warnings if informative else blockers).extend(regressions)
        except DponeCallError as exc:
            blockers.append(exc.blocker)
    contract_note = " Throughput of dpone's simulation, not of data movement." if profile is Profile.CONTRACT else ""
    record = GateRecord(
        gate="benchmark_baseline",
        run_id=context.run_id,
        profile=profile,
        # A real measurement, but of whatever the matrix did: dpone's simulation under the contract profile.
        evidence_status=(
            EvidenceStatus.UNVERIFIED
            if matrix_report.evidence_status is EvidenceStatus.UNVERIFIED
            else (EvidenceStatus.PASS if not blockers else EvidenceStatus.FAIL)
        ),
        passed=not blockers,
        blockers=blockers,
        warnings=warnings,
        artifacts={"report": str(report_path), "measured_metrics": str(metrics_path)}
        if report_path.exists()
        else {"measured_metrics": str(metrics_path)},
        metrics={
            **measured,
            **({f"baseline_{k}": v.value for k, v in baseline.metrics.items()} if baseline else {}),
        },
        dpone_command=command,
        summary=(
            f"Measured on {int(matrix_report.metrics.get('covered_cases', 0))} case(s) that ran, of profile "
            f"`{profile.value}` (matrix run `{matrix_report.run_id}`); baseline: {baseline_source or 'none accepted'}"
            f" (measured on {baseline.machine.describe() if baseline and baseline.machine else 'an unrecorded machine'}"
            f"; this machine: {machine.describe()}).{contract_note}"
        ),
        output_dir=str(out),
        extra={"baseline_source": baseline_source, "machine": machine.model_dump()},
        consumed_runs={"matrix_report": matrix_report.run_id} if matrix_report.run_id != context.run_id else {},
    )
    return finish(certify, record)


@dg.op(description="Accept the latest matrix measurement as the benchmark baseline of its profile.")
def accept_benchmark_baseline_op(context: dg.OpExecutionContext, certify: CertifyResource) -> None:
    """The measurement of an explicitly identified run: `upstream_run` when configured, else the run the instance
    recorded as matrix_report's latest materialization."""
    source = certify.upstream_run or latest_materialization_run(context.instance, dg.AssetKey("matrix_report"))
    path = certify.layout(source).lineage_path("matrix_report") if source else None
    record = load_record(path) if path else None
    if path is None or not isinstance(record, GateRecord):
        raise dg.Failure("matrix_report has never been materialized; there is nothing to accept.")
    row_counts = record.extra.get("row_counts", [])
    if len(row_counts) != 1:
        raise dg.Failure(f"the matrix mixes row counts {row_counts}; re-run it with one row count before accepting")
    if not record.metrics.get("covered_cases") or not record.metrics.get("rows_moved"):
        raise dg.Failure(f"matrix run {record.run_id} measured nothing (no case ran); there is nothing to accept.")
    accepted = accept(
        certify.root(),
        profile=record.profile.value,
        row_count=row_counts[0],
        case_ids=record.extra.get("case_ids", []),
        metrics=record.metrics,
        run_id=record.run_id,
        source=str(path.relative_to(certify.root())),
        build=record.build,
    )
    context.log.info(f"accepted baseline written to {accepted}")
    context.add_output_metadata({"baseline": dg.MetadataValue.path(str(accepted)), **record.metrics})


@dg.job(description="Explicitly accept the latest measured matrix metrics as the benchmark baseline.")
def accept_benchmark_baseline() -> None:
    accept_benchmark_baseline_op()
