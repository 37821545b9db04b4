"""Runnable `dpone run` manifests per case and strategy (dpone 0.88.0, legacy env connections).

The base is the manifest that really ran in contracts §5; strategy blocks follow dpone's own matrix fragments
(`dpone.integration_matrix_manifest`). Settings that exist only so dpone 0.88 runs at all carry a YAML comment
saying so. Connections are env connections: no value of this machine (host, socket, password) is written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dpone_certify.matrix.local.seed import BUSINESS_DATE, TABLE

REPLACE_WINDOW = "2026-06-03"
API_PAGE_SIZE = 1000
BACKFILL_FROM = "2026-06-01"
BACKFILL_TO = "2026-06-03"
SOURCE_CONNECTION = {"postgres": "pg_src", "mysql": "mysql_src", "api": "api_src"}
SINK_CONNECTION = "pg_dst"
# Strategies whose compiled process needs an explicit state block in dpone 0.88 (observed: without it
# `state.type must be set explicitly; implicit default 'bigquery' is disabled`).
STATE_STRATEGIES = frozenset(
    {"incremental_merge", "incremental_append", "partition_replace", "snapshot_diff", "scd2", "backfill", "replace"}
)


@dataclass(frozen=True)
class ManifestSpec:
    source: str  # postgres | mysql | api
    strategy: str  # the matrix strategy (xmin/cdc map to incremental_merge on the sink)
    source_schema: str  # pg schema / mysql database holding `orders`
    target_schema: str
    staging_schema: str
    api_url: str = ""  # api source only (a URL on 127.0.0.1 of the fixture server)
    api_schema: tuple[tuple[str, str], ...] = ()  # api source only: declared (name, type)
    variant: str = "documented"  # which configuration this manifest is (see runner.VARIANTS)
    # postgres source, incremental strategies: `options.delta_size_threshold` (0 = always the COPY path; dpone's
    # default 1,000,000 sends a small delta through the streaming path). None = dpone's default.
    delta_size_threshold: int | None = None
    backfill_id: str | None = None  # backfill: explicit campaign id (a new one per run reloads every chunk)

    @property
    def selector(self) -> str:
        return f"{self.source_schema}.{TABLE}" if self.source != "api" else f"api.{TABLE}"


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sink_strategy(strategy: str) -> str:
    return "incremental_merge" if strategy in ("xmin", "cdc") else strategy


def _source_block(spec: ManifestSpec) -> list[str]:
    conn = SOURCE_CONNECTION[spec.source]
    lines = ["  source:"]
    if spec.source == "api":
        lines += [
            "    type: api",
            "    api_type: rest",
            f"    connection_id: {conn}",
            "    connection_type: env",
            f"    table: {{schema: api, name: {TABLE}}}",
            "    options:",
            "      method: GET",
            "      # dpone's matrix fragment writes `url:` and `records_path: $.data`; the 0.88 REST connector reads",
            "      # `endpoint` (+ `path`) and a dotted records_path, so those are what runs here.",
            f"      endpoint: {_q(spec.api_url)}",
            "      records_path: data",
            f"      params: {{page_size: {API_PAGE_SIZE}}}",
            "      pagination: {type: page, page_param: page, start_page: 1, max_pages: 100000}",
            "      # Declared schema: without it the REST source loads one `payload` column (nvarchar(max)).",
            "      schema:",
            *[f"        - {{name: {name}, type: {_q(dtype)}}}" for name, dtype in spec.api_schema],
        ]
        if spec.strategy in ("incremental_append", "incremental_merge"):
            lines.append("      incremental_column: updated_at")
        return lines
    lines += [
        f"    type: {spec.source}",
        f"    connection_id: {conn}",
        "    connection_type: env",
        f"    table: {{schema: {spec.source_schema}, name: {TABLE}}}",
        "    options:",
        "      batch_size: 50000",
    ]
    if spec.source == "mysql":
        lines.append("      export_format: csv  # dpone's matrix fragment for mysql -> non-mssql sinks")
    if spec.strategy in ("incremental_append", "incremental_merge"):
        if spec.source == "postgres":
            lines.append("      incremental_strategy: column  # cursor on updated_at; the xmin case covers xmin")
        lines.append("      incremental_column: updated_at")
    if spec.strategy == "xmin":
        lines.append("      incremental_strategy: xmin")
        lines.append(f"      xmin_state_key: {spec.source}_to_postgres.xmin")
    if spec.delta_size_threshold is not None:
        lines.append(
            f"      delta_size_threshold: {spec.delta_size_threshold}  # 0: every delta through the COPY path "
            "(dpone's own live tests set it)"
        )
    if spec.strategy == "replace":
        lines.append(f"      source_custom_predicate: \"{BUSINESS_DATE} = '{REPLACE_WINDOW}'\"")
    return lines


def _strategy_block(spec: ManifestSpec) -> list[str]:
    mode = sink_strategy(spec.strategy)
    lines = ["    strategy:", f"      mode: {mode}"]
    if mode == "incremental_merge":
        lines += ["      unique_key: id", "      merge_policy: delete_insert", "      duplicate_policy: fail"]
    elif mode == "incremental_append":
        lines += ["      unique_key: id"]
    elif mode == "snapshot_diff":
        lines += ["      unique_key: id", "      diff: {compare: row_hash, delete_policy: hard_delete}"]
    elif mode == "scd2":
        lines += [
            "      unique_key: id",
            "      scd2:",
            "        valid_from_column: __dpone__valid_from_at",
            "        valid_to_column: __dpone__valid_to_at",
            "        current_flag_column: __dpone__is_current",
            "        row_hash_column: __dpone__row_hash",
            "        delete_policy: expire",
        ]
    elif mode == "replace":
        lines.append(f"      custom_predicate: \"{BUSINESS_DATE} = '{REPLACE_WINDOW}'\"")
    elif mode == "partition_replace":
        lines.append(
            f"      partition: {{column: {BUSINESS_DATE}, values_from_staging: true, max_partitions_per_run: 64}}"
        )
    elif mode == "backfill":
        lines += [
            "      backfill:",
            "        inner_mode: partition_replace",
            f"        chunk: {{column: {BUSINESS_DATE}, from: '{BACKFILL_FROM}', to: '{BACKFILL_TO}', step: 1d}}",
            "        parallel_workers: 1",
            *(
                [f"        backfill_id: {spec.backfill_id}  # a new campaign per run (the same id re-runs nothing)"]
                if spec.backfill_id
                else []
            ),
            "      # Needed to run at all (dpone 0.88): the inner partition_replace reads sink.strategy.partition",
            "      # (without it: `partition_replace requires sink.strategy.partition.column`).",
            f"      partition: {{column: {BUSINESS_DATE}, values_from_staging: true, max_partitions_per_run: 64}}",
        ]
    return lines


def render(spec: ManifestSpec) -> str:
    evolution = (
        "{schema_evolution: {enabled: true, mode: widening, apply_safe: true, on_breaking: fail, on_type_change: fail}}"
    )
    lines = [
        "# dpone-certify local profile: generated manifest (runnable with `dpone run`).",
        f"# Variant: {spec.variant}.",
        "# Connections come from DPONE_CONN_<ID>_* env vars set by the harness; no credential is stored here.",
        "kind: dpone.batch.v1",
        "naming: {process_name: '{{ src_schema }}.{{ src_table }}', task_group: dpone_certify, "
        f"sink_dataset: {spec.target_schema}, sink_table: {TABLE}}}",
        f"vars: {{layer: landing, src_system: {spec.source}, src_database: certify}}",
        "defaults:",
        *_source_block(spec),
        "  sink:",
        "    type: postgres",
        f"    connection_id: {SINK_CONNECTION}",
        "    connection_type: env",
        f"    table: {{schema: {spec.target_schema}, name: {TABLE}}}",
        f"    staging: {{schema: {spec.staging_schema}}}",
        *_strategy_block(spec),
        f"    options: {evolution}",
    ]
    if sink_strategy(spec.strategy) in STATE_STRATEGIES:
        lines += [
            "  # Needed to run at all (dpone 0.88): state.type has no implicit default ('bigquery' is disabled) and",
            "  # state.vault_mount_point must be set explicitly even with env credentials (contracts §5).",
            "  # A top-level `state:` block is ignored; it must sit under defaults.",
            f"  state: {{type: postgres, connection_id: {SINK_CONNECTION}, connection_type: env, "
            f"vault_mount_point: unused, table: {{schema: {spec.target_schema}, name: etl_state}}}}",
        ]
    lines += [
        "  # Needed to run at all (dpone 0.88): env connections are legacy runtime connections and must be opted in,",
        "  # otherwise DPONE_LEGACY_RUNTIME_DEFAULTS_DISABLED (rc 2). Under `defaults:`, the form both 0.87.4 and",
        '  # 0.88.0 accept (0.87.4 refuses a top-level `runtime:` block: "Implicit runtime defaults are disabled").',
        "  runtime: {compatibility: {legacy_runtime_connections: explicit_only}}",
    ]
    schema_key = spec.source_schema if spec.source != "api" else "api"
    lines += [f"schemas: {{{schema_key}: {{tables: [{{table: {TABLE}}}]}}}}", ""]
    return "\n".join(lines)


def write(spec: ManifestSpec, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(spec), encoding="utf-8")
    return path
