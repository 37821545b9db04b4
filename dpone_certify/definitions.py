"""The dpone-certify code location: one `Definitions` per group, merged (full certification, release,
automation), with the resources every group shares."""

from __future__ import annotations

import warnings

import dagster as dg

# BackfillPolicy is beta in 1.13; every gate needs single_run() for `--partition-range` (dagster-1.13 notes §2).
warnings.filterwarnings("ignore", category=dg.BetaWarning)

from dpone_certify import automation  # noqa: E402
from dpone_certify.compare import asset as comparison  # noqa: E402
from dpone_certify.gates import full_certification, release  # noqa: E402
from dpone_certify.gates.io_manager import evidence_io_manager  # noqa: E402
from dpone_certify.report.asset import (  # noqa: E402
    certification_report,
    certification_report_verdict,
    source_sink_matrix_case_verdict,
)
from dpone_certify.resources import CertifyResource  # noqa: E402

ASSETS = full_certification.ASSETS
CHECKS = full_certification.CHECKS
# The report restates the gates' verdicts; it is in the group (and the job) but is no gate of dpone's plan.
REPORT_ASSETS = [certification_report]
REPORT_CHECKS = [certification_report_verdict, source_sink_matrix_case_verdict]

# One Definitions object at module scope (Dagster's loader requires it): the groups' own, merged.
defs = dg.Definitions.merge(
    full_certification.defs,
    dg.Definitions(assets=REPORT_ASSETS, asset_checks=REPORT_CHECKS),
    release.defs,
    comparison.defs,
    automation.defs,
    dg.Definitions(
        resources={"certify": CertifyResource(), "io_manager": evidence_io_manager},
        # dpone is called in forks of one fork server per run: one interpreter start per run, not per gate or step.
        executor=dg.in_process_executor,
    ),
)
