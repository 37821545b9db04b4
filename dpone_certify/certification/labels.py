"""Words the UI, the CLI and the reports share (plain text, no Dagster)."""

from __future__ import annotations

from dpone_certify.matrix.records import EvidenceStatus

UNVERIFIED_LABEL = "UNVERIFIED (dpone mock_contract simulation: a contract exists, no data was moved)"


def evidence_label(status: EvidenceStatus) -> str:
    return UNVERIFIED_LABEL if status is EvidenceStatus.UNVERIFIED else status.value


def reproduce_hint(gate: str, partition: str | None = None) -> str:
    selection = f"--select {gate}" + (f" --partition {partition}" if partition else "")
    return f"dagster asset materialize -m dpone_certify.definitions {selection}"
