"""`EvidenceLayout(root, run_id)`: the only code that knows the folder and file names under an evidence root.

<root>/runs/<run_id>/<gate>/...                 files each gate wrote in that run
<root>/runs/<run_id>/<gate>/gate_record.json    the gate's record (what its verdict check judges)
<root>/runs/<run_id>/artifact_index/artifact_index.json    dpone's artifact index of that run
<root>/runs/<run_id>/lineage/<asset>[/<partition>].json   lineage records handed between gates of the run
<root>/runs/<run_id>/lineage/matrix_run.json   the matrix's case records of that run
<root>/lineage/<asset>/latest_run.json          pointer: the run that last materialized <asset>
<root>/baselines/<profile>.json                 accepted benchmark baselines
<root>/chain/evidence_chain_index.json          dpone's evidence chain (entry file names: evidence.chain.entry_filename)
<root>/chain_head.json                          the head anchor
<root>/chain.lock, <root>/chain_append.journal.json   the append lock and the journal of an unfinished append
<root>/chain_halt.json                          the halt record, while a break stops the chain
<root>/acknowledgments/<ack_id>/chain_acknowledgment.json   a person's acknowledgment of a halt
<root>/store/objects/, <root>/store/runs/<run_id>.json, <root>/store/store.lock   the content-addressed store
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RECORD_FILE = "gate_record.json"
ARTIFACT_INDEX_FILE = "artifact_index.json"  # what `dpone ops artifact-index` writes in its --output-dir
MATRIX_RUN_FILE = "matrix_run.json"
RUNS_DIRNAME = "runs"
STORE_DIRNAME = "store"
CHAIN_DIRNAME = "chain"
CHAIN_INDEX = "evidence_chain_index.json"
HEAD_FILENAME = "chain_head.json"
LOCK_FILENAME = "chain.lock"
JOURNAL_FILENAME = "chain_append.journal.json"
HALT_FILENAME = "chain_halt.json"
ACK_FILENAME = "chain_acknowledgment.json"


class _UnderRoot:
    """An `EvidenceLayout` attribute that is a fixed path under the root (read-only, like a property)."""

    def __init__(self, *parts: str) -> None:
        self.parts = parts

    def __get__(self, layout: EvidenceLayout, owner: type[EvidenceLayout]) -> Path:
        return layout.root.joinpath(*self.parts)


@dataclass(frozen=True)
class EvidenceLayout:
    root: Path
    run_id: str | None = None

    def for_run(self, run_id: str) -> EvidenceLayout:
        return EvidenceLayout(self.root, run_id)

    def _run(self) -> str:
        if not self.run_id:
            raise ValueError("this layout is not bound to a run")
        return self.run_id

    # ---- one run ---------------------------------------------------------------------------------------
    @property
    def runs_dir(self) -> Path:
        return self.root / RUNS_DIRNAME

    @property
    def run_dir(self) -> Path:
        return self.runs_dir / self._run()

    def gate_dir(self, gate: str, *, create: bool = True) -> Path:
        path = self.run_dir / gate
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return path

    def record_path(self, gate: str) -> Path:
        return self.run_dir / gate / RECORD_FILE

    @property
    def lineage_root(self) -> Path:
        return self.run_dir / "lineage"

    @property
    def matrix_run_path(self) -> Path:
        return self.lineage_root / MATRIX_RUN_FILE

    def lineage_dir(self, asset: str) -> Path:
        return self.lineage_root / asset

    def lineage_path(self, asset: str, partition: str | None = None) -> Path:
        folder = self.lineage_dir(asset)
        return folder / f"{partition}.json" if partition is not None else folder.with_suffix(".json")

    @property
    def artifact_index_path(self) -> Path:
        return self.run_dir / "artifact_index" / ARTIFACT_INDEX_FILE

    def report_path(self, stem: str, suffix: str) -> Path:
        return self.run_dir / f"{stem}.{suffix}"

    # ---- across runs -----------------------------------------------------------------------------------
    def baseline_path(self, profile: str) -> Path:
        return self.root / "baselines" / f"{profile}.json"

    # Fixed paths under the root, as a table of names.
    chain_dir = _UnderRoot(CHAIN_DIRNAME)
    chain_index_path = _UnderRoot(CHAIN_DIRNAME, CHAIN_INDEX)
    head_path = _UnderRoot(HEAD_FILENAME)
    chain_lock_path = _UnderRoot(LOCK_FILENAME)
    journal_path = _UnderRoot(JOURNAL_FILENAME)
    halt_path = _UnderRoot(HALT_FILENAME)
    store_dir = _UnderRoot(STORE_DIRNAME)
    store_objects_dir = _UnderRoot(STORE_DIRNAME, "objects")
    store_manifests_dir = _UnderRoot(STORE_DIRNAME, "runs")
    store_lock_path = _UnderRoot(STORE_DIRNAME, "store.lock")

    def acknowledgment_dir(self, ack_id: str) -> Path:
        return self.root / "acknowledgments" / ack_id

    def acknowledgment_path(self, ack_id: str) -> Path:
        return self.acknowledgment_dir(ack_id) / ACK_FILENAME

    @property
    def interpreters_dir(self) -> Path:
        return self.root.parent / "interpreters"
