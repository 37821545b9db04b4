"""cdc: a real CDC run needs PostgreSQL logical decoding (`wal_level=logical`, a replication slot, a
publication). This producer checks the local profile's PostgreSQL; when it cannot decode logically the domain
is missing with the reason and how to enable it. No CDC artifact is ever written without a CDC run.

Observed in dpone 0.88.0: the batch runtime does not read a manifest's `options.cdc` block (dpone's own matrix
fragment for the cdc strategy), and `PostgresLogicalCDCReader` has no caller in the runtime; CDC runs go
through `dpone ops cdc-runtime-run --mode live`, which this harness does not drive yet. So even a
`wal_level=logical` server yields `missing` here, with that reason, until a CDC runner exists."""

from __future__ import annotations

from dpone_certify.matrix.local.engines import EngineUnavailable, postgres_engine
from dpone_certify.release.common import ProducerResult, missing

HOW_TO_ENABLE = (
    "start a PostgreSQL with `-c wal_level=logical` (e.g. `docker compose -f docker/compose.engines.yaml up -d "
    "postgres`, or `ALTER SYSTEM SET wal_level = logical` and a restart) and point DPONE_IT_PG_HOST/_PORT/"
    "_DATABASE/_USER/_PASSWORD at it"
)
NO_RUNNER = (
    "dpone 0.88's batch runtime ignores the manifest's options.cdc block (PostgresLogicalCDCReader has no caller); "
    "a CDC run needs `dpone ops cdc-runtime-run --mode live`, which dpone-certify does not drive yet"
)


def wal_level() -> tuple[str | None, str]:
    try:
        engine = postgres_engine()
    except EngineUnavailable as exc:
        return None, exc.reason
    try:
        with engine.connect() as conn:
            row = conn.execute("SHOW wal_level").fetchone()
    except Exception as exc:  # noqa: BLE001 - any driver error: no CDC here
        return None, f"{engine.label} not reachable: {type(exc).__name__}"
    return (str(row[0]) if row else None), engine.label


def produce() -> ProducerResult:
    result = ProducerResult()
    level, where = wal_level()
    result.extra.update(wal_level=level, engine=where)
    if level != "logical":
        reason = f"{where} has wal_level={level or 'unknown'}, logical decoding is off; {HOW_TO_ENABLE}"
    else:
        reason = f"{where} has wal_level=logical, but {NO_RUNNER}"
    result.block("cdc.missing")
    result.domains.append(missing("cdc", reason))
    result.summary = f"No CDC run: {reason}."
    return result
