"""The `contract` profile: dpone's own mock_contract simulation per case.

The simulation copies expected values into actual ones, so every case passes by construction: it proves that a
case has a contract, not that data moved. Every record it yields is therefore labelled UNVERIFIED."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dpone_certify.dpone.adapter import DponeAdapter, DponeCallError
from dpone_certify.dpone.models import SimulatedCase, SimulationBatch
from dpone_certify.matrix.records import CaseRecord, CaseSettings, CaseSpec, CaseStatus, EvidenceStatus
from dpone_certify.settings import Profile

UNVERIFIED_NOTE = (
    "UNVERIFIED: dpone's mock_contract simulation copies expected values into actual ones; "
    "it shows the case has a contract, not that data moved. Use the local profile for real evidence."
)


def _error_record(spec: CaseSpec, run_id: str, settings: CaseSettings, blocker: str, reason: str) -> CaseRecord:
    return CaseRecord.for_case(
        spec,
        profile=Profile.CONTRACT,
        status=CaseStatus.ERROR,
        evidence_status=EvidenceStatus.UNVERIFIED,
        run_id=run_id,
        settings=settings,
        blockers=[blocker],
        reason=reason,
    )


def _record(spec: CaseSpec, sim: SimulatedCase, run_id: str, settings: CaseSettings) -> CaseRecord:
    if sim.error:
        reason = f"dpone's simulation rejected the case: {sim.error}"
        return _error_record(spec, run_id, settings, f"matrix_case.failed:{spec.case_id}", reason)
    return CaseRecord.for_case(
        spec,
        profile=Profile.CONTRACT,
        status=CaseStatus.PASSED if sim.passed else CaseStatus.FAILED,
        evidence_status=EvidenceStatus.UNVERIFIED,
        run_id=run_id,
        settings=settings,
        preflight_path=sim.preflight_path,
        behavior_path=sim.behavior_path,
        engine={"source": "simulated", "sink": "simulated"},
        blockers=[] if sim.passed else [f"matrix_case.failed:{spec.case_id}"],
        reason=UNVERIFIED_NOTE,
        rows_moved=sim.actual_row_count,
        expected_row_count=sim.expected_row_count,
        actual_row_count=sim.actual_row_count,
        changed_row_count=sim.changed_row_count,
        deleted_row_count=sim.deleted_row_count,
        wide_columns=sim.wide_column_count,
        load_seconds=sim.duration_seconds,
    )


def run_contract_cases(
    specs: Sequence[CaseSpec],
    *,
    out_dir: Path,
    run_id: str,
    settings: CaseSettings,
    adapter: DponeAdapter,
    max_parallel: int = 2,
) -> dict[str, CaseRecord]:
    """Simulate the cases in `max_parallel` dpone calls at once (the simulation is CPU-bound)."""
    workers = max(1, min(max_parallel, len(specs)))
    chunks = [list(specs[i::workers]) for i in range(workers)]

    def run_chunk(chunk: list[CaseSpec]) -> list[CaseRecord]:
        call = adapter.call(
            "source_sink_matrix",
            "simulate",
            {
                "case_ids": [s.case_id for s in chunk],
                "out_dir": str(out_dir),
                "row_count": settings.row_count,
                "change_ratio": settings.change_ratio,
                "delete_ratio": settings.delete_ratio,
            },
        )
        try:
            batch = call.parse(SimulationBatch)
        except DponeCallError as exc:
            return [_error_record(spec, run_id, settings, exc.blocker, str(exc)) for spec in chunk]
        by_id = {sim.case_id: sim for sim in batch.results}
        missing = SimulatedCase(case_id="", error="no result returned for this case")
        return [_record(s, by_id.get(s.case_id, missing), run_id, settings) for s in chunk]

    if workers == 1:
        results = run_chunk(chunks[0])
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = [rec for chunk_records in pool.map(run_chunk, chunks) for rec in chunk_records]
    return {rec.case_id: rec for rec in sorted(results, key=lambda r: r.case_id)}
