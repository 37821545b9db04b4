"""The full-certification gates as Dagster definitions: the dpone gates built by the factory from their specs,
the hand-written ones (matrix, benchmark, evidence chain) beside them, in the specs' order."""

from typing import Any

import dagster as dg

from dpone_certify.certification.full_certification import FULL_CERTIFICATION
from dpone_certify.certification.records import GateRecord
from dpone_certify.gates import benchmark, evidence_chain, matrix, selftest
from dpone_certify.gates.common import GROUP, verdict_check
from dpone_certify.gates.factory import BuiltGate, build_gate
from dpone_certify.gates.presentation import table


def _plan_steps(record: GateRecord) -> dict[str, Any]:
    rows = [
        {"step": str(s["name"]), "asset": str(s["asset"] or "UNMODELLED"), "required": bool(s["required"])}
        for s in record.extra.get("steps", [])
    ]
    return {"steps": table(rows, {"step": "string", "asset": "string", "required": "bool"})}


UI_METADATA = {"certification_plan": _plan_steps}

BUILT: dict[str, BuiltGate] = {
    spec.name: build_gate(spec, UI_METADATA.get(spec.name)) for spec in FULL_CERTIFICATION if not spec.hand_written
}
HAND_WRITTEN: dict[str, dg.AssetsDefinition] = {
    "reconciliation_selftest": selftest.reconciliation_selftest,
    "source_sink_matrix": matrix.source_sink_matrix,
    "matrix_report": matrix.matrix_report,
    "benchmark_baseline": benchmark.benchmark_baseline,
    "evidence_chain": evidence_chain.evidence_chain,
}
HAND_CHECKS: dict[str, dg.AssetChecksDefinition] = {
    "source_sink_matrix": matrix.source_sink_matrix_verdict,
    # not required (WARN) where it does not apply: the common check takes requiredness from dpone's plan only
    "reconciliation_selftest": selftest.reconciliation_selftest_verdict,
}

ASSETS: list[dg.AssetsDefinition] = [
    BUILT[s.name].asset if s.name in BUILT else HAND_WRITTEN[s.name] for s in FULL_CERTIFICATION
]
CHECKS: list[dg.AssetChecksDefinition] = [
    BUILT[s.name].check
    if s.name in BUILT
    else HAND_CHECKS.get(s.name) or verdict_check(s.name, f"dpone's verdict for {s.name}, with remediation per blocker")
    for s in FULL_CERTIFICATION
]

full_certification_job = dg.define_asset_job(
    "full_certification",
    selection=dg.AssetSelection.groups(GROUP),
    description="Every certification gate of dpone's plan, the matrix in one run.",
)

defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    jobs=[full_certification_job, benchmark.accept_benchmark_baseline],
)
