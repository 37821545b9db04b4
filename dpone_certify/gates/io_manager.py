"""Lineage between gates: each asset's record is stored under the evidence root and loaded by the assets
downstream of it, so a gate consumes exactly what its upstream produced, never a file found by globbing.

Layout: <root>/lineage/<asset>/<partition>.json for the matrix, <root>/lineage/<asset>/latest.json otherwise.
Records survive the Dagster instance (the CLI's default instance is a temporary folder)."""

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import BaseModel

from dpone_certify.gates.records import GateRecord
from dpone_certify.matrix.records import CaseRecord
from dpone_certify.resources import CertifyResource

_MODELS: dict[str, type[BaseModel]] = {"CaseRecord": CaseRecord, "GateRecord": GateRecord}


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON so a reader never sees half a file, even if the writer is killed mid-way (rename is atomic;
    no fsync: these records are re-derivable, and 237 fsyncs per matrix run cost seconds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _dump(record: BaseModel) -> dict[str, Any]:
    return {"model": type(record).__name__, "data": record.model_dump(mode="json")}


def _load(path: Path, log: Any = None) -> BaseModel | None:
    """The stored record, or None when it is absent or unreadable: the consuming gate then reports
    `gate.input_missing:<asset>` (re-materialize the upstream) instead of crashing on a damaged file, and the
    damaged file is left in place for inspection."""
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return _MODELS[raw["model"]].model_validate(raw["data"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if log is not None:
            log.warning(f"lineage record {path} is unreadable ({type(exc).__name__}: {exc}); treated as missing")
        return None


class EvidenceIOManager(dg.IOManager):
    def __init__(self, certify: CertifyResource) -> None:
        self.certify = certify

    def _dir(self, asset_key: dg.AssetKey) -> Path:
        return self.certify.root() / "lineage" / "__".join(asset_key.path)

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        folder = self._dir(context.asset_key)
        if context.has_asset_partitions:
            # A partitioned asset returns {partition_key: record} for the partitions of this run.
            for key, record in obj.items():
                write_json_atomic(folder / f"{key}.json", _dump(record))
        else:
            write_json_atomic(folder / "latest.json", _dump(obj))

    def load_input(self, context: dg.InputContext) -> Any:
        folder = self._dir(context.asset_key)
        if context.has_asset_partitions:
            # Partitions never materialized are simply absent; the consumer reports them as not run.
            loaded = {key: _load(folder / f"{key}.json", context.log) for key in context.asset_partition_keys}
            return {key: rec for key, rec in loaded.items() if rec is not None}
        return _load(folder / "latest.json", context.log)


@dg.io_manager(required_resource_keys={"certify"}, description="Gate records under <evidence_root>/lineage")
def evidence_io_manager(init_context: dg.InitResourceContext) -> EvidenceIOManager:
    # Built from the run's `certify` resource, so a run-config evidence_root applies to lineage too.
    return EvidenceIOManager(init_context.resources.certify)
