"""The release half of the graph: one asset per evidence domain producer, and dpone's two release gates
(production-maturity, industrial-readiness) over exactly what those producers produced.

Inputs are the upstream records (loaded by the evidence IO manager by lineage), never files found in folders:
a forged `{"passed": true}` anywhere under the evidence root reaches no gate. The logic lives in
`dpone_certify.release.*`; the assets only wire records in and records out."""

from typing import Any

import dagster as dg

from dpone_certify.gates.common import GROUP, finish, verdict_check
from dpone_certify.gates.keys import FULL_CERTIFICATION_GATES, RELEASE_PRODUCERS
from dpone_certify.gates.records import GateRecord
from dpone_certify.matrix.records import CaseRecord, EvidenceStatus
from dpone_certify.release import cdc, docs, domains, observability, performance, readiness, reliability, security
from dpone_certify.release import supply_chain as supply
from dpone_certify.release.common import DOMAINS_KEY, DomainStatus, ProducerResult, missing
from dpone_certify.resources import CertifyResource

RELEASE_GROUP = "release"
_ASSET: dict[str, Any] = {"group_name": RELEASE_GROUP, "backfill_policy": dg.BackfillPolicy.single_run()}


def _domain_table(rows: list[dict[str, Any]]) -> dg.TableMetadataValue:
    columns = list(rows[0]) if rows else ["domain", "status", "artifact", "reason"]
    types = {"passed_to_dpone": "bool", "dpone_passed": "bool"}
    return dg.MetadataValue.table(
        records=[dg.TableRecord(row) for row in rows],
        schema=dg.TableSchema(columns=[dg.TableColumn(c, types.get(c, "string")) for c in columns]),
    )


def _producer_record(
    context: dg.AssetExecutionContext, certify: CertifyResource, gate: str, result: ProducerResult
) -> dg.Output[GateRecord]:
    out = certify.gate_dir(context.run_id, gate)
    if result.passed:
        status = EvidenceStatus.PASS
    elif result.domains and all(d.status is DomainStatus.MISSING for d in result.domains):
        status = EvidenceStatus.NOT_COVERED
    else:
        status = EvidenceStatus.FAIL
    lines = [result.summary, ""] + [
        f"- **{d.name}**: {d.status.value}" + (f" — {d.reason}" if d.reason else "") for d in result.domains
    ]
    record = GateRecord(
        gate=gate,
        run_id=context.run_id,
        profile=certify.resolved_profile(),
        evidence_status=status,
        passed=result.passed,
        blockers=list(result.blockers),
        artifacts=result.artifacts,
        metrics=result.metrics,
        dpone_command=result.command,
        summary="\n".join(lines).strip(),
        output_dir=str(out),
        release=certify.release_name(),
        extra={**result.extra, DOMAINS_KEY: {d.name: d.to_json() for d in result.domains}},
    )
    rows = [
        {"domain": d.name, "status": d.status.value, "artifact": d.artifact or "", "reason": d.reason}
        for d in result.domains
    ]
    return finish(certify, record, {"domains": _domain_table(rows)})


# ---- domain producers -----------------------------------------------------------------------------------
@dg.asset(**_ASSET, kinds={"dpone"})
def performance_evidence(
    context: dg.AssetExecutionContext, certify: CertifyResource, benchmark_baseline: GateRecord | None
) -> dg.Output[GateRecord]:
    """performance + performance_lab: dpone's benchmark-baseline report, only when it measured real data
    movement (local/live profile); the contract profile's simulated throughput is reported missing."""
    if benchmark_baseline is None:
        result = ProducerResult(summary="benchmark_baseline was never materialized.")
        result.block("gate.input_missing:benchmark_baseline", "performance.missing")
        result.domains = [missing(d, "benchmark_baseline was never materialized") for d in performance.DOMAINS]
    else:
        result = performance.produce(benchmark_baseline)
    return _producer_record(context, certify, "performance_evidence", result)


def _local_domain(context: dg.AssetExecutionContext, certify: CertifyResource, domain: str, records: dict) -> Any:
    gate = f"{domain}_evidence"
    return _producer_record(
        context, certify, gate, domains.produce(domain, records, certify.gate_dir(context.run_id, gate))
    )


@dg.asset(**_ASSET, kinds={"dpone"})
def local_matrix_evidence(
    context: dg.AssetExecutionContext, certify: CertifyResource, source_sink_matrix: dict[str, CaseRecord]
) -> dg.Output[GateRecord]:
    """local_matrix: the cases certified by real dpone runs on local engines (local profile)."""
    return _local_domain(context, certify, "local_matrix", source_sink_matrix)


@dg.asset(**_ASSET, kinds={"dpone"})
def correctness_evidence(
    context: dg.AssetExecutionContext, certify: CertifyResource, source_sink_matrix: dict[str, CaseRecord]
) -> dg.Output[GateRecord]:
    """correctness: independent reconciliation of every local-profile case."""
    return _local_domain(context, certify, "correctness", source_sink_matrix)


@dg.asset(**_ASSET, kinds={"dpone"})
def schema_evolution_evidence(
    context: dg.AssetExecutionContext, certify: CertifyResource, source_sink_matrix: dict[str, CaseRecord]
) -> dg.Output[GateRecord]:
    """schema_evolution: second runs into targets dpone created (local profile)."""
    return _local_domain(context, certify, "schema_evolution", source_sink_matrix)


@dg.asset(**_ASSET, kinds={"dpone"})
def supply_chain_evidence(context: dg.AssetExecutionContext, certify: CertifyResource) -> dg.Output[GateRecord]:
    """supply_chain: `dpone supply-chain attest` over the dpone wheel under test (SBOM, provenance, signature)."""
    from dpone_certify.matrix.catalogue import dpone_version

    result = supply.produce(
        adapter=certify.adapter(),
        out=certify.gate_dir(context.run_id, "supply_chain_evidence"),
        release=certify.release_name(),
        version=dpone_version(),
        wheel=certify.dpone_wheel,
        check_installed=not certify.dpone_python,
    )
    return _producer_record(context, certify, "supply_chain_evidence", result)


@dg.asset(**_ASSET, kinds={"dpone"})
def docs_evidence(
    context: dg.AssetExecutionContext,
    certify: CertifyResource,
    benchmark_baseline: GateRecord | None,
    run_registry: GateRecord | None,
    lineage_report: GateRecord | None,
    artifact_index: GateRecord | None,
) -> dg.Output[GateRecord]:
    """docs: `dpone ops docs-publish-pack` over this certification's release-facing reports."""
    upstream = {
        "benchmark_baseline": benchmark_baseline,
        "run_registry": run_registry,
        "lineage_report": lineage_report,
        "artifact_index": artifact_index,
    }
    sections = {name: (rec.artifacts.get("report") if rec else None) for name, rec in upstream.items()}
    result = docs.produce(
        adapter=certify.adapter(),
        out=certify.gate_dir(context.run_id, "docs_evidence"),
        release=certify.release_name(),
        sections=sections,
    )
    return _producer_record(context, certify, "docs_evidence", result)


@dg.asset(**_ASSET, kinds={"dpone", "postgres"})
def reliability_evidence(context: dg.AssetExecutionContext, certify: CertifyResource) -> dg.Output[GateRecord]:
    """reliability: observed `dpone orchestrate run` experiments (lock, committed, crash/resume, retries)."""
    result = reliability.produce(
        adapter=certify.adapter(), out=certify.gate_dir(context.run_id, "reliability_evidence"), run_id=context.run_id
    )
    return _producer_record(context, certify, "reliability_evidence", result)


@dg.asset(**_ASSET, kinds={"dpone", "prometheus", "opentelemetry"})
def observability_evidence(
    context: dg.AssetExecutionContext, certify: CertifyResource, reliability_evidence: GateRecord | None
) -> dg.Output[GateRecord]:
    """observability: metrics export of a real run result (by lineage), SLOs, metrics and artifact indexes."""
    from dpone_certify.matrix.catalogue import dpone_version

    result = observability.produce(
        adapter=certify.adapter(),
        out=certify.gate_dir(context.run_id, "observability_evidence"),
        run_report=reliability_evidence.artifacts.get("run_report") if reliability_evidence else None,
        release=certify.release_name(),
        version=dpone_version(),
        profile=certify.resolved_profile().value,
        run_id=context.run_id,
    )
    return _producer_record(context, certify, "observability_evidence", result)


@dg.asset(**_ASSET, kinds={"dpone", "postgres"})
def cdc_evidence(context: dg.AssetExecutionContext, certify: CertifyResource) -> dg.Output[GateRecord]:
    """cdc: reported missing with the reason: dpone 0.88 has no command that captures PostgreSQL changes (its only
    live CDC path is SQL Server CDC -> ClickHouse, not driven here yet)."""
    return _producer_record(context, certify, "cdc_evidence", cdc.produce())


# security scans everything the run consumed and produced, so it runs after every other producer (the plan
# holds no run evidence; the matrix is loaded separately, per case).
NOT_SCANNED = frozenset({"certification_plan", "source_sink_matrix", "security_evidence"})
SCANNED = tuple(g for g in (*FULL_CERTIFICATION_GATES, *RELEASE_PRODUCERS) if g not in NOT_SCANNED)


@dg.asset(
    **_ASSET,
    kinds={"dpone"},
    ins={"source_sink_matrix": dg.AssetIn("source_sink_matrix"), **{name: dg.AssetIn(name) for name in SCANNED}},
)
def security_evidence(
    context: dg.AssetExecutionContext,
    certify: CertifyResource,
    source_sink_matrix: dict[str, CaseRecord],
    **upstream: Any,
) -> dg.Output[GateRecord]:
    """security: our secret scan over every evidence file of the run, and dpone's security audit over the
    manifests the local profile generated (dpone's audit output is what the gate reads)."""
    records = [r for r in upstream.values() if isinstance(r, GateRecord)]
    scan_dirs = [r.output_dir for r in records] + [p for r in records for p in r.artifacts.values()]
    result = security.produce(
        adapter=certify.adapter(),
        out=certify.gate_dir(context.run_id, "security_evidence"),
        root=certify.root(),
        records=[source_sink_matrix[k] for k in sorted(source_sink_matrix)],
        scan_dirs=scan_dirs,
    )
    result.extra["not_scanned_inputs"] = sorted(name for name, rec in upstream.items() if rec is None)
    return _producer_record(context, certify, "security_evidence", result)


# ---- dpone's release gates -----------------------------------------------------------------------------
def _readiness_record(
    context: dg.AssetExecutionContext,
    certify: CertifyResource,
    gate: str,
    outcome: readiness.Readiness,
    inputs: list[GateRecord | None],
) -> dg.Output[GateRecord]:
    out = certify.gate_dir(context.run_id, gate)
    report = outcome.report
    case_missing = [b.split(":", 1)[1] for b in outcome.blockers if b.startswith("local_matrix.case_missing:")]
    counts = {s: sum(1 for row in outcome.table if row["status"] == s) for s in ("produced", "failed", "missing")}
    metrics = {
        "score": float(report.score) if report else 0.0,
        "domains_produced": float(counts["produced"]),
        "domains_failed": float(counts["failed"]),
        "domains_missing": float(counts["missing"]),
        "domains_passed_by_dpone": float(sum(row["dpone_passed"] for row in outcome.table)),
    }
    if report and report.matrix:
        metrics["cases_required"] = float(len(report.matrix.get("required_cases") or []))
        metrics["cases_covered"] = float(len(report.matrix.get("covered_cases") or []))
        metrics["cases_missing"] = float(len(report.matrix.get("missing_cases") or []))
    level = report.level if report else "no verdict"
    passed = bool(report and report.passed) and not outcome.blockers
    record = GateRecord(
        gate=gate,
        run_id=context.run_id,
        profile=certify.resolved_profile(),
        evidence_status=EvidenceStatus.PASS if passed else EvidenceStatus.FAIL,
        passed=passed,
        blockers=list(outcome.blockers),
        artifacts={"report": outcome.report_path} if report else {},
        metrics=metrics,
        dpone_command=outcome.command,
        summary=(
            f"Level **{level}**, score {metrics['score']:.2f}. Domains handed to dpone: "
            f"{', '.join(sorted(outcome.argv_domains)) or 'none'}; missing (no real producer output): "
            f"{', '.join(r['domain'] for r in outcome.table if not r['passed_to_dpone']) or 'none'}."
            + (f" {len(case_missing)} required local-service case(s) not covered." if case_missing else "")
        ),
        output_dir=str(out),
        release=certify.release_name(),
        extra={
            "level": level,
            "warnings": report.warnings if report else [],
            "domains": outcome.table,
            "case_missing": case_missing,
            "inputs_missing": [i for i, rec in enumerate(inputs) if rec is None],
        },
    )
    extra_md: dict[str, Any] = {"level": level, "domain_table": _domain_table(outcome.table)}
    if report and report.warnings:
        extra_md["warnings"] = dg.MetadataValue.md("\n".join(f"- `{w}`" for w in report.warnings))
    if case_missing:
        extra_md["case_missing"] = dg.MetadataValue.md("\n".join(f"- `{c}`" for c in case_missing))
    return finish(certify, record, extra_md)


@dg.asset(**_ASSET, kinds={"dpone"})
def production_maturity(
    context: dg.AssetExecutionContext,
    certify: CertifyResource,
    performance_evidence: GateRecord | None,
    security_evidence: GateRecord | None,
    supply_chain_evidence: GateRecord | None,
    docs_evidence: GateRecord | None,
    cdc_evidence: GateRecord | None,
    observability_evidence: GateRecord | None,
) -> dg.Output[GateRecord]:
    """dpone's production-maturity (default domains cdc, performance, security, supply_chain, governance, docs;
    observability as an optional domain) over the artifacts the producers really produced."""
    inputs = [
        performance_evidence,
        security_evidence,
        supply_chain_evidence,
        docs_evidence,
        cdc_evidence,
        observability_evidence,
    ]
    found = readiness.collect(inputs, (*readiness.PRODUCTION_DEFAULT, "observability"))
    outcome = readiness.evaluate(
        adapter=certify.adapter(),
        command="production-maturity",
        out=certify.gate_dir(context.run_id, "production_maturity"),
        release=certify.release_name(),
        domains=found,
        defaults=readiness.PRODUCTION_DEFAULT,
    )
    return _readiness_record(context, certify, "production_maturity", outcome, inputs)


@dg.asset(**_ASSET, kinds={"dpone"})
def industrial_readiness(
    context: dg.AssetExecutionContext,
    certify: CertifyResource,
    local_matrix_evidence: GateRecord | None,
    correctness_evidence: GateRecord | None,
    reliability_evidence: GateRecord | None,
    performance_evidence: GateRecord | None,
    schema_evolution_evidence: GateRecord | None,
) -> dg.Output[GateRecord]:
    """dpone's industrial-readiness over the produced domains, requiring every case dpone's catalogue marks
    local-service-supported (`--case source:sink:strategy`): the release bar is dpone's own claim of what can
    be certified locally, not the subset this run happened to select."""
    inputs = [
        local_matrix_evidence,
        correctness_evidence,
        reliability_evidence,
        performance_evidence,
        schema_evolution_evidence,
    ]
    found = readiness.collect(inputs, readiness.INDUSTRIAL_DEFAULT)
    outcome = readiness.evaluate(
        adapter=certify.adapter(),
        command="industrial-readiness",
        out=certify.gate_dir(context.run_id, "industrial_readiness"),
        release=certify.release_name(),
        domains=found,
        defaults=readiness.INDUSTRIAL_DEFAULT,
        cases=readiness.local_service_cases(),
    )
    return _readiness_record(context, certify, "industrial_readiness", outcome, inputs)


RELEASE_ASSETS = [
    performance_evidence,
    local_matrix_evidence,
    correctness_evidence,
    schema_evolution_evidence,
    supply_chain_evidence,
    docs_evidence,
    reliability_evidence,
    observability_evidence,
    cdc_evidence,
    security_evidence,
    production_maturity,
    industrial_readiness,
]
RELEASE_CHECKS = [
    verdict_check(a.key.path[-1], f"{a.key.path[-1]}: produced / failed / missing per domain, with remediation")
    for a in RELEASE_ASSETS
]
release_job = dg.define_asset_job(
    "release",
    selection=dg.AssetSelection.groups(GROUP, RELEASE_GROUP),
    description="For a release id (run config resources.certify.config.release): the full certification chain "
    "plus every release-evidence producer and dpone's two release gates, in one materialization.",
)
RELEASE_JOBS = [release_job]
