"""The `local` profile of `source_sink_matrix`: real dpone runs on real engines, reconciled by our own SQL."""

from dpone_certify.matrix.local.domains import build_domains
from dpone_certify.matrix.local.runner import LocalContext, run_case, run_local_cases

__all__ = ["LocalContext", "build_domains", "run_case", "run_local_cases"]
