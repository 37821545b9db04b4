"""observability: `dpone observability metrics-export` over a real `dpone run` result (found by lineage: the
reliability experiment's committed run), Prometheus text + OpenTelemetry JSON with resource attributes;
`dpone ops slo-evaluate` of the exported metrics against the objectives below; the metrics index re-hashed by
us and `dpone ops artifact-index` over the export folder."""

from __future__ import annotations

import json
from pathlib import Path

from dpone_certify.certification.layout import ARTIFACT_INDEX_FILE
from dpone_certify.dpone.adapter import DponeAdapter, DponeCallError
from dpone_certify.dpone.models import ArtifactIndex
from dpone_certify.dpone.release_models import MetricsExport, SloReport
from dpone_certify.release.common import (
    ProducerResult,
    ask_dpone,
    missing,
    produced,
    read_json,
    sha256_file,
    write_json,
)

SERVICE_NAME = "dpone"
NAMESPACE = "dpone_certify"

# Service-level objectives for the reference run (a few hundred rows, postgres -> postgres, local engine).
# Only metrics dpone always exports from a run result are used: an objective on an absent metric fails
# (`slo.<m>.missing`), which would measure dpone's exporter, not the run.
OBJECTIVES: dict[str, dict[str, float]] = {
    # A certified reference run must succeed.
    "dpone_run_passed": {"min": 1},
    # It must land rows: an empty target with a "success" status is the failure mode this catches.
    "dpone_final_rows": {"min": 1},
    # On an idle local engine a run that needs a retry is flaky; the retry budget is for real outages.
    "dpone_attempts": {"max": 1},
    # A few hundred rows take ~1 s; 120 s leaves room for a loaded shared 2-core machine yet catches hangs.
    "dpone_duration_seconds": {"max": 120},
}


def verify_metrics_index(index_path: Path) -> tuple[int, list[str]]:
    """Re-hash every artifact the metrics index lists; returns (checked, names whose sha256 differs/missing)."""
    index = read_json(index_path)
    bad: list[str] = []
    items = index.get("artifacts", [])
    for item in items:
        path = Path(item.get("path", ""))
        if not path.is_file() or sha256_file(path) != item.get("sha256"):
            bad.append(str(item.get("name")))
    return len(items), bad


def produce(
    *, adapter: DponeAdapter, out: Path, run_report: str | None, release: str, version: str, profile: str, run_id: str
) -> ProducerResult:
    result = ProducerResult()
    out.mkdir(parents=True, exist_ok=True)
    if not run_report or not Path(run_report).is_file():
        result.block("gate.input_missing:reliability_evidence")
        result.domains.append(
            missing("observability", "no real run result to export: reliability_evidence committed no run")
        )
        return result
    export_dir = out / "export"
    attrs = {
        "service.version": version,
        "deployment.environment": profile,
        "dpone_certify.release": release,
        "dpone_certify.run_id": run_id,
    }
    argv = [
        "observability",
        "metrics-export",
        "--output-dir",
        str(export_dir),
        "--run-report",
        run_report,
        "--service-name",
        SERVICE_NAME,
        "--namespace",
        NAMESPACE,
        "--label",
        f"release={release}",
    ]
    for key, value in attrs.items():
        argv += ["--resource-attr", f"{key}={value}"]
    export, _ = ask_dpone(result, adapter, "observability_evidence", argv, MetricsExport, "observability", out)
    if export is None:
        return result
    result.block(*export.blockers)
    result.artifacts.update(
        report=export.json_report_path,
        prometheus=export.prometheus_path,
        opentelemetry=export.opentelemetry_path,
        metrics_index=export.metrics_index_path,
        run_report=run_report,
    )
    metrics = {m["name"]: m["value"] for m in read_json(export.json_report_path).get("metrics", [])}
    # ---- SLOs
    slo_argv = [
        "ops",
        "slo-evaluate",
        "--metrics-json",
        json.dumps(metrics),
        "--objectives-json",
        json.dumps(OBJECTIVES),
    ]
    slo_call = adapter.cli("observability_evidence", [*slo_argv, "--format", "json"], cwd=out)
    slo_passed = False
    try:
        slo = slo_call.parse(SloReport)
        slo_passed = slo.passed
        result.block(*(r.code for r in slo.results if not r.passed))
        result.artifacts["slo"] = str(write_json(out / "slo_evaluation.json", slo_call.payload))
    except DponeCallError as exc:
        result.block(exc.blocker)
    # ---- indexes
    checked, bad = verify_metrics_index(Path(export.metrics_index_path))
    result.block(*(f"observability.index_checksum_mismatch:{name}" for name in bad))
    index_argv = ["ops", "artifact-index", "--output-dir", str(out / "artifact_index"), "--release", release]
    index_call = adapter.cli(
        "observability_evidence", [*index_argv, "--root", str(export_dir), "--format", "json"], cwd=out
    )
    index_passed = False
    try:
        index = index_call.parse(ArtifactIndex)
        index_passed = index.passed
        failed = sorted({i.artifact_type or Path(i.path).name for i in index.items if i.passed is False})
        result.block(*(f"artifact_index.item_failed:{name}" for name in failed))
        if not index.passed and not failed:
            result.block("artifact_index.not_passed")
        result.artifacts["artifact_index"] = str(out / "artifact_index" / ARTIFACT_INDEX_FILE)
        result.metrics["indexed_artifacts"] = float(index.total_artifacts)
    except DponeCallError as exc:
        result.block(exc.blocker)
    otel = read_json(export.opentelemetry_path)
    resource = otel["resourceMetrics"][0]["resource"]["attributes"] if otel.get("resourceMetrics") else []
    resource_keys = sorted(a.get("key") for a in resource)
    attrs_ok = set(attrs) <= set(resource_keys)
    if not attrs_ok:
        result.block("observability.resource_attributes_missing")
    passed = export.passed and slo_passed and not bad and index_passed and attrs_ok and not result.blockers
    summary = (
        f"{export.metric_count} metrics exported from a real dpone run (Prometheus + OpenTelemetry, resource "
        f"attributes {', '.join(sorted(attrs))}); SLOs {'met' if slo_passed else 'NOT met'}; metrics index "
        f"{checked - len(bad)}/{checked} checksums verified; artifact index passed={index_passed}"
    )
    artifact = {
        "passed": passed,
        "summary": summary,
        "metrics_export": export.json_report_path,
        "prometheus": export.prometheus_path,
        "opentelemetry": export.opentelemetry_path,
        "opentelemetry_resource_attributes": resource_keys,
        "slo": {"objectives": OBJECTIVES, "passed": slo_passed, "evaluation": result.artifacts.get("slo")},
        "metrics_index": {"path": export.metrics_index_path, "checked": checked, "mismatched": bad},
        "artifact_index": {"path": result.artifacts.get("artifact_index"), "passed": index_passed},
        "blockers": list(result.blockers),
    }
    path = write_json(out / "observability.json", artifact)
    result.artifacts["domain"] = str(path)
    result.domains.append(produced("observability", path, passed=passed))
    result.metrics.update(
        metric_count=float(export.metric_count), index_checked=float(checked), index_mismatches=float(len(bad))
    )
    for name in OBJECTIVES:
        if name in metrics:
            result.metrics[name] = float(metrics[name])
    result.summary = summary
    return result
