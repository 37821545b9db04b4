"""cdc: no real CDC run is possible from a PostgreSQL source with dpone 0.88.0, so this domain is missing,
with the reason. No CDC artifact is ever written without a CDC run driven by dpone.

Observed in dpone 0.88.0 (all through the CLI):
- `dpone ops cdc-runtime-run --mode live --backend postgres_logical --source postgres` exits 1 with
  `ValueError: live CDC runtime currently supports source=mssql and sink=clickhouse` (also for `--sink local`);
  `cdc-retention-check --mode live` refuses any source but mssql, `cdc-compare-repair --mode live` needs
  mssql -> clickhouse, `cdc-replay-execute`/`cdc-resync-execute --mode live` need sink=clickhouse.
- `cdc-runtime-run --mode local` only replays an events JSON we would have to write ourselves (dpone captures
  nothing), and `cdc-apply-certification`/`cdc-observability-evidence`/`cdc-handoff`/`cdc-promotion-gate` read
  fixture or upstream JSON, not a database.
- `PostgresLogicalCDCReader` (pgoutput) does decode a slot correctly, but no dpone command calls it, and the batch
  runtime ignores a manifest's `options.cdc` block.
- The engine is not the blocker: the `pgserver` wheel's PostgreSQL 16 runs with `wal_level = logical` appended to
  its data dir's postgresql.conf (stop + restart about 0.2 s; `pgoutput` works, `test_decoding` is not shipped).
The only live CDC path in 0.88 is SQL Server CDC/change tracking -> ClickHouse, which this harness does not drive."""

from __future__ import annotations

from collections.abc import Callable

from dpone_certify.matrix.local.engines import Engine, EngineUnavailable, postgres_engine
from dpone_certify.release.common import ProducerResult, missing

NO_POSTGRES_CAPTURE = (
    "no dpone 0.88 command captures changes from a PostgreSQL logical-replication slot: "
    "`dpone ops cdc-runtime-run --mode live --backend postgres_logical --source postgres` fails with 'live CDC "
    "runtime currently supports source=mssql and sink=clickhouse' (cdc-retention-check/cdc-compare-repair live "
    "modes likewise need source=mssql), its --mode local only replays a given events JSON, and "
    "PostgresLogicalCDCReader has no CLI caller (the batch runtime ignores options.cdc); the only live CDC path is "
    "SQL Server CDC -> ClickHouse (DPONE_IT_MSSQL_*/DPONE_IT_CLICKHOUSE_*), which dpone-certify does not drive yet"
)


def wal_level(engine_factory: Callable[[], Engine] = postgres_engine) -> tuple[str | None, str]:
    try:
        engine = engine_factory()
    except EngineUnavailable as exc:
        return None, exc.reason
    try:
        with engine.connect() as conn:
            row = conn.execute("SHOW wal_level").fetchone()
    except Exception as exc:  # noqa: BLE001 - any driver error: no CDC here
        return None, f"{engine.label} not reachable: {type(exc).__name__}"
    return (str(row[0]) if row else None), engine.label


def produce(engine_factory: Callable[[], Engine] = postgres_engine) -> ProducerResult:
    result = ProducerResult()
    level, where = wal_level(engine_factory)
    result.extra.update(wal_level=level, engine=where)
    state = "" if level == "logical" else " (logical decoding off, but turning it on would not help)"
    reason = f"{where} has wal_level={level or 'unknown'}{state}; {NO_POSTGRES_CAPTURE}"
    result.block("cdc.missing")
    result.domains.append(missing("cdc", reason))
    result.summary = f"No CDC run: {reason}."
    return result
