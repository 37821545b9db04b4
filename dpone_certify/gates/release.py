"""The release half of the graph: one asset per evidence domain producer, and dpone's two release gates
(production-maturity, industrial-readiness) over exactly what those producers produced.

Inputs are the upstream records (loaded by the evidence IO manager by lineage), never files found in folders:
a forged `{"passed": true}` anywhere under the evidence root reaches no gate. The logic lives in
`dpone_certify.release.*`; the assets only wire records in and records out."""

from typing import Any

import dagster as dg

from dpone_certify.certification.keys import SPECS
from dpone_certify.certification.matrix_certification import weakest_profile
from dpone_certify.certification.records import GateRecord
from dpone_certify.certification.spec import RELEASE_GROUP
from dpone_certify.gates.common import GROUP, finish, verdict_check
from dpone_certify.gates.presentation import domain_table
from dpone_certify.matrix.records import CaseRecord, EvidenceStatus
from dpone_certify.release import cdc, docs, domains, observability, performance, readiness, reliability, security
from dpone_certify.release import supply_chain as supply
from dpone_certify.release.common import DOMAINS_KEY, ProducerResult
from dpone_certify.release.specs import LOCAL_DOMAIN_GATES, RELEASE, SCANNED
from dpone_certify.resources import CertifyResource, DponeResource, PostgresResource

__all__ = ["RELEASE_ASSETS", "RELEASE_CHECKS", "RELEASE_GROUP", "RELEASE_JOBS", "SCANNED"]
_ASSET: dict[str, Any] = {"group_name": RELEASE_GROUP, "backfill_policy": dg.BackfillPolicy.single_run()}


def _producer_record(
    context: dg.AssetExecutionContext,
    certify: CertifyResource,
    gate: str,
    result: ProducerResult,
    *judged: GateRecord | CaseRecord | None,
) -> dg.Output[GateRecord]:
    """The record of a producer; its profile is that of the records it judged (the run's, for a producer that
    judges none: it measured this run's dpone itself)."""
    profiles = [r.profile for r in judged if r is not None]
    record = GateRecord(
        gate=gate,
        run_id=context.run_id,
        profile=weakest_profile([p.value for p in profiles]) if profiles else certify.resolved_profile(),
        evidence_status=result.evidence_status,
        passed=result.passed,
        blockers=list(result.blockers),
        artifacts=result.artifacts,
        metrics=result.metrics,
        dpone_command=result.command,
        summary=result.summary_markdown(),
        output_dir=str(certify.gate_dir(context.run_id, gate)),
        release=certify.release_name(),
        extra={**result.extra, DOMAINS_KEY: {d.name: d.to_json() for d in result.domains}},
    )
    return finish(certify, record, {"domains": domain_table(result.domain_rows())})


# ---- domain producers -----------------------------------------------------------------------------------
@dg.asset(**_ASSET, kinds={"dpone"})
def performance_evidence(
    context: dg.AssetExecutionContext, certify: CertifyResource, benchmark_baseline: GateRecord | None
) -> dg.Output[GateRecord]:
    """performance + performance_lab: dpone's benchmark-baseline report, only when it measured real data
    movement (local/live profile); the contract profile's simulated throughput is reported missing."""
    result = performance.produce(benchmark_baseline)
    return _producer_record(context, certify, "performance_evidence", result, benchmark_baseline)


def _local_domain_asset(gate: str) -> dg.AssetsDefinition:
    """local_matrix, correctness, schema_evolution: the same producer over the matrix records (local profile)."""
    domain = gate.removesuffix("_evidence")

    @dg.asset(name=gate, description=SPECS[gate].description, **_ASSET, kinds={"dpone"})
    def _asset(
        context: dg.AssetExecutionContext, certify: CertifyResource, source_sink_matrix: dict[str, CaseRecord]
    ) -> dg.Output[GateRecord]:
        result = domains.produce(domain, source_sink_matrix, certify.gate_dir(context.run_id, gate))
        return _producer_record(context, certify, gate, result, *source_sink_matrix.values())

    return _asset


LOCAL_DOMAIN_ASSETS = {gate: _local_domain_asset(gate) for gate in LOCAL_DOMAIN_GATES}


@dg.asset(**_ASSET, kinds={"dpone"})
def supply_chain_evidence(
    context: dg.AssetExecutionContext, certify: CertifyResource, dpone: DponeResource
) -> dg.Output[GateRecord]:
    """supply_chain: `dpone supply-chain attest` over the dpone wheel under test (SBOM, provenance, signature)."""
    result = supply.produce(
        adapter=dpone.adapter(certify),
        out=certify.gate_dir(context.run_id, "supply_chain_evidence"),
        release=certify.release_name(),
        version=certify.build_identity().dpone_version,  # the build under test's, not this process's
        wheel=certify.dpone_wheel,
        check_installed=not certify.dpone_python,
    )
    return _producer_record(context, certify, "supply_chain_evidence", result)


@dg.asset(**_ASSET, kinds={"dpone"})
def docs_evidence(
    context: dg.AssetExecutionContext,
    certify: CertifyResource,
    dpone: DponeResource,
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
        adapter=dpone.adapter(certify),
        out=certify.gate_dir(context.run_id, "docs_evidence"),
        release=certify.release_name(),
        sections=sections,
    )
    return _producer_record(context, certify, "docs_evidence", result, *upstream.values())


@dg.asset(**_ASSET, kinds={"dpone", "postgres"})
def reliability_evidence(
    context: dg.AssetExecutionContext, certify: CertifyResource, dpone: DponeResource, postgres: PostgresResource
) -> dg.Output[GateRecord]:
    """reliability: observed `dpone orchestrate run` experiments (lock, committed, crash/resume, retries)."""
    out = certify.gate_dir(context.run_id, "reliability_evidence")
    result = reliability.produce(
        adapter=dpone.adapter(certify), out=out, run_id=context.run_id, engine_factory=postgres.engine
    )
    return _producer_record(context, certify, "reliability_evidence", result)


@dg.asset(**_ASSET, kinds={"dpone", "prometheus", "opentelemetry"})
def observability_evidence(
    context: dg.AssetExecutionContext,
    certify: CertifyResource,
    dpone: DponeResource,
    reliability_evidence: GateRecord | None,
) -> dg.Output[GateRecord]:
    """observability: metrics export of a real run result (by lineage), SLOs, metrics and artifact indexes."""
    result = observability.produce(
        adapter=dpone.adapter(certify),
        out=certify.gate_dir(context.run_id, "observability_evidence"),
        run_report=reliability_evidence.artifacts.get("run_report") if reliability_evidence else None,
        release=certify.release_name(),
        version=certify.build_identity().dpone_version,  # the build under test's, not this process's
        profile=certify.resolved_profile().value,
        run_id=context.run_id,
    )
    return _producer_record(context, certify, "observability_evidence", result, reliability_evidence)


@dg.asset(**_ASSET, kinds={"dpone", "postgres"})
def cdc_evidence(
    context: dg.AssetExecutionContext, certify: CertifyResource, postgres: PostgresResource
) -> dg.Output[GateRecord]:
    """cdc: reported missing with the reason: dpone 0.88 has no command that captures PostgreSQL changes (its only
    live CDC path is SQL Server CDC -> ClickHouse, not driven here yet)."""
    return _producer_record(context, certify, "cdc_evidence", cdc.produce(postgres.engine))


# security scans everything the run consumed and produced (`SCANNED`, from the specs), after every producer.
@dg.asset(
    **_ASSET,
    kinds={"dpone"},
    ins={"source_sink_matrix": dg.AssetIn("source_sink_matrix"), **{name: dg.AssetIn(name) for name in SCANNED}},
)
def security_evidence(
    context: dg.AssetExecutionContext,
    certify: CertifyResource,
    dpone: DponeResource,
    source_sink_matrix: dict[str, CaseRecord],
    **upstream: Any,
) -> dg.Output[GateRecord]:
    """security: our secret scan over every evidence file of the run, and dpone's security audit over the
    manifests the local profile generated (dpone's audit output is what the gate reads)."""
    records = [r for r in upstream.values() if isinstance(r, GateRecord)]
    scan_dirs = [r.output_dir for r in records] + [p for r in records for p in r.artifacts.values()]
    result = security.produce(
        adapter=dpone.adapter(certify),
        out=certify.gate_dir(context.run_id, "security_evidence"),
        root=certify.root(),
        records=[source_sink_matrix[k] for k in sorted(source_sink_matrix)],
        scan_dirs=scan_dirs,
    )
    result.extra["not_scanned_inputs"] = sorted(name for name, rec in upstream.items() if rec is None)
    return _producer_record(context, certify, "security_evidence", result, *records)


# ---- dpone's release gates -----------------------------------------------------------------------------
def _readiness_record(
    context: dg.AssetExecutionContext, certify: CertifyResource, gate: str, outcome: Any, inputs: list[Any]
) -> dg.Output[GateRecord]:
    report = outcome.report
    verdict = readiness.verdict_of(outcome)
    level, case_missing = verdict.level, verdict.case_missing
    record = GateRecord(
        gate=gate,
        run_id=context.run_id,
        profile=weakest_profile([r.profile.value for r in inputs if r is not None] or [certify.resolved_profile()]),
        evidence_status=EvidenceStatus.PASS if verdict.passed else EvidenceStatus.FAIL,
        passed=verdict.passed,
        blockers=list(outcome.blockers),
        artifacts={"report": outcome.report_path} if report else {},
        metrics=verdict.metrics,
        dpone_command=outcome.command,
        summary=verdict.summary,
        output_dir=str(certify.gate_dir(context.run_id, gate)),
        release=certify.release_name(),
        extra={
            "level": level,
            "warnings": report.warnings if report else [],
            "domains": outcome.table,
            "case_missing": case_missing,
            "inputs_missing": [i for i, rec in enumerate(inputs) if rec is None],
        },
    )
    extra_md: dict[str, Any] = {"level": level, "domain_table": domain_table(outcome.table)}
    for name, items in (("warnings", report.warnings if report else []), ("case_missing", case_missing)):
        extra_md.update({name: dg.MetadataValue.md("\n".join(f"- `{i}`" for i in items))} if items else {})
    return finish(certify, record, extra_md)


def _readiness_asset(gate: str, command: str, wanted: tuple[str, ...], defaults: tuple[str, ...], **kw: Any):
    """One of dpone's release gates over the domains its upstream producers really produced (spec upstream)."""
    spec = SPECS[gate]

    @dg.asset(
        name=gate,
        description=spec.description,
        ins={name: dg.AssetIn(name) for name in spec.upstream},
        **_ASSET,
        kinds=set(spec.kinds),
    )
    def _asset(
        context: dg.AssetExecutionContext, certify: CertifyResource, dpone: DponeResource, **upstream: Any
    ) -> dg.Output[GateRecord]:
        inputs = [upstream.get(name) for name in spec.upstream]
        outcome = readiness.evaluate(
            adapter=dpone.adapter(certify),
            command=command,
            out=certify.gate_dir(context.run_id, gate),
            release=certify.release_name(),
            domains=readiness.collect(inputs, wanted),
            defaults=defaults,
            **kw,
        )
        return _readiness_record(context, certify, gate, outcome, inputs)

    return _asset


# production-maturity: default domains cdc, performance, security, supply_chain, governance, docs; observability
# as an optional domain.
production_maturity = _readiness_asset(
    "production_maturity",
    "production-maturity",
    (*readiness.PRODUCTION_DEFAULT, "observability"),
    readiness.PRODUCTION_DEFAULT,
)
# industrial-readiness requires every case dpone's catalogue marks local-service-supported (`--case
# source:sink:strategy`): the release bar is dpone's own claim of what can be certified locally, not the subset
# this run happened to select.
industrial_readiness = _readiness_asset(
    "industrial_readiness",
    "industrial-readiness",
    readiness.INDUSTRIAL_DEFAULT,
    readiness.INDUSTRIAL_DEFAULT,
    cases=readiness.local_service_cases(),
)


_HAND = (performance_evidence, supply_chain_evidence, docs_evidence, reliability_evidence, observability_evidence)
_BY_NAME = {a.key.path[-1]: a for a in (*_HAND, cdc_evidence, security_evidence)}
# In the specs' order (release/specs.py).
RELEASE_ASSETS = [
    {**_BY_NAME, **LOCAL_DOMAIN_ASSETS, "production_maturity": production_maturity,
     "industrial_readiness": industrial_readiness}[s.name] for s in RELEASE
]  # fmt: skip
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
defs = dg.Definitions(assets=RELEASE_ASSETS, asset_checks=RELEASE_CHECKS, jobs=RELEASE_JOBS)
