"""Lineage between gates: each asset's record is stored under the evidence root and loaded by the assets
downstream of it, so a gate consumes exactly what its upstream produced, never a file found by globbing.

Layout: <root>/lineage/<asset>/<partition>.json for the matrix, <root>/lineage/<asset>/latest.json otherwise.
Records survive the Dagster instance (the CLI's default instance is a temporary folder)."""

import json
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import BaseModel

from dpone_certify.certification.records import GateRecord
from dpone_certify.evidence.atomic import atomic_write_json
from dpone_certify.matrix.records import CaseRecord
from dpone_certify.resources import CertifyResource

_MODELS: dict[str, type[BaseModel]] = {"CaseRecord": CaseRecord, "GateRecord": GateRecord}


def write_json_atomic(path: Path, payload: Any) -> None:
    """Kept for callers written before the one writer: `evidence.atomic.atomic_write_json`, without fsync (these
    records are re-derivable, and 237 fsyncs per matrix run cost seconds)."""
    atomic_write_json(path, payload, durable=False)


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

    def _path(self, asset_key: dg.AssetKey, partition: str | None = None) -> Path:
        return self.certify.layout().shared_lineage_path("__".join(asset_key.path), partition)

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        if context.has_asset_partitions:
            # A partitioned asset returns {partition_key: record} for the partitions of this run.
            for key, record in obj.items():
                write_json_atomic(self._path(context.asset_key, key), _dump(record))
        else:
            write_json_atomic(self._path(context.asset_key), _dump(obj))

    def load_input(self, context: dg.InputContext) -> Any:
        if context.has_asset_partitions:
            # Partitions never materialized are simply absent; the consumer reports them as not run.
            keys = context.asset_partition_keys
            loaded = {key: _load(self._path(context.asset_key, key), context.log) for key in keys}
            return {key: rec for key, rec in loaded.items() if rec is not None}
        return _load(self._path(context.asset_key), context.log)


@dg.io_manager(required_resource_keys={"certify"}, description="Gate records under <evidence_root>/lineage")
def evidence_io_manager(init_context: dg.InitResourceContext) -> EvidenceIOManager:
    # Built from the run's `certify` resource, so a run-config evidence_root applies to lineage too.
    return EvidenceIOManager(init_context.resources.certify)
