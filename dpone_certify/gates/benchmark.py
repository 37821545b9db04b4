"""benchmark_baseline: metrics measured by this run's matrix against an accepted baseline."""

import json

import dagster as dg

from dpone_certify.baseline.store import (
    TRACKED_METRICS,
    accept,
    case_set_digest,
    load_baseline,
    metric_guard,
    to_dpone_baseline,
)
from dpone_certify.certification.records import GateRecord
from dpone_certify.dpone.adapter import DponeCallError
from dpone_certify.dpone.models import BenchmarkReport
from dpone_certify.evidence.atomic import atomic_write_json
from dpone_certify.gates.common import GROUP, finish, input_missing
from dpone_certify.matrix.records import EvidenceStatus
from dpone_certify.resources import CertifyResource


@dg.asset(group_name=GROUP, backfill_policy=dg.BackfillPolicy.single_run(), kinds={"dpone"})
def benchmark_baseline(
    context: dg.AssetExecutionContext, certify: CertifyResource, matrix_report: GateRecord | None
) -> dg.Output[GateRecord]:
    """Matrix throughput and load time measured in the matrix's latest records, compared by dpone's
    benchmark-baseline against the accepted baseline for the same profile, case set and row count."""
    if matrix_report is None:
        return finish(certify, input_missing(context.run_id, certify, "benchmark_baseline", "matrix_report"))
    out = certify.gate_dir(context.run_id, "benchmark_baseline")
    measured = {m: matrix_report.metrics[m] for m in TRACKED_METRICS if m in matrix_report.metrics}
    case_ids = list(matrix_report.extra.get("case_ids", []))
    row_counts = list(matrix_report.extra.get("row_counts", []))
    profile = matrix_report.profile.value
    baseline, baseline_source = load_baseline(certify.root(), profile)
    blockers = metric_guard(measured, TRACKED_METRICS)
    if baseline is None:
        blockers.append("benchmark.baseline_missing")
    elif (baseline.case_set_sha256, [baseline.row_count]) != (case_set_digest(case_ids), row_counts):
        blockers.append("benchmark.baseline_incomparable")
    metrics_path = out / "measured_metrics.json"
    atomic_write_json(metrics_path, {"metrics": measured, "source_run": matrix_report.run_id}, durable=False)
    command = None
    report_path = out / "benchmark_baseline.json"
    if not blockers and baseline is not None:
        call = certify.adapter().cli(
            "benchmark_baseline",
            [
                "ops",
                "benchmark-baseline",
                "--output-dir",
                str(out),
                "--metrics-json",
                json.dumps(measured),
                "--baseline-json",
                to_dpone_baseline(baseline),
                "--allowed-regression-ratio",
                str(certify.allowed_regression_ratio),
                "--format",
                "json",
            ],
        )
        command = call.command
        try:
            report = call.parse(BenchmarkReport)
            blockers += [f"benchmark.regression:{i.metric}" for i in report.items if not i.passed]
            if not report.passed and not blockers:
                blockers.append("benchmark_baseline.not_passed")
        except DponeCallError as exc:
            blockers.append(exc.blocker)
    record = GateRecord(
        gate="benchmark_baseline",
        run_id=context.run_id,
        profile=matrix_report.profile,
        # A real measurement, but of whatever the matrix did: dpone's simulation under the contract profile.
        evidence_status=(
            EvidenceStatus.UNVERIFIED
            if matrix_report.evidence_status is EvidenceStatus.UNVERIFIED
            else (EvidenceStatus.PASS if not blockers else EvidenceStatus.FAIL)
        ),
        passed=not blockers,
        blockers=blockers,
        artifacts={"report": str(report_path), "measured_metrics": str(metrics_path)}
        if report_path.exists()
        else {"measured_metrics": str(metrics_path)},
        metrics={
            **measured,
            **({f"baseline_{k}": v.value for k, v in baseline.metrics.items()} if baseline else {}),
        },
        dpone_command=command,
        summary=(
            f"Measured on {len(case_ids)} case(s) of profile `{profile}` (matrix run `{matrix_report.run_id}`); "
            f"baseline: {baseline_source or 'none accepted'}."
            + (" Throughput of dpone's simulation, not of data movement." if profile == "contract" else "")
        ),
        output_dir=str(out),
        extra={"baseline_source": baseline_source},
    )
    return finish(certify, record)


@dg.op(description="Accept the latest matrix measurement as the benchmark baseline of its profile.")
def accept_benchmark_baseline_op(context: dg.OpExecutionContext, certify: CertifyResource) -> None:
    path = certify.layout().shared_lineage_path("matrix_report")
    if not path.exists():
        raise dg.Failure("matrix_report has never been materialized; there is nothing to accept.")
    record = GateRecord.model_validate(json.loads(path.read_text(encoding="utf-8"))["data"])
    row_counts = record.extra.get("row_counts", [])
    if len(row_counts) != 1:
        raise dg.Failure(f"the matrix mixes row counts {row_counts}; re-run it with one row count before accepting")
    accepted = accept(
        certify.root(),
        profile=record.profile.value,
        row_count=row_counts[0],
        case_ids=record.extra.get("case_ids", []),
        metrics=record.metrics,
        run_id=record.run_id,
        source=str(path.relative_to(certify.root())),
    )
    context.log.info(f"accepted baseline written to {accepted}")
    context.add_output_metadata({"baseline": dg.MetadataValue.path(str(accepted)), **record.metrics})


@dg.job(description="Explicitly accept the latest measured matrix metrics as the benchmark baseline.")
def accept_benchmark_baseline() -> None:
    accept_benchmark_baseline_op()
