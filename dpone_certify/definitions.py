"""The dpone-certify code location."""

from __future__ import annotations

import warnings

import dagster as dg

# BackfillPolicy is beta in 1.13; every gate needs single_run() for `--partition-range` (dagster-1.13 notes §2).
warnings.filterwarnings("ignore", category=dg.BetaWarning)

from dpone_certify.automation import SCHEDULES, SENSORS  # noqa: E402
from dpone_certify.gates import benchmark, chain, matrix, plan, selftest  # noqa: E402
from dpone_certify.gates.common import GROUP, verdict_check  # noqa: E402
from dpone_certify.gates.io_manager import evidence_io_manager  # noqa: E402
from dpone_certify.gates.release import RELEASE_ASSETS, RELEASE_CHECKS, RELEASE_JOBS  # noqa: E402
from dpone_certify.resources import CertifyResource  # noqa: E402

ASSETS = [
    plan.certification_plan,
    selftest.reconciliation_selftest,
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
# Gates whose verdict check is their own (the matrix judges per case; the self-test is not required where it
# does not apply); every other gate gets the common one.
OWN_CHECKS = {
    "source_sink_matrix": matrix.source_sink_matrix_verdict,
    "reconciliation_selftest": selftest.reconciliation_selftest_verdict,
}
CHECKS = list(OWN_CHECKS.values()) + [
    verdict_check(asset.key.path[-1], f"dpone's verdict for {asset.key.path[-1]}, with remediation per blocker")
    for asset in ASSETS
    if asset.key.path[-1] not in OWN_CHECKS
]

full_certification_job = dg.define_asset_job(
    "full_certification",
    selection=dg.AssetSelection.groups(GROUP),
    description="Every certification gate of dpone's plan, the matrix in one run.",
)

defs = dg.Definitions(
    assets=ASSETS + RELEASE_ASSETS,
    asset_checks=CHECKS + RELEASE_CHECKS,
    jobs=[full_certification_job, benchmark.accept_benchmark_baseline, *RELEASE_JOBS],
    resources={"certify": CertifyResource(), "io_manager": evidence_io_manager},
    schedules=SCHEDULES,
    sensors=SENSORS,
    # dpone is called in forks of one fork server per run: one interpreter start per run, not one per gate or step.
    executor=dg.in_process_executor,
)
