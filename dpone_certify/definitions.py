"""The dpone-certify code location."""

from __future__ import annotations

import warnings

import dagster as dg

# BackfillPolicy is beta in 1.13; every gate needs single_run() for `--partition-range` (dagster-1.13 notes §2).
warnings.filterwarnings("ignore", category=dg.BetaWarning)

from dpone_certify.automation import SCHEDULES, SENSORS  # noqa: E402
from dpone_certify.gates import benchmark, chain, matrix, plan  # noqa: E402
from dpone_certify.gates.common import GROUP, verdict_check  # noqa: E402
from dpone_certify.gates.io_manager import evidence_io_manager  # noqa: E402
from dpone_certify.gates.release import RELEASE_ASSETS, RELEASE_CHECKS, RELEASE_JOBS  # noqa: E402
from dpone_certify.report.asset import (  # noqa: E402
    certification_report,
    certification_report_verdict,
    source_sink_matrix_case_verdict,
)
from dpone_certify.resources import CertifyResource  # noqa: E402

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

# The report restates the gates' verdicts; it is in the group (and the job) but is no gate of dpone's plan.
REPORT_ASSETS = [certification_report]
REPORT_CHECKS = [certification_report_verdict, source_sink_matrix_case_verdict]

full_certification_job = dg.define_asset_job(
    "full_certification",
    selection=dg.AssetSelection.groups(GROUP),
    description="Every certification gate of dpone's plan, the matrix in one run.",
)

defs = dg.Definitions(
    assets=ASSETS + REPORT_ASSETS + RELEASE_ASSETS,
    asset_checks=CHECKS + REPORT_CHECKS + RELEASE_CHECKS,
    jobs=[full_certification_job, benchmark.accept_benchmark_baseline, *RELEASE_JOBS],
    resources={"certify": CertifyResource(), "io_manager": evidence_io_manager},
    schedules=SCHEDULES,
    sensors=SENSORS,
    # dpone is called in forks of one fork server per run: one interpreter start per run, not one per gate or step.
    executor=dg.in_process_executor,
)
