"""The asset keys of the code location, in dependency order: one list for the runbooks, reports and sensors
(which must not import the asset modules) and for the assets themselves (tests pin it to the Definitions)."""

from __future__ import annotations

FULL_CERTIFICATION_GATES: tuple[str, ...] = (
    "certification_plan",
    "reconciliation_selftest",
    "source_sink_matrix",
    "matrix_report",
    "benchmark_baseline",
    "run_registry",
    "lineage_report",
    "evidence_bundle",
    "strategy_certification_bundle",
    "certification_suite",
    "artifact_index",
    "evidence_chain",
)

RELEASE_PRODUCERS: tuple[str, ...] = (
    "performance_evidence",
    "supply_chain_evidence",
    "docs_evidence",
    "reliability_evidence",
    "observability_evidence",
    "cdc_evidence",
    "local_matrix_evidence",
    "correctness_evidence",
    "schema_evolution_evidence",
    "security_evidence",  # scans what every other producer wrote, so it comes last
)

RELEASE_GATES: tuple[str, ...] = (*RELEASE_PRODUCERS, "production_maturity", "industrial_readiness")

ALL_GATES: tuple[str, ...] = (*FULL_CERTIFICATION_GATES, *RELEASE_GATES)
