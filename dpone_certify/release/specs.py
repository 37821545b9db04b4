"""The release gates, in dependency order: the domain producers, then dpone's two release gates. Their assets
are hand-written in `gates/release.py` (the logic is in the modules beside this one); these specs place them in
the graph and say what each consumes."""

from __future__ import annotations

from dpone_certify.certification.full_certification import FULL_CERTIFICATION
from dpone_certify.certification.spec import RELEASE_GROUP, GateSpec


def _release(
    name: str, description: str, *upstream: str, kinds: tuple[str, ...] = ("dpone",), scanned: bool = True
) -> GateSpec:
    return GateSpec(
        name=name,
        description=description,
        upstream=upstream,
        kinds=frozenset(kinds),
        group=RELEASE_GROUP,
        scanned=scanned,
    )


_PRODUCERS_BEFORE_SECURITY: tuple[GateSpec, ...] = (
    _release("performance_evidence", "performance + performance_lab from the benchmark", "benchmark_baseline"),
    _release("supply_chain_evidence", "`dpone supply-chain attest` over the dpone wheel under test"),
    _release(
        "docs_evidence",
        "`dpone ops docs-publish-pack` over the release-facing reports",
        "benchmark_baseline",
        "run_registry",
        "lineage_report",
        "artifact_index",
    ),
    _release("reliability_evidence", "observed `dpone orchestrate run` experiments", kinds=("dpone", "postgres")),
    _release(
        "observability_evidence",
        "metrics export of a real run result, SLOs, indexes",
        "reliability_evidence",
        kinds=("dpone", "prometheus", "opentelemetry"),
    ),
    _release(
        "cdc_evidence", "PostgreSQL change capture (reported missing with dpone 0.88)", kinds=("dpone", "postgres")
    ),
    _release("local_matrix_evidence", "the cases certified by real dpone runs on local engines", "source_sink_matrix"),
    _release("correctness_evidence", "independent reconciliation of every local-profile case", "source_sink_matrix"),
    _release("schema_evolution_evidence", "second runs into targets dpone created", "source_sink_matrix"),
)
LOCAL_DOMAIN_GATES = ("local_matrix_evidence", "correctness_evidence", "schema_evolution_evidence")

# security scans everything the run consumed and produced (every spec marked `scanned`), so it comes last.
SCANNED: tuple[str, ...] = tuple(s.name for s in (*FULL_CERTIFICATION, *_PRODUCERS_BEFORE_SECURITY) if s.scanned)
SECURITY_EVIDENCE = _release(
    "security_evidence",
    "secret scan over every evidence file of the run, dpone's security audit over the generated manifests",
    "source_sink_matrix",
    *SCANNED,
    scanned=False,
)
RELEASE_PRODUCER_SPECS: tuple[GateSpec, ...] = (*_PRODUCERS_BEFORE_SECURITY, SECURITY_EVIDENCE)

RELEASE_READINESS_SPECS: tuple[GateSpec, ...] = (
    _release(
        "production_maturity",
        "dpone's production-maturity over the artifacts the producers really produced",
        "performance_evidence",
        "security_evidence",
        "supply_chain_evidence",
        "docs_evidence",
        "cdc_evidence",
        "observability_evidence",
        scanned=False,
    ),
    _release(
        "industrial_readiness",
        "dpone's industrial-readiness over the produced domains and every local-service case",
        "local_matrix_evidence",
        "correctness_evidence",
        "reliability_evidence",
        "performance_evidence",
        "schema_evolution_evidence",
        scanned=False,
    ),
)
RELEASE: tuple[GateSpec, ...] = (*RELEASE_PRODUCER_SPECS, *RELEASE_READINESS_SPECS)
