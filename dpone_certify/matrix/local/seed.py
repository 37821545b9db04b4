"""Deterministic source data: `orders` with key `id`, cursor `updated_at`, `business_date` and N wide columns.

Row values are a pure function of (row id, column index, version), so every engine gets the same data and a
rerun gets the same data. The mutation between the two dpone runs follows dpone's own matrix counts
(`dpone.integration_matrix_counts`): the first `deleted` ids are physically deleted, the next `updated` ids get
version 1 of every column and a later `updated_at`, and `inserted` new ids are appended after the last one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

TABLE = "orders"
SNAPSHOT_TABLE = "orders__v0"  # copy of the source before the mutation (reconciliation of history strategies)
KEY = "id"
CURSOR = "updated_at"
BUSINESS_DATE = "business_date"
BASE_TS = datetime(2026, 6, 1, tzinfo=UTC)
CHANGED_TS = datetime(2026, 6, 5, tzinfo=UTC)
BASE_DATE = date(2026, 6, 1)
DATE_SPAN = 3  # business_date in 2026-06-01 .. 2026-06-03

# (type family, PostgreSQL declared type, MySQL declared type)
WIDE_TYPES: tuple[tuple[str, str, str], ...] = (
    ("int4", "integer", "int"),
    ("int8", "bigint", "bigint"),
    ("numeric", "numeric(18,4)", "decimal(18,4)"),
    ("float8", "double precision", "double"),
    ("text", "text", "text"),
    ("varchar", "varchar(64)", "varchar(64)"),
    ("bool", "boolean", "tinyint(1)"),
    ("date", "date", "date"),
    ("timestamptz", "timestamp with time zone", "datetime(6)"),
    ("uuid", "uuid", "char(36)"),
)


@dataclass(frozen=True)
class Column:
    name: str
    family: str  # int4, int8, numeric, float8, text, varchar, bool, date, timestamptz, uuid
    pg_type: str
    mysql_type: str
    nullable: bool = True


def columns(wide_columns: int) -> list[Column]:
    cols = [
        Column(KEY, "int8", "bigint", "bigint", nullable=False),
        Column(CURSOR, "timestamptz", "timestamp with time zone", "datetime(6)", nullable=False),
        Column(BUSINESS_DATE, "date", "date", "date", nullable=False),
    ]
    for index in range(1, wide_columns + 1):
        family, pg_type, mysql_type = WIDE_TYPES[(index - 1) % len(WIDE_TYPES)]
        cols.append(Column(f"wide_{index:03d}_{family}", family, pg_type, mysql_type))
    return cols


@dataclass(frozen=True)
class Mutation:
    deleted_ids: range
    updated_ids: range
    inserted_ids: range

    @property
    def changed_count(self) -> int:
        return len(self.deleted_ids) + len(self.updated_ids) + len(self.inserted_ids)

    @property
    def deleted_count(self) -> int:
        return len(self.deleted_ids)


def plan_mutation(row_count: int, change_ratio: float, delete_ratio: float) -> Mutation:
    """dpone's matrix counts: changed = max(1, n*change), deleted = max(1, n*delete), inserted =
    min(deleted, changed - deleted), updated = the rest of changed."""
    changed = max(1, int(row_count * change_ratio))
    deleted = min(row_count, max(1, int(row_count * delete_ratio)))
    inserted = min(deleted, max(0, changed - deleted))
    updated = max(0, min(row_count - deleted, changed - deleted - inserted))
    return Mutation(
        deleted_ids=range(1, deleted + 1),
        updated_ids=range(deleted + 1, deleted + updated + 1),
        inserted_ids=range(row_count + 1, row_count + inserted + 1),
    )


def _mix(row_id: int, col: int, version: int) -> int:
    x = (row_id * 0x9E3779B1 + col * 0x85EBCA77 + version * 0xC2B2AE3D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
    x ^= x >> 12
    return x


def wide_value(family: str, row_id: int, col: int, version: int) -> Any:
    h = _mix(row_id, col, version)
    if family in ("text", "varchar"):
        if h % 11 == 0:
            return None
        if h % 7 == 0:
            return ""  # empty strings must survive as '' (not NULL)
        return f"v{version}-{row_id}-{col}-{h % 9973}"
    if h % 17 == 0:
        return None
    if family == "int4":
        return (h % 2_000_000) - 1_000_000
    if family == "int8":
        return h * 1_000_003 - 2_000_000_000_000
    if family == "numeric":
        return Decimal(h % 100_000_000) / Decimal(10_000) - Decimal(5_000)
    if family == "float8":
        return (h % 1_000_000) / 8 - 60_000  # exact in binary
    if family == "bool":
        return h % 2 == 0
    if family == "date":
        return date(2000, 1, 1) + timedelta(days=h % 12_000)
    if family == "timestamptz":
        return datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=h % 900_000_000, microseconds=h % 1_000_000)
    if family == "uuid":
        return uuid.UUID(int=(h << 96) | (row_id << 32) | col)
    raise ValueError(family)


def row(row_id: int, cols: Sequence[Column], version: int) -> tuple[Any, ...]:
    values: list[Any] = [
        row_id,
        (CHANGED_TS if version else BASE_TS) + timedelta(seconds=row_id, microseconds=row_id % 1000),
        BASE_DATE + timedelta(days=row_id % DATE_SPAN),
    ]
    for index, column in enumerate(cols[3:], start=1):
        values.append(wide_value(column.family, row_id, index, version))
    return tuple(values)


def initial_rows(row_count: int, cols: Sequence[Column]) -> Iterator[tuple[Any, ...]]:
    for row_id in range(1, row_count + 1):
        yield row(row_id, cols, 0)


# ---- PostgreSQL ---------------------------------------------------------------------------------------


def pg_create_table(
    conn: Any, schema: str, cols: Sequence[Column], table: str = TABLE, *, primary_key: bool = True
) -> None:
    from psycopg import sql

    defs = sql.SQL(", ").join(
        sql.SQL("{} {}{}").format(
            sql.Identifier(c.name), sql.SQL(c.pg_type), sql.SQL("" if c.nullable else " NOT NULL")
        )
        for c in cols
    )
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    pk = sql.SQL(", PRIMARY KEY ({})").format(sql.Identifier(KEY)) if primary_key else sql.SQL("")
    conn.execute(sql.SQL("CREATE TABLE {}.{} ({}{})").format(sql.Identifier(schema), sql.Identifier(table), defs, pk))


def pg_copy_rows(conn: Any, schema: str, cols: Sequence[Column], rows: Iterator[tuple[Any, ...]], table: str) -> int:
    from psycopg import sql

    count = 0
    stmt = sql.SQL("COPY {}.{} ({}) FROM STDIN").format(
        sql.Identifier(schema), sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c.name) for c in cols)
    )
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        for values in rows:
            copy.write_row(values)
            count += 1
    return count


# Server-side generation: the same values as `row()`, computed by PostgreSQL from generate_series, so seeding a
# million rows moves no row through Python (issue 13 item 7). `_mix` and `wide_value` are written once more in SQL
# below; `tests/matrix/local/test_seed.py` compares both forms value by value.

_PG_EPOCH_2000 = "timestamptz '2000-01-01 00:00:00+00'"
_M32 = 0xFFFFFFFF


def _pg_wide(family: str, h: str, col: int, version: int) -> str:
    """`wide_value(family, id, col, version)` in SQL, given `h` = the column's `_mix` value; `id_text` and `id_hex`
    are the row's id as text and as 16 hex digits (computed once per row)."""
    if family in ("text", "varchar"):
        value = f"'v{version}-' || id_text || '-{col}-' || ({h} % 9973)"
        return f"CASE WHEN {h} % 11 = 0 THEN NULL WHEN {h} % 7 = 0 THEN '' ELSE {value} END"
    value = {
        "int4": f"(({h} % 2000000) - 1000000)::integer",
        "int8": f"({h} * 1000003 - 2000000000000)",
        # (h % 1e8) / 1e4 - 5000, as one exact multiplication by 0.0001 (numeric division is slower)
        "numeric": f"((({h} % 100000000) - 50000000) * 0.0001)",
        "float8": f"(({h} % 1000000)::double precision / 8 - 60000)",
        "bool": f"({h} % 2 = 0)",
        "date": f"(date '2000-01-01' + ({h} % 12000)::integer)",
        # seconds and microseconds as one count of microseconds (< 2^53: exact through interval * float8)
        "timestamptz": (
            f"({_PG_EPOCH_2000} + (({h} % 900000000) * 1000000 + {h} % 1000000) * interval '1 microsecond')"
        ),
        # uuid.UUID(int=(h << 96) | (id << 32) | col): 8 hex digits of h, 16 of id, 8 of col
        "uuid": f"(lpad(to_hex({h}), 8, '0') || id_hex || '{col:08x}')::uuid",
    }[family]
    return f"CASE WHEN {h} % 17 = 0 THEN NULL ELSE {value} END"


def pg_generate_sql(schema: str, cols: Sequence[Column], version: int, table: str = TABLE) -> str:
    """`INSERT INTO schema.table SELECT <row(id, cols, version)> FROM generate_series(%(start)s, %(stop)s - 1)`.

    `_mix` runs in four layers of subqueries, one step each, so every intermediate is computed once per row and
    column (OFFSET 0 keeps the planner from folding a layer into every use of its columns)."""
    wide = range(1, len(cols) - 2)
    base_ts = "timestamptz '2026-06-05 00:00:00+00'" if version else "timestamptz '2026-06-01 00:00:00+00'"
    layer0 = (
        "SELECT g AS id, g::text AS id_text, lpad(to_hex(g), 16, '0') AS id_hex "
        "FROM generate_series(START, STOP - 1) AS g"
    )
    steps = [
        lambda i: f"(id * {0x9E3779B1} + {(i * 0x85EBCA77 + version * 0xC2B2AE3D)}) & {_M32}",
        lambda i: f"x{i} # (x{i} >> 15)",
        lambda i: f"(x{i} * {0x2C1B3C6D}) & {_M32}",
        lambda i: f"x{i} # (x{i} >> 12)",
    ]
    query = layer0
    for step in steps:
        hashes = "".join(f", {step(i)} AS x{i}" for i in wide)
        query = f"SELECT id, id_text, id_hex{hashes} FROM ({query} OFFSET 0) AS s"
    exprs = [
        "id",
        f"{base_ts} + (id * 1000000 + id % 1000) * interval '1 microsecond'",
        f"date '2026-06-01' + (id % {DATE_SPAN})::integer",
    ]
    exprs += [_pg_wide(c.family, f"x{i}", i, version) for i, c in enumerate(cols[3:], start=1)]
    names = ", ".join(f'"{c.name}"' for c in cols)
    select = ", ".join(f'{e} AS "{c.name}"' for e, c in zip(exprs, cols, strict=True))
    text = f'INSERT INTO "{schema}"."{table}" ({names}) SELECT {select} FROM ({query} OFFSET 0) AS src'
    # `%` is psycopg's placeholder mark: the modulo operators are escaped, then the two parameters put in.
    return text.replace("%", "%%").replace("START", "%(start)s::bigint").replace("STOP", "%(stop)s::bigint")


def pg_generate_rows(conn: Any, schema: str, cols: Sequence[Column], ids: range, version: int, table: str) -> int:
    """Generate the rows `ids` (a step-1 range) of `version` on the server; returns the row count."""
    if not len(ids):
        return 0
    cur = conn.execute(pg_generate_sql(schema, cols, version, table), {"start": ids.start, "stop": ids.stop})
    return int(cur.rowcount)


SEED_WORKERS_ENV = "DPONE_CERTIFY_SEED_WORKERS"
PARALLEL_MIN_ROWS = 50_000  # below this, extra connections cost more than they save


def seed_workers() -> int:
    """Connections that generate rows at once: $DPONE_CERTIFY_SEED_WORKERS, else min(2, CPUs)."""
    import os

    raw = os.environ.get(SEED_WORKERS_ENV, "").strip()
    return max(1, int(raw)) if raw else max(1, min(2, os.cpu_count() or 1))


def pg_generate_parallel(
    conn: Any, schema: str, cols: Sequence[Column], ids: range, version: int, table: str, workers: int
) -> int:
    """`pg_generate_rows` split into `workers` contiguous id ranges, each on a connection of its own to the same
    server (the table must be committed: `conn` is in autocommit). Same rows; only their physical order differs."""
    if workers <= 1 or len(ids) < PARALLEL_MIN_ROWS or conn.autocommit is not True:
        return pg_generate_rows(conn, schema, cols, ids, version, table)
    from concurrent.futures import ThreadPoolExecutor

    import psycopg

    step = -(-len(ids) // workers)
    chunks = [range(start, min(start + step, ids.stop)) for start in range(ids.start, ids.stop, step)]
    dsn, password = conn.info.dsn, conn.info.password

    def work(chunk: range) -> int:
        with psycopg.connect(dsn, password=password, autocommit=True) as other:
            return pg_generate_rows(other, schema, cols, chunk, version, table)

    with ThreadPoolExecutor(max_workers=len(chunks), thread_name_prefix="seed") as pool:
        return sum(pool.map(work, chunks))


def pg_seed(conn: Any, schema: str, row_count: int, wide_columns: int, *, workers: int | None = None) -> list[Column]:
    """The source table with `row_count` rows of version 0, generated on the server by `workers` connections
    (default `seed_workers()`); the primary key is added after the load (one index build instead of a million
    index insertions)."""
    cols = columns(wide_columns)
    pg_create_table(conn, schema, cols, primary_key=False)
    n = seed_workers() if workers is None else workers
    pg_generate_parallel(conn, schema, cols, range(1, row_count + 1), 0, TABLE, n)
    conn.execute(f'ALTER TABLE "{schema}"."{TABLE}" ADD PRIMARY KEY ("{KEY}")')
    # Row count and page statistics, and column statistics of the key, cursor and business date (what a
    # planner filters on); the 120 wide columns' statistics cost more than the generation at 20,000 rows.
    conn.execute(f'ANALYZE "{schema}"."{TABLE}" ("{KEY}", "{CURSOR}", "{BUSINESS_DATE}")')
    return cols


def pg_seed_copy(conn: Any, schema: str, row_count: int, wide_columns: int) -> list[Column]:
    """The former client-side seeding (rows built in Python, sent by COPY): the reference `pg_seed` is compared
    against in tests and benchmarks."""
    cols = columns(wide_columns)
    pg_create_table(conn, schema, cols)
    pg_copy_rows(conn, schema, cols, initial_rows(row_count, cols), TABLE)
    conn.execute(f'ANALYZE "{schema}"."{TABLE}"')
    return cols


def pg_snapshot(conn: Any, schema: str) -> None:
    conn.execute(f'CREATE TABLE "{schema}"."{SNAPSHOT_TABLE}" AS TABLE "{schema}"."{TABLE}"')


def pg_mutate(conn: Any, schema: str, cols: Sequence[Column], mutation: Mutation) -> None:
    from psycopg import sql

    target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(TABLE))
    with conn.transaction():
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE id >= %s AND id < %s").format(target),
            (mutation.deleted_ids.start, mutation.deleted_ids.stop),
        )
        if len(mutation.updated_ids):
            names = [c.name for c in cols]
            temp = f"upd_{schema}"[:60]
            conn.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DROP").format(sql.Identifier(temp), target))
            conn.execute(
                pg_generate_sql("pg_temp", cols, 1, temp),
                {"start": mutation.updated_ids.start, "stop": mutation.updated_ids.stop},
            )
            assignments = sql.SQL(", ").join(
                sql.SQL("{} = u.{}").format(sql.Identifier(n), sql.Identifier(n)) for n in names if n != KEY
            )
            conn.execute(
                sql.SQL("UPDATE {} AS t SET {} FROM {} AS u WHERE t.id = u.id").format(
                    target, assignments, sql.Identifier(temp)
                )
            )
        pg_generate_rows(conn, schema, cols, mutation.inserted_ids, 1, TABLE)


# ---- MySQL / MariaDB ----------------------------------------------------------------------------------


def _mysql_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)  # datetime(6) holds UTC wall time
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def mysql_insert(conn: Any, database: str, cols: Sequence[Column], rows: Iterator[tuple[Any, ...]], table: str) -> None:
    names = ", ".join(f"`{c.name}`" for c in cols)
    placeholders = ", ".join(["%s"] * len(cols))
    stmt = f"INSERT INTO `{database}`.`{table}` ({names}) VALUES ({placeholders})"
    batch: list[tuple[Any, ...]] = []
    with conn.cursor() as cur:
        for values in rows:
            batch.append(tuple(_mysql_value(v) for v in values))
            if len(batch) >= 500:
                cur.executemany(stmt, batch)
                batch.clear()
        if batch:
            cur.executemany(stmt, batch)


def mysql_seed(conn: Any, database: str, row_count: int, wide_columns: int) -> list[Column]:
    cols = columns(wide_columns)
    defs = ", ".join(f"`{c.name}` {c.mysql_type}{'' if c.nullable else ' NOT NULL'}" for c in cols)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        cur.execute(f"CREATE TABLE `{database}`.`{TABLE}` ({defs}, PRIMARY KEY (`{KEY}`)) ENGINE=InnoDB")
    mysql_insert(conn, database, cols, initial_rows(row_count, cols), TABLE)
    return cols


def mysql_snapshot(conn: Any, database: str) -> None:
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{database}`.`{SNAPSHOT_TABLE}` AS SELECT * FROM `{database}`.`{TABLE}`")


def mysql_mutate(conn: Any, database: str, cols: Sequence[Column], mutation: Mutation) -> None:
    with conn.cursor() as cur:
        cur.execute(
            f"DELETE FROM `{database}`.`{TABLE}` WHERE id >= %s AND id < %s",
            (mutation.deleted_ids.start, mutation.deleted_ids.stop),
        )
        names = [c.name for c in cols if c.name != KEY]
        stmt = f"UPDATE `{database}`.`{TABLE}` SET " + ", ".join(f"`{n}` = %s" for n in names) + f" WHERE `{KEY}` = %s"
        batch = []
        for row_id in mutation.updated_ids:
            values = [_mysql_value(v) for v in row(row_id, cols, 1)]
            batch.append((*values[1:], row_id))
        if batch:
            cur.executemany(stmt, batch)
    mysql_insert(conn, database, cols, (row(i, cols, 1) for i in mutation.inserted_ids), TABLE)
