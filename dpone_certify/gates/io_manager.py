"""Lineage between gates, per run: each asset's record is written into the run's own folder and loaded by the
assets downstream of it, so a gate consumes exactly what its upstream produced in the same run.

    <root>/runs/<run_id>/lineage/<asset>.json                 a gate's record
    <root>/runs/<run_id>/lineage/source_sink_matrix/<case>.json   the matrix's case records

An upstream that did not run in this run (a partial selection) is read from one explicitly identified earlier
run: `certify.upstream_run` when set, else the run the Dagster instance recorded as the upstream's latest
materialization. The consumed record is copied into this run's lineage folder with the run it came from
(`consumed_from`), together with that run's certification plan when this run has none, so everything a verdict
depends on lives in the run's folder (and is indexed with it). Never "whatever is latest in the folder"."""

import hashlib
import json
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import BaseModel

from dpone_certify.certification.layout import EvidenceLayout
from dpone_certify.certification.records import GateRecord
from dpone_certify.evidence.atomic import atomic_write_json
from dpone_certify.matrix.records import CaseRecord
from dpone_certify.resources import CertifyResource

_MODELS: dict[str, type[BaseModel]] = {"CaseRecord": CaseRecord, "GateRecord": GateRecord}
PLAN = "certification_plan"


def _dump(record: BaseModel, consumed_from: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"model": type(record).__name__, "data": record.model_dump(mode="json")}
    if consumed_from:
        payload["consumed_from"] = consumed_from
    return payload


def load_record(path: Path, log: Any = None) -> BaseModel | None:
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


def latest_materialization_run(instance: dg.DagsterInstance, asset: dg.AssetKey) -> str | None:
    """The run the instance recorded as the asset's latest materialization (any partition), or None."""
    event = instance.get_latest_materialization_event(asset)
    return event.run_id if event is not None else None


def in_this_run(step_context: Any, asset: dg.AssetKey) -> bool:
    """Whether the run materializes `asset` (its selection, or the assets its job executes)."""
    selection = step_context.dagster_run.asset_selection
    if selection is None:
        selection = step_context.job_def.asset_layer.executable_asset_keys
    return asset in selection


class EvidenceIOManager(dg.ConfigurableIOManager):
    """Gate records under `<evidence_root>/runs/<run_id>/lineage/`, per run (see the module docstring).

    The evidence root is the run's `certify` resource as the step sees it (every gate requires it), so a run-config
    evidence_root applies to lineage too."""

    @staticmethod
    def _certify(context: dg.InputContext | dg.OutputContext) -> CertifyResource:
        certify = context.step_context.resources.certify
        assert isinstance(certify, CertifyResource)
        return certify

    def _name(self, key: dg.AssetKey) -> str:
        return "__".join(key.path)

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        layout = self._certify(context).layout(context.run_id)
        name = self._name(context.asset_key)
        # Lineage records are written atomically but not fsynced (durable=False): they are re-derivable from
        # the gate records, and 237 fsyncs per matrix run cost seconds.
        if context.has_asset_partitions:
            # A partitioned asset returns {partition_key: record} for the partitions of this run.
            for key, record in obj.items():
                atomic_write_json(layout.lineage_path(name, key), _dump(record), durable=False)
        else:
            atomic_write_json(layout.lineage_path(name), _dump(obj), durable=False)

    def load_input(self, context: dg.InputContext) -> Any:
        certify = self._certify(context)
        run_id = context.step_context.run_id
        here = certify.layout(run_id)
        name = self._name(context.asset_key)
        source = self._source_run(context, certify, here, name)
        if context.has_asset_partitions:
            # Partitions not materialized in the source run are absent; the consumer reports them as not run.
            keys = context.asset_partition_keys if source else []
            there = certify.layout(source)
            loaded = {key: load_record(there.lineage_path(name, key), context.log) for key in keys}
            records = {key: rec for key, rec in loaded.items() if rec is not None}
            for key, rec in records.items() if source != run_id else ():
                atomic_write_json(here.lineage_path(name, key), _dump(rec, consumed_from=source), durable=False)
            if source and source != run_id:
                self._import_plan(certify, here, source, context)
            return records
        record = load_record(certify.layout(source).lineage_path(name), context.log) if source else None
        if record is not None and source is not None and source != run_id:
            atomic_write_json(here.lineage_path(name), _dump(record, consumed_from=source), durable=False)
            self._import_plan(certify, here, source, context)
        return record

    def _source_run(
        self, context: dg.InputContext, certify: CertifyResource, here: EvidenceLayout, name: str
    ) -> str | None:
        """This run when it selected the upstream (if the upstream failed, its record is simply missing), else
        the explicitly identified earlier run."""
        if in_this_run(context.step_context, context.asset_key):
            return here.run_id
        if certify.upstream_run:
            return certify.upstream_run
        source = latest_materialization_run(context.instance, context.asset_key)
        if source is not None:
            context.log.info(f"{name} was not materialized in this run: consuming the records of run {source}")
        return source

    def _import_plan(
        self, certify: CertifyResource, here: EvidenceLayout, source: str, context: dg.InputContext
    ) -> None:
        """The plan that says which gates are required comes with the upstream records it governed, if it is
        still the file the source run's artifact index hashed (an edited plan is not imported: all required)."""
        if here.lineage_path(PLAN).exists():
            return
        there = certify.layout(source)
        path = there.lineage_path(PLAN)
        if not indexed_as_written(there, path):
            context.log.warning(f"the plan of run {source} differs from what its artifact index hashed; not used")
            return
        plan = load_record(path, context.log)
        if plan is not None:
            atomic_write_json(here.lineage_path(PLAN), _dump(plan, consumed_from=source), durable=False)


def indexed_as_written(layout: EvidenceLayout, path: Path) -> bool:
    """True when the run's artifact index (if it has one) lists `path` with its current sha256, or does not list
    it; False when the file was edited after it was indexed."""
    index_path = layout.artifact_index_path
    if not path.exists():
        return False
    try:
        items = json.loads(index_path.read_text(encoding="utf-8")).get("items", [])
    except (OSError, ValueError):
        return True
    digests = [i.get("sha256") for i in items if i.get("path") == str(path)]
    return not digests or hashlib.sha256(path.read_bytes()).hexdigest() == digests[0]
