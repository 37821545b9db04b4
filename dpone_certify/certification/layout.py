"""`EvidenceLayout(root, run_id)`: the only code that knows the folder and file names under an evidence root.

<root>/runs/<run_id>/<gate>/...                 files each gate wrote in that run
<root>/runs/<run_id>/<gate>/gate_record.json    the gate's record (what its verdict check judges)
<root>/runs/<run_id>/source_sink_matrix/matrix_run.json   the matrix's case records of that run
<root>/runs/<run_id>/lineage/<asset>[/<partition>].json   lineage records handed between gates of the run
<root>/lineage/<asset>/latest_run.json          pointer: the run that last materialized <asset>
<root>/baselines/<profile>.json                 accepted benchmark baselines
<root>/chain/, <root>/store/                    the evidence chain and the content-addressed store
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RECORD_FILE = "gate_record.json"
MATRIX_GATE = "source_sink_matrix"
MATRIX_RUN_FILE = "matrix_run.json"


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
        return self.root / "runs"

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

    def report_path(self, stem: str, suffix: str) -> Path:
        return self.run_dir / f"{stem}.{suffix}"

    # ---- across runs -----------------------------------------------------------------------------------
    def baseline_path(self, profile: str) -> Path:
        return self.root / "baselines" / f"{profile}.json"

    @property
    def chain_dir(self) -> Path:
        return self.root / "chain"

    @property
    def chain_index_path(self) -> Path:
        return self.chain_dir / "evidence_chain_index.json"

    @property
    def interpreters_dir(self) -> Path:
        return self.root.parent / "interpreters"
