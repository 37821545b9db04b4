"""Independent reconciliation, computed in the databases by our own SQL (never from dpone's counters).

Layered like data-diff: (1) row count, (2) an order-independent checksum of the business columns (sum of a
60-bit prefix of each row's MD5 over canonical column texts), (3) only on a mismatch, a bounded row-level diff
by key. Canonical texts make engines comparable: numbers as numeric(38,6), booleans as 1/0, dates ISO,
timestamps as UTC wall time with microseconds (so timestamptz -> timestamp alone neither hides nor creates a
checksum difference: type changes are reported by the type-fidelity check), NULL as a marker distinct from ''.
dpone's technical columns (`__dpone__*`) are never part of the comparison.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from dpone_certify.matrix.local.engines import Engine
from dpone_certify.matrix.local.seed import KEY, Column

NULL_MARK = "<NULL>"
SEP = 31  # ASCII unit separator
MAX_DIFF_KEYS = 50
TEXT_FAMILIES = ("text", "varchar")
NUMERIC_FAMILIES = ("int4", "int8", "numeric", "float8")

# ---- types ----------------------------------------------------------------------------------------------

_PG_SHORT = {
    "smallint": "int2",
    "integer": "int4",
    "bigint": "int8",
    "numeric": "numeric",
    "real": "float4",
    "double precision": "float8",
    "text": "text",
    "character varying": "varchar",
    "character": "char",
    "boolean": "bool",
    "date": "date",
    "timestamp with time zone": "timestamptz",
    "timestamp without time zone": "timestamp",
    "uuid": "uuid",
    "json": "json",
    "jsonb": "jsonb",
    "bytea": "bytea",
}
_MYSQL_SHORT = {
    "tinyint(1)": "bool",
    "tinyint": "int1",
    "smallint": "int2",
    "int": "int4",
    "mediumint": "int4",
    "bigint": "int8",
    "decimal": "numeric",
    "double": "float8",
    "float": "float4",
    "text": "text",
    "longtext": "text",
    "mediumtext": "text",
    "varchar": "varchar",
    "char": "char",
    "date": "date",
    "datetime": "timestamp",
    "timestamp": "timestamptz",
    "json": "json",
}
# Lossless changes that are not findings (short source type -> accepted short target types).
_WIDENINGS = {
    "int2": {"int4", "int8", "numeric"},
    "int4": {"int8", "numeric"},
    "int8": {"numeric"},
    "float4": {"float8"},
    "varchar": {"text"},
    "char": {"varchar", "text", "uuid"},
}


def short_type(engine_family: str, data_type: str) -> str:
    """Short name of a declared type as used in `type_fidelity.<from>_to_<to>` blockers."""
    t = data_type.strip().lower()
    if engine_family == "mysql":
        if t.startswith("tinyint(1)"):
            return "bool"
        base = t.split("(")[0].split()[0]
        return _MYSQL_SHORT.get(base, base)
    base = t.split("(")[0].strip()
    return _PG_SHORT.get(base, base.replace(" ", "_"))


def type_faithful(src_short: str, dst_short: str) -> bool:
    return src_short == dst_short or dst_short in _WIDENINGS.get(src_short, set())


@dataclass
class ColumnType:
    name: str
    data_type: str  # declared, e.g. "timestamp with time zone", "character varying(64)", "tinyint(1)"
    short: str


def table_types(engine: Engine, schema: str, table: str) -> dict[str, ColumnType]:
    """Declared column types from information_schema (ordered)."""
    if engine.family == "mysql":
        sql = (
            "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s AND "
            "TABLE_NAME=%s ORDER BY ORDINAL_POSITION"
        )
        with engine.connect() as conn, conn.cursor() as cur:
            cur.execute(sql, (schema, table))
            rows = cur.fetchall()
    else:
        sql = (
            "SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale "
            "FROM information_schema.columns WHERE table_schema=%s AND table_name=%s ORDER BY ordinal_position"
        )
        with engine.connect() as conn:
            raw = conn.execute(sql, (schema, table)).fetchall()
        rows = []
        for name, data_type, char_len, precision, scale in raw:
            declared = str(data_type)
            if char_len is not None:
                declared += f"({char_len})"
            elif declared == "numeric" and precision is not None:
                declared += f"({precision},{scale})"
            rows.append((name, declared))
    return {str(n): ColumnType(str(n), str(t), short_type(engine.family, str(t))) for n, t in rows}


# ---- canonical expressions -------------------------------------------------------------------------------


def _ident(engine: Engine, name: str) -> str:
    return f"`{name}`" if engine.family == "mysql" else '"' + name.replace('"', '""') + '"'


def canonical_expr(engine: Engine, column: Column, actual: ColumnType | None, *, native: bool = False) -> str:
    """SQL text expression giving the canonical text of one column (NULL stays NULL here).

    `native`: both sides are PostgreSQL, so PostgreSQL's own text output is already canonical and about 5x
    cheaper than the portable form; only timestamptz is rendered as its UTC wall time (the text of the
    `timestamp` it would become)."""
    if actual is None:
        return "NULL"
    c = _ident(engine, column.name)
    short = actual.short
    if native and engine.family == "postgres":
        if short == "timestamptz":
            return f"({c} AT TIME ZONE 'UTC')::text"
        return f"({c})::text"
    if engine.family == "mysql":
        if column.family in NUMERIC_FAMILIES and short not in ("text", "varchar", "char"):
            return f"CAST(CAST({c} AS DECIMAL(38,6)) AS CHAR)"
        if column.family == "bool":
            return f"CASE WHEN {c} <> 0 THEN '1' WHEN {c} = 0 THEN '0' END"
        if column.family == "date":
            return f"DATE_FORMAT({c}, '%Y-%m-%d')"
        if column.family == "timestamptz":
            return f"DATE_FORMAT({c}, '%Y-%m-%d %H:%i:%s.%f')"
        if column.family == "uuid":
            return f"LOWER({c})"
        return f"CAST({c} AS CHAR)"
    numeric_types = ("int2", "int4", "int8", "numeric", "float4", "float8")
    if column.family in NUMERIC_FAMILIES and short in numeric_types:
        return f"({c})::numeric(38,6)::text"
    if column.family == "bool":
        if short == "bool":
            return f"CASE WHEN {c} THEN '1' WHEN NOT {c} THEN '0' END"
        if short in numeric_types:
            return f"CASE WHEN {c} <> 0 THEN '1' WHEN {c} = 0 THEN '0' END"
    if column.family == "date" and short in ("date", "timestamp"):
        return f"to_char({c}, 'YYYY-MM-DD')"
    if column.family == "timestamptz":
        if short == "timestamptz":
            return f"to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
        if short == "timestamp":
            return f"to_char({c}, 'YYYY-MM-DD HH24:MI:SS.US')"
    if column.family == "uuid":
        return f"lower(trim(({c})::text))"
    if short in ("text", "varchar", "char") and column.family not in TEXT_FAMILIES:
        # A value that arrived as text (e.g. a CSV transfer) is compared by value; the type change itself is
        # the type-fidelity finding. Text that does not parse stays as is (and then differs).
        t = f"({c})::text"
        iso_date = f"{t} ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}'"
        if column.family in NUMERIC_FAMILIES:
            number = f"{t} ~ '^\\s*-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?\\s*$'"
            return f"CASE WHEN {number} THEN ({t})::numeric(38,6)::text ELSE {t} END"
        if column.family == "bool":
            return (
                f"CASE WHEN lower({t}) IN ('1', 't', 'true') THEN '1' "
                f"WHEN lower({t}) IN ('0', 'f', 'false') THEN '0' ELSE {t} END"
            )
        if column.family == "date":
            return f"CASE WHEN {iso_date} THEN to_char(({t})::date, 'YYYY-MM-DD') ELSE {t} END"
        if column.family == "timestamptz":
            return (
                f"CASE WHEN {iso_date} THEN to_char(({t})::timestamptz AT TIME ZONE 'UTC', "
                f"'YYYY-MM-DD HH24:MI:SS.US') ELSE {t} END"
            )
    return f"({c})::text"


def row_hash_expr(engine: Engine, cols: Sequence[Column], types: dict[str, ColumnType], *, native: bool = False) -> str:
    if native and engine.family == "postgres":
        # A row constructor's text output quotes '' as "" and leaves NULL empty, so the two stay distinct, and
        # it is several times cheaper than concatenating 120+ column texts.
        values = [
            (
                f"({_ident(engine, c.name)} AT TIME ZONE 'UTC')"
                if types.get(c.name) and types[c.name].short == "timestamptz"
                else ("NULL" if c.name not in types else _ident(engine, c.name))
            )
            for c in cols
        ]
        return f"md5(ROW({', '.join(values)})::text)"
    parts = [f"COALESCE({canonical_expr(engine, c, types.get(c.name), native=native)}, '{NULL_MARK}')" for c in cols]
    if engine.family == "mysql":
        chunks = [f"CONCAT_WS(CHAR({SEP}), {', '.join(parts[i : i + 50])})" for i in range(0, len(parts), 50)]
        return f"MD5(CONCAT_WS(CHAR({SEP}), {', '.join(chunks)}))"
    # `||` rather than concat_ws: PostgreSQL functions take at most 100 arguments.
    return "md5(" + f" || chr({SEP}) || ".join(parts) + ")"


@dataclass
class Relation:
    """A set of rows to compare: `SELECT ... FROM <from_sql> [WHERE <where>]` in one engine."""

    engine: Engine
    schema: str
    table: str
    where: str | None = None
    subquery: str | None = None  # replaces schema.table, e.g. a UNION ALL of two tables
    label: str = ""

    def table_sql(self, table: str | None = None) -> str:
        return f"{_ident(self.engine, self.schema)}.{_ident(self.engine, table or self.table)}"

    @property
    def from_sql(self) -> str:
        base = f"({self.subquery}) AS u" if self.subquery else self.table_sql()
        return base + (f" WHERE {self.where}" if self.where else "")

    def describe(self) -> str:
        what = self.label or (f"({self.subquery})" if self.subquery else f"{self.schema}.{self.table}")
        return f"{self.engine.family}:{what}" + (f" WHERE {self.where}" if self.where else "")


def _fetchall(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        if engine.family == "mysql":
            with conn.cursor() as cur:
                cur.execute(sql)
                return list(cur.fetchall())
        return list(conn.execute(sql).fetchall())


def aggregate(
    rel: Relation, cols: Sequence[Column], types: dict[str, ColumnType], *, native: bool = False
) -> tuple[int, int]:
    h = row_hash_expr(rel.engine, cols, types, native=native)
    if rel.engine.family == "mysql":
        sql = (
            "SELECT COUNT(*), CAST(COALESCE(SUM(CAST(CONV(SUBSTR(h, 1, 15), 16, 10) AS UNSIGNED)), 0) AS CHAR) "
            f"FROM (SELECT {h} AS h FROM {rel.from_sql}) q"
        )
    else:
        sql = (
            "SELECT count(*), COALESCE(sum(('x' || substr(h, 1, 15))::bit(60)::bigint), 0)::text "
            f"FROM (SELECT {h} AS h FROM {rel.from_sql}) q"
        )
    row = _fetchall(rel.engine, sql)[0]
    return int(row[0]), int(row[1])


def row_count(rel: Relation) -> int:
    return int(_fetchall(rel.engine, f"SELECT COUNT(*) FROM {rel.from_sql}")[0][0])


def checksum_text(count: int, total: int) -> str:
    """8-hex checksum for dpone's behavior file (full values are in our reconciliation report)."""
    import zlib

    return f"{zlib.crc32(f'{count}:{total}'.encode()):08x}"


def key_hashes(
    rel: Relation, cols: Sequence[Column], types: dict[str, ColumnType], *, native: bool = False
) -> dict[int, Counter[str]]:
    h = row_hash_expr(rel.engine, cols, types, native=native)
    out: dict[int, Counter[str]] = {}
    for key, digest in _fetchall(rel.engine, f"SELECT {_ident(rel.engine, KEY)}, {h} FROM {rel.from_sql}"):
        out.setdefault(int(key), Counter())[str(digest)] += 1
    return out


def canonical_rows(
    rel: Relation,
    cols: Sequence[Column],
    types: dict[str, ColumnType],
    keys: Sequence[int],
    *,
    native: bool = False,
) -> dict[int, list[dict[str, str | None]]]:
    if not keys:
        return {}
    exprs = ", ".join(canonical_expr(rel.engine, c, types.get(c.name), native=native) for c in cols)
    # Compare keys as text: a target may hold the key with another type (e.g. text after a CSV transfer).
    key_list = ", ".join(f"'{int(k)}'" for k in keys)
    key_text = (
        f"CAST({_ident(rel.engine, KEY)} AS CHAR)"
        if rel.engine.family == "mysql"
        else f"({_ident(rel.engine, KEY)})::text"
    )
    where = f"{key_text} IN ({key_list})"
    from_sql = rel.from_sql + (f" AND {where}" if rel.where else f" WHERE {where}")
    out: dict[int, list[dict[str, str | None]]] = {}
    for values in _fetchall(rel.engine, f"SELECT {exprs} FROM {from_sql}"):
        row = {c.name: (None if v is None else str(v)) for c, v in zip(cols, values, strict=True)}
        out.setdefault(int(float(str(row[KEY]))), []).append(row)
    return out


def null_empty_counts(rel: Relation, cols: Sequence[Column]) -> dict[str, dict[str, int]]:
    text_cols = [c for c in cols if c.family in TEXT_FAMILIES]
    if not text_cols:
        return {}
    parts = []
    for c in text_cols:
        ident = _ident(rel.engine, c.name)
        if rel.engine.family == "mysql":
            parts += [f"COALESCE(SUM({ident} = ''), 0)", f"COALESCE(SUM({ident} IS NULL), 0)"]
        else:
            parts += [f"count(*) FILTER (WHERE {ident}::text = '')", f"count(*) FILTER (WHERE {ident} IS NULL)"]
    row = _fetchall(rel.engine, f"SELECT {', '.join(parts)} FROM {rel.from_sql}")[0]
    return {c.name: {"empty": int(row[2 * i]), "null": int(row[2 * i + 1])} for i, c in enumerate(text_cols)}


# ---- comparison -------------------------------------------------------------------------------------


@dataclass
class Comparison:
    name: str
    expected: str  # description of the expected relation
    actual: str
    expected_count: int
    actual_count: int
    expected_sum: int
    actual_sum: int
    diff: list[dict[str, Any]] = field(default_factory=list)
    diff_truncated: bool = False
    missing_keys: list[int] = field(default_factory=list)  # in expected, not in actual (bounded)
    extra_keys: list[int] = field(default_factory=list)  # in actual, not in expected (bounded)
    changed_keys: list[int] = field(default_factory=list)
    empty_to_null: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows_match(self) -> bool:
        return self.expected_count == self.actual_count

    @property
    def checksum_match(self) -> bool:
        return self.rows_match and self.expected_sum == self.actual_sum

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "expected_relation": self.expected,
            "actual_relation": self.actual,
            "expected_row_count": self.expected_count,
            "actual_row_count": self.actual_count,
            "expected_checksum": checksum_text(self.expected_count, self.expected_sum),
            "actual_checksum": checksum_text(self.actual_count, self.actual_sum),
            "expected_hash_sum": str(self.expected_sum),
            "actual_hash_sum": str(self.actual_sum),
            "rows_match": self.rows_match,
            "checksum_match": self.checksum_match,
            "missing_keys_sample": self.missing_keys,
            "extra_keys_sample": self.extra_keys,
            "changed_keys_sample": self.changed_keys,
            "empty_string_to_null": self.empty_to_null,
            "row_diff": self.diff,
            "row_diff_truncated": self.diff_truncated,
            "seconds": round(self.seconds, 4),
        }


def compare(
    name: str,
    expected: Relation,
    actual: Relation,
    cols: Sequence[Column],
    expected_types: dict[str, ColumnType],
    actual_types: dict[str, ColumnType],
    *,
    max_diff_keys: int = MAX_DIFF_KEYS,
) -> Comparison:
    started = time.perf_counter()
    native = expected.engine.family == actual.engine.family == "postgres"
    # Both sides at once (separate connections): the servers work in parallel.
    with ThreadPoolExecutor(max_workers=2) as pool:
        e_future = pool.submit(aggregate, expected, cols, expected_types, native=native)
        a_future = pool.submit(aggregate, actual, cols, actual_types, native=native)
        (e_count, e_sum), (a_count, a_sum) = e_future.result(), a_future.result()
    result = Comparison(name, expected.describe(), actual.describe(), e_count, a_count, e_sum, a_sum)
    if result.checksum_match:
        result.seconds = time.perf_counter() - started
        return result
    # Layer 3: bounded row-level diff by key (both sides at once again).
    with ThreadPoolExecutor(max_workers=2) as pool:
        e_hf = pool.submit(key_hashes, expected, cols, expected_types, native=native)
        a_hf = pool.submit(key_hashes, actual, cols, actual_types, native=native)
        e_hashes, a_hashes = e_hf.result(), a_hf.result()
    differing = sorted(k for k in set(e_hashes) | set(a_hashes) if e_hashes.get(k) != a_hashes.get(k))
    result.missing_keys = [k for k in differing if k not in a_hashes][:max_diff_keys]
    result.extra_keys = [k for k in differing if k not in e_hashes][:max_diff_keys]
    result.changed_keys = [k for k in differing if k in a_hashes and k in e_hashes][:max_diff_keys]
    sample = differing[:max_diff_keys]
    result.diff_truncated = len(differing) > max_diff_keys
    with ThreadPoolExecutor(max_workers=2) as pool:
        e_rf = pool.submit(canonical_rows, expected, cols, expected_types, sample, native=native)
        a_rf = pool.submit(canonical_rows, actual, cols, actual_types, sample, native=native)
        e_rows, a_rows = e_rf.result(), a_rf.result()
    for key in sample:
        result.diff.append(_key_diff(key, e_rows.get(key, []), a_rows.get(key, [])))
    result.empty_to_null = _empty_to_null(e_rows, a_rows, cols)
    result.seconds = time.perf_counter() - started
    return result


def _key_diff(key: int, expected: list[dict[str, str | None]], actual: list[dict[str, str | None]]) -> dict[str, Any]:
    if not actual:
        return {"key": key, "kind": "missing_in_target", "expected_versions": len(expected)}
    if not expected:
        return {"key": key, "kind": "unexpected_in_target", "actual_versions": len(actual)}
    kind = "version_count_differs" if len(expected) != len(actual) else "values_differ"
    # Compare the closest pair (first expected vs best-matching actual) column by column.
    columns: dict[str, dict[str, str | None]] = {}
    for e_row in expected:

        def distance(a_row: dict[str, str | None], e_row: dict[str, str | None] = e_row) -> int:
            return sum(a_row.get(c) != v for c, v in e_row.items())

        best = min(actual, key=distance)
        for col, value in e_row.items():
            if best.get(col) != value and col not in columns:
                columns[col] = {"expected": value, "actual": best.get(col)}
    return {
        "key": key,
        "kind": kind,
        "expected_versions": len(expected),
        "actual_versions": len(actual),
        "columns": dict(list(columns.items())[:20]),
        "columns_differing": len(columns),
    }


def _empty_to_null(
    e_rows: dict[int, list[dict[str, str | None]]],
    a_rows: dict[int, list[dict[str, str | None]]],
    cols: Sequence[Column],
) -> dict[str, dict[str, int]]:
    """Cells that were '' in the expected row and NULL in the actual one (within the diff sample)."""
    out: dict[str, dict[str, int]] = {}
    text_cols = [c.name for c in cols if c.family in TEXT_FAMILIES]
    for key, e_versions in e_rows.items():
        a_versions = a_rows.get(key, [])
        if len(e_versions) != 1 or len(a_versions) < 1:
            continue
        for a_row in a_versions:
            for col in text_cols:
                if e_versions[0].get(col) == "" and a_row.get(col) is None:
                    out.setdefault(col, {"cells": 0})["cells"] += 1
    return out
