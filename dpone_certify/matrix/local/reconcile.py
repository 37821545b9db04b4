"""Independent reconciliation, computed in the databases by our own SQL (never from dpone's counters).

Layered like data-diff: (1) row count, (2) an order-independent checksum of the business columns (the sum of a
64-bit hash per row), (3) only on a mismatch, a bounded row-level diff by key. The NULL vs '' counts of the text
columns come from the same scan as (1) and (2).

Row hashes. Across engines (MySQL -> PostgreSQL) each row's hash is a 60-bit prefix of the MD5 of its canonical
column texts: numbers as numeric(38,6), booleans as 1/0, dates ISO, timestamps as UTC wall time with
microseconds, NULL as a marker distinct from ''. When both sides are PostgreSQL the row is hashed by the
server's own typed hash (`hash_record_extended`, the stable hash behind hash partitioning): about 4x cheaper than
rendering 120+ columns as text, and equal for equal values whatever their text form. A column whose declared type
differs between the two sides (or has no hash function) is hashed by its text on both sides, and timestamptz by
its UTC wall time, so a type change alone neither hides nor creates a checksum difference: type changes are
reported by the type-fidelity check. dpone's technical columns (`__dpone__*`) are never part of the comparison.

Finding classes (`findings`): `type_fidelity.<from>_to_<to>` (declared types), `correctness.rows_mismatch`,
`correctness.checksum_mismatch`, `correctness.duplicate_key` (a key held more often than the expected side holds
it), `correctness.empty_string_to_null` (from the NULL vs '' counts) and `correctness.timestamp_offset`
(timestamps that differ by whole hours: a zone re-stamp, not a changed value). The reconciliation self-test
(`selftest.py`) seeds one corruption per class and checks that exactly its class is reported.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from dpone_certify.matrix.local.engines import Engine
from dpone_certify.matrix.local.seed import KEY, Column

NULL_MARK = "<NULL>"
SEP = 31  # ASCII unit separator
T = TypeVar("T")
MAX_DIFF_KEYS = 50
TEXT_FAMILIES = ("text", "varchar")
NUMERIC_FAMILIES = ("int4", "int8", "numeric", "float8")
MAX_ZONE_OFFSET_HOURS = 26  # UTC-12 .. UTC+14: the widest gap two zones' wall times can have

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
    base = " ".join(re.sub(r"\(\s*\d+(\s*,\s*\d+)?\s*\)", " ", t).split())  # "timestamp(6) with time zone"
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
        # pg_catalog rather than information_schema: the same declared types, about 10x faster.
        sql = (
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a "
            "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
        )
        with engine.connect() as conn:
            rows = conn.execute(sql, (schema, table)).fetchall()
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


# Types with a hash function that is consistent with equality (`hash_record_extended` needs one per column).
_HASHABLE = {"int2", "int4", "int8", "numeric", "float4", "float8", "text", "varchar", "bool", "date", "timestamp",
             "timestamptz", "uuid", "jsonb", "bytea"}  # fmt: skip


def as_text_columns(
    cols: Sequence[Column], expected: dict[str, ColumnType], actual: dict[str, ColumnType]
) -> frozenset[str]:
    """Columns the native hash must take as text on both sides: their types differ between the sides (other
    than timestamptz -> timestamp, which both sides render as UTC wall time) or cannot be hashed."""
    out = set()
    for c in cols:
        e, a = expected.get(c.name), actual.get(c.name)
        if e is None or a is None:
            continue
        pair = {e.short, a.short} - {"timestamptz", "timestamp"}
        if (e.short != a.short and pair) or not {e.short, a.short} <= _HASHABLE:
            out.add(c.name)
    return frozenset(out)


@dataclass(frozen=True)
class RowHash:
    """How one comparison hashes rows (the same for both sides): the typed `native` hash between two PostgreSQL
    relations, with the `as_text` columns taken as text, or the portable canonical-text MD5."""

    native: bool = False
    as_text: frozenset[str] = frozenset()

    def expr(self, engine: Engine, cols: Sequence[Column], types: dict[str, ColumnType]) -> str:
        """SQL expression giving one row's hash as an integer (see the module docstring)."""
        if self.native and engine.family == "postgres":
            values = []
            for c in cols:
                t = types.get(c.name)
                v = "NULL" if t is None else _ident(engine, c.name)
                if t is not None and t.short == "timestamptz":
                    v = f"({v} AT TIME ZONE 'UTC')"
                values.append(f"({v})::text" if c.name in self.as_text else v)
            return f"hash_record_extended(ROW({', '.join(values)}), 0)"
        parts = [f"COALESCE({canonical_expr(engine, c, types.get(c.name))}, '{NULL_MARK}')" for c in cols]
        if engine.family == "mysql":
            chunks = [f"CONCAT_WS(CHAR({SEP}), {', '.join(parts[i : i + 50])})" for i in range(0, len(parts), 50)]
            return f"CAST(CONV(SUBSTR(MD5(CONCAT_WS(CHAR({SEP}), {', '.join(chunks)})), 1, 15), 16, 10) AS UNSIGNED)"
        # `||` rather than concat_ws: PostgreSQL functions take at most 100 arguments.
        md5 = "md5(" + f" || chr({SEP}) || ".join(parts) + ")"
        return f"('x' || substr({md5}, 1, 15))::bit(60)::bigint"


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


@dataclass
class Scan:
    """One side of a comparison: row count, hash sum, NULL vs '' counts of the text columns and, when the scan
    fetched them, the row hashes by key (each key's list sorted: a key may hold several versions)."""

    count: int
    hash_sum: int
    null_empty: dict[str, dict[str, int]]  # text column -> {"empty": n, "null": n}
    by_key: dict[int, list[int]] | None = None


def _null_empty_exprs(
    engine: Engine, cols: Sequence[Column], types: dict[str, ColumnType]
) -> tuple[list[Column], list[str]]:
    text_cols = [c for c in cols if c.family in TEXT_FAMILIES and c.name in types]
    parts = []
    for c in text_cols:
        ident = _ident(engine, c.name)
        if engine.family == "mysql":
            parts += [f"COALESCE(SUM({ident} = ''), 0)", f"COALESCE(SUM({ident} IS NULL), 0)"]
        else:
            parts += [f"count(*) FILTER (WHERE {ident}::text = '')", f"count(*) FILTER (WHERE {ident} IS NULL)"]
    return text_cols, parts


def _null_empty_counts(text_cols: Sequence[Column], values: Sequence[Any]) -> dict[str, dict[str, int]]:
    return {c.name: {"empty": int(values[2 * i]), "null": int(values[2 * i + 1])} for i, c in enumerate(text_cols)}


def aggregate(
    rel: Relation, cols: Sequence[Column], types: dict[str, ColumnType], row_hash: RowHash = RowHash()
) -> Scan:
    """Row count, hash sum and the NULL vs '' counts, in one scan and one result row."""
    h = row_hash.expr(rel.engine, cols, types)
    text_cols, ne = _null_empty_exprs(rel.engine, cols, types)
    if rel.engine.family == "mysql":
        head = f"COUNT(*), CAST(COALESCE(SUM({h}), 0) AS CHAR)"
    else:
        head = f"count(*), COALESCE(sum(({h})::numeric), 0)::text"
    row = _fetchall(rel.engine, f"SELECT {', '.join([head, *ne])} FROM {rel.from_sql}")[0]
    return Scan(int(row[0]), int(row[1]), _null_empty_counts(text_cols, row[2:]))


def keyed_scan(
    rel: Relation, cols: Sequence[Column], types: dict[str, ColumnType], row_hash: RowHash = RowHash()
) -> Scan:
    """Like `aggregate`, but fetches every row's hash by key (count and sum are taken from them), so a mismatch
    needs no second pass. Used where the row hash is the expensive part (canonical texts across engines)."""
    by_key = key_hashes(rel, cols, types, row_hash)
    text_cols, ne = _null_empty_exprs(rel.engine, cols, types)
    counts = {}
    if ne:
        counts = _null_empty_counts(text_cols, _fetchall(rel.engine, f"SELECT {', '.join(ne)} FROM {rel.from_sql}")[0])
    versions = [h for hs in by_key.values() for h in hs]
    return Scan(len(versions), sum(versions), counts, by_key)


def row_count(rel: Relation) -> int:
    return int(_fetchall(rel.engine, f"SELECT COUNT(*) FROM {rel.from_sql}")[0][0])


def checksum_text(count: int, total: int) -> str:
    """8-hex checksum for dpone's behavior file (full values are in our reconciliation report)."""
    import zlib

    return f"{zlib.crc32(f'{count}:{total}'.encode()):08x}"


def key_hashes(
    rel: Relation, cols: Sequence[Column], types: dict[str, ColumnType], row_hash: RowHash = RowHash()
) -> dict[int, list[int]]:
    """Row hashes by key, each key's list sorted (a key may hold several versions, e.g. scd2 history)."""
    h = row_hash.expr(rel.engine, cols, types)
    out: dict[int, list[int]] = {}
    # Plain lists, not Counters, and no ORDER BY (MariaDB then hashes before a filesort): this loop runs per
    # row while the other side's thread waits for the GIL.
    for k, digest in _fetchall(rel.engine, f"SELECT {_ident(rel.engine, KEY)}, {h} FROM {rel.from_sql}"):
        k = k if isinstance(k, int) else int(float(str(k)))
        versions = out.get(k)
        if versions is None:
            out[k] = [int(digest)]
        else:
            versions.append(int(digest))
    for versions in out.values():
        if len(versions) > 1:
            versions.sort()
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
    duplicate_keys: list[int] = field(default_factory=list)  # actual holds more versions than expected (bounded)
    timestamp_offsets: dict[str, dict[str, Any]] = field(default_factory=dict)  # column -> whole-hour shifts
    empty_to_null: dict[str, dict[str, int]] = field(default_factory=dict)
    expected_null_empty: dict[str, dict[str, int]] = field(default_factory=dict)
    actual_null_empty: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0
    expected_scan: Scan | None = field(default=None, repr=False)  # reusable by the next comparison (see compare)

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
            "duplicate_keys_sample": self.duplicate_keys,
            "timestamp_offsets": self.timestamp_offsets,
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
    expected_scan: Scan | None = None,
) -> Comparison:
    """`expected_scan`: the expected side's keyed scan from an earlier comparison across engines (the portable
    hash does not depend on the other side), so one expected relation compared with several targets is scanned
    once."""
    started = time.perf_counter()
    native = expected.engine.family == actual.engine.family == "postgres"
    row_hash = RowHash(native, as_text_columns(cols, expected_types, actual_types) if native else frozenset())
    sides = (expected, expected_types), (actual, actual_types)
    # Native typed hashes are cheap: aggregate first, fetch per-key hashes only on a mismatch. Canonical-text
    # hashes dominate the cost: fetch them by key in the first (and only) pass.
    if expected_scan is not None and not native and expected_scan.by_key is not None:
        e, a = expected_scan, keyed_scan(actual, cols, actual_types, row_hash)
    else:
        e, a = _both_sides(aggregate if native else keyed_scan, sides, cols, row_hash)
    result = Comparison(name, expected.describe(), actual.describe(), e.count, a.count, e.hash_sum, a.hash_sum)
    result.expected_scan = e
    result.expected_null_empty, result.actual_null_empty = e.null_empty, a.null_empty
    if result.checksum_match:
        result.seconds = time.perf_counter() - started
        return result
    # Layer 3: bounded row-level diff by key.
    if e.by_key is not None and a.by_key is not None:
        e_hashes, a_hashes = e.by_key, a.by_key
    else:
        e_hashes, a_hashes = _both_sides(key_hashes, sides, cols, row_hash)
    differing = sorted(k for k in set(e_hashes) | set(a_hashes) if e_hashes.get(k) != a_hashes.get(k))
    result.missing_keys = [k for k in differing if k not in a_hashes][:max_diff_keys]
    result.extra_keys = [k for k in differing if k not in e_hashes][:max_diff_keys]
    result.changed_keys = [k for k in differing if k in a_hashes and k in e_hashes][:max_diff_keys]
    result.duplicate_keys = [k for k in differing if len(a_hashes.get(k, ())) > max(1, len(e_hashes.get(k, ())))][
        :max_diff_keys
    ]
    sample = differing[:max_diff_keys]
    result.diff_truncated = len(differing) > max_diff_keys
    e_rows, a_rows = _both_sides(partial(canonical_rows, keys=sample, native=native), sides, cols)
    for key in sample:
        result.diff.append(_key_diff(key, e_rows.get(key, []), a_rows.get(key, [])))
    result.empty_to_null = _empty_to_null(e_rows, a_rows, cols)
    result.timestamp_offsets = _timestamp_offsets(result.diff, cols)
    result.seconds = time.perf_counter() - started
    return result


def _both_sides(
    fn: Callable[..., T], sides: Sequence[tuple[Relation, dict[str, ColumnType]]], cols: Sequence[Column], *rest: Any
) -> list[T]:
    """`fn(relation, cols, types, *rest)` for each side at once (separate connections: the servers work in
    parallel)."""
    with ThreadPoolExecutor(max_workers=len(sides)) as pool:
        futures = [pool.submit(fn, rel, cols, types, *rest) for rel, types in sides]
        return [f.result() for f in futures]


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


def _instant(text: str | None) -> datetime | None:
    """A canonical timestamp text as a naive UTC datetime (None when it is NULL or not a timestamp)."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _timestamp_offsets(diff: Sequence[dict[str, Any]], cols: Sequence[Column]) -> dict[str, dict[str, Any]]:
    """Timestamp columns whose differing cells (within the diff sample) all differ by a non-zero whole number of
    hours: the values were re-stamped in another zone (or read in the wrong session zone), not changed."""
    ts_cols = {c.name for c in cols if c.family == "timestamptz"}
    shifts: dict[str, list[float]] = {}
    for entry in diff:
        for col, pair in (entry.get("columns") or {}).items():
            if col not in ts_cols:
                continue
            e, a = _instant(pair.get("expected")), _instant(pair.get("actual"))
            hours = (a - e).total_seconds() / 3600 if e is not None and a is not None else 0.0
            shifts.setdefault(col, []).append(hours)
    return {
        col: {"cells": len(hours), "hours": sorted(set(hours))}
        for col, hours in shifts.items()
        if all(h != 0 and h == int(h) and abs(h) <= MAX_ZONE_OFFSET_HOURS for h in hours)
    }


def type_changes(
    cols: Sequence[Column], expected: dict[str, ColumnType], actual: dict[str, ColumnType]
) -> dict[tuple[str, str], list[str]]:
    """(expected short type, actual short type) -> columns, for every column whose landed type does not keep
    the declared one's meaning (`type_faithful`); a column missing on the actual side is `missing`."""
    out: dict[tuple[str, str], list[str]] = {}
    for col in cols:
        e, a = expected.get(col.name), actual.get(col.name)
        if e is None:
            continue
        if a is None or not type_faithful(e.short, a.short):
            out.setdefault((e.short, a.short if a else "missing"), []).append(col.name)
    return out


def empty_strings_lost(comparison: Comparison) -> dict[str, dict[str, Any]]:
    """Text columns holding fewer '' and more NULLs on the actual side than on the expected side."""
    e, a = comparison.expected_null_empty, comparison.actual_null_empty
    return {
        col: {"expected": e[col], "actual": a.get(col, {})}
        for col in e
        if a.get(col, {}).get("empty", 0) < e[col]["empty"] and a.get(col, {}).get("null", 0) > e[col]["null"]
    }


def findings(
    comparison: Comparison,
    cols: Sequence[Column],
    expected_types: dict[str, ColumnType],
    actual_types: dict[str, ColumnType],
) -> list[str]:
    """The finding classes of one comparison, in a fixed order (see the module docstring)."""
    out = [f"type_fidelity.{src}_to_{dst}" for src, dst in type_changes(cols, expected_types, actual_types)]
    if not comparison.rows_match:
        out.append("correctness.rows_mismatch")
    if not comparison.checksum_match:
        out.append("correctness.checksum_mismatch")
    if comparison.duplicate_keys:
        out.append("correctness.duplicate_key")
    if empty_strings_lost(comparison):
        out.append("correctness.empty_string_to_null")
    if comparison.timestamp_offsets:
        out.append("correctness.timestamp_offset")
    return out
