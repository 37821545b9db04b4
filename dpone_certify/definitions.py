"""The dpone-certify code location."""

from __future__ import annotations

import dagster as dg

from dpone_certify.gates import benchmark, chain, matrix, plan
from dpone_certify.gates.common import GROUP, verdict_check
from dpone_certify.gates.io_manager import EvidenceIOManager
from dpone_certify.resources import CertifyResource

ASSETS = [
    plan.certification_plan,
    matrix.source_sink_matrix,
    matrix.matrix_report,
    benchmark.benchmark_baseline,
    chain.run_registry,
    chain.lineage_report,
    chain.evidence_bundle,
    chain.strategy_certification_bundle,
    chain.certification_suite,
    chain.artifact_index,
    chain.evidence_chain,
]
CHECKS = [matrix.source_sink_matrix_verdict] + [
    verdict_check(asset.key.path[-1], f"dpone's verdict for {asset.key.path[-1]}, with remediation per blocker")
    for asset in ASSETS
    if asset is not matrix.source_sink_matrix
]

full_certification_job = dg.define_asset_job(
    "full_certification",
    selection=dg.AssetSelection.groups(GROUP),
    description="Every certification gate of dpone's plan, the matrix in one run.",
)

certify = CertifyResource()
defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    jobs=[full_certification_job, benchmark.accept_benchmark_baseline],
    resources={"certify": certify, "io_manager": EvidenceIOManager(certify=certify)},
    # dpone is called in forks of this process: one interpreter start per run, not one per gate or step.
    executor=dg.in_process_executor,
)
