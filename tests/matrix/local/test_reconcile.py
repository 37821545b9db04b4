"""The reconciliation layer itself, on the embedded PostgreSQL: what the typed row hash treats as equal and what
it must tell apart. Each test builds two small tables that differ in one controlled way and compares them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from dpone_certify.matrix.local import reconcile
from dpone_certify.matrix.local.engines import Engine, postgres_engine
from dpone_certify.matrix.local.seed import Column

COLS = [
    Column("id", "int8", "bigint", "bigint", False),
    Column("updated_at", "timestamptz", "timestamp with time zone", "datetime(6)", False),
    Column("amount", "numeric", "numeric(12,2)", "decimal(12,2)", True),
    Column("note", "text", "text", "text", True),
]
SRC_DDL = "id bigint, updated_at timestamptz, amount numeric(12,2), note text"
ROWS = "(1, '2026-01-01 10:00:00+00', 1.50, ''), (2, '2026-01-02 11:30:00.123456+00', NULL, NULL), (3, now(), 7, 'x')"


@pytest.fixture()
def schema() -> Iterator[tuple[Engine, str]]:
    engine = postgres_engine()
    name = f"rec_{uuid.uuid4().hex[:10]}"
    with engine.connect() as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
        conn.execute(f'CREATE TABLE "{name}".src ({SRC_DDL})')
        conn.execute(f'INSERT INTO "{name}".src VALUES {ROWS}')
    yield engine, name
    with engine.connect() as conn:
        conn.execute(f'DROP SCHEMA "{name}" CASCADE')


def _compare(engine: Engine, schema: str, target_ddl: str, *, fill: str | None = None) -> reconcile.Comparison:
    with engine.connect() as conn:
        conn.execute(f'CREATE TABLE "{schema}".dst ({target_ddl})')
        conn.execute((fill or "INSERT INTO {s}.dst SELECT * FROM {s}.src").format(s=f'"{schema}"'))
    src_types = reconcile.table_types(engine, schema, "src")
    dst_types = reconcile.table_types(engine, schema, "dst")
    return reconcile.compare(
        "t",
        reconcile.Relation(engine, schema, "src"),
        reconcile.Relation(engine, schema, "dst"),
        COLS,
        src_types,
        dst_types,
    )


def test_identical_copy_matches_and_counts_empty_and_null(schema: tuple[Engine, str]) -> None:
    engine, name = schema
    result = _compare(engine, name, SRC_DDL)
    assert result.checksum_match and result.expected_count == 3
    assert result.expected_null_empty == result.actual_null_empty == {"note": {"empty": 1, "null": 1}}
    assert result.diff == []


def test_type_changes_alone_do_not_change_the_checksum(schema: tuple[Engine, str]) -> None:
    # timestamptz -> timestamp (as UTC wall time), numeric(12,2) -> text, text -> varchar: same values.
    engine, name = schema
    result = _compare(
        engine,
        name,
        "id bigint, updated_at timestamp, amount text, note varchar(20)",
        fill="INSERT INTO {s}.dst SELECT id, updated_at AT TIME ZONE 'UTC', amount::text, note FROM {s}.src",
    )
    assert result.checksum_match, result.to_json()


def test_empty_string_to_null_is_a_difference_with_the_cells_named(schema: tuple[Engine, str]) -> None:
    engine, name = schema
    result = _compare(
        engine,
        name,
        SRC_DDL,
        fill="INSERT INTO {s}.dst SELECT id, updated_at, amount, NULLIF(note, '') FROM {s}.src",
    )
    assert result.rows_match and not result.checksum_match
    assert result.changed_keys == [1]
    assert result.actual_null_empty == {"note": {"empty": 0, "null": 2}}
    assert result.empty_to_null == {"note": {"cells": 1}}


def test_a_shifted_timestamp_and_a_duplicated_key_are_found(schema: tuple[Engine, str]) -> None:
    engine, name = schema
    result = _compare(
        engine,
        name,
        SRC_DDL,
        fill=(
            "INSERT INTO {s}.dst SELECT id, updated_at + CASE WHEN id = 2 THEN interval '1 microsecond' "
            "ELSE interval '0' END, amount, note FROM {s}.src UNION ALL SELECT * FROM {s}.src WHERE id = 3"
        ),
    )
    assert not result.rows_match
    assert result.changed_keys == [2, 3]
    by_key = {d["key"]: d for d in result.diff}
    assert set(by_key[2]["columns"]) == {"updated_at"}
    assert by_key[3]["kind"] == "version_count_differs"
    assert result.duplicate_keys == [3] and result.timestamp_offsets == {}  # 1 µs is a changed value, not a zone
    types = reconcile.table_types(engine, name, "src")
    assert reconcile.findings(result, COLS, types, types) == [
        "correctness.rows_mismatch",
        "correctness.checksum_mismatch",
        "correctness.duplicate_key",
    ]


@pytest.mark.parametrize(("shift", "offsets"), [("-2 hours", {"updated_at": {"cells": 3, "hours": [-2.0]}}),
                                                 ("96 hours", {})])  # fmt: skip
def test_whole_hour_shifts_are_a_zone_offset_but_days_are_not(
    schema: tuple[Engine, str], shift: str, offsets: dict[str, object]
) -> None:
    engine, name = schema
    result = _compare(
        engine,
        name,
        SRC_DDL,
        fill=f"INSERT INTO {{s}}.dst SELECT id, updated_at + interval '{shift}', amount, note FROM {{s}}.src",
    )
    assert result.rows_match and not result.checksum_match
    assert result.timestamp_offsets == offsets


def test_native_and_portable_hashes_agree_on_the_verdict(schema: tuple[Engine, str]) -> None:
    """The typed hash is an optimisation of the canonical-text one: both see the same rows as equal."""
    engine, name = schema
    _compare(engine, name, SRC_DDL)
    types = reconcile.table_types(engine, name, "src")
    for native in (True, False):
        src = reconcile.aggregate(reconcile.Relation(engine, name, "src"), COLS, types, reconcile.RowHash(native))
        dst = reconcile.aggregate(reconcile.Relation(engine, name, "dst"), COLS, types, reconcile.RowHash(native))
        assert (src.count, src.hash_sum) == (dst.count, dst.hash_sum)
    native_sum = reconcile.aggregate(
        reconcile.Relation(engine, name, "src"), COLS, types, reconcile.RowHash(True)
    ).hash_sum
    portable_sum = reconcile.aggregate(reconcile.Relation(engine, name, "src"), COLS, types).hash_sum
    assert native_sum != portable_sum  # two different hash families, never mixed within one comparison


def test_declared_types_are_read_with_their_modifiers(schema: tuple[Engine, str]) -> None:
    engine, name = schema
    with engine.connect() as conn:
        conn.execute(f'CREATE TABLE "{name}".typed (a timestamp(3) with time zone, b character varying(7), c json)')
    types = reconcile.table_types(engine, name, "typed")
    assert [(t.data_type, t.short) for t in types.values()] == [
        ("timestamp(3) with time zone", "timestamptz"),
        ("character varying(7)", "varchar"),
        ("json", "json"),
    ]
    # json has no hash function: it is compared by its text on both sides.
    cols = [Column("c", "text", "json", "json", True)]
    assert reconcile.as_text_columns(cols, types, types) == frozenset({"c"})


@pytest.mark.parametrize("native", [True, False])
def test_keyed_scan_totals_equal_the_aggregate(schema: tuple[Engine, str], native: bool) -> None:
    """The one-pass keyed scan (used across engines) and the aggregate report the same count, sum and NULL vs ''
    counts, so which one a comparison uses never changes its verdict."""
    engine, name = schema
    with engine.connect() as conn:
        conn.execute(f'INSERT INTO "{name}".src SELECT * FROM "{name}".src WHERE id = 1')  # two versions of key 1
    rel = reconcile.Relation(engine, name, "src")
    types = reconcile.table_types(engine, name, "src")
    agg = reconcile.aggregate(rel, COLS, types, reconcile.RowHash(native))
    keyed = reconcile.keyed_scan(rel, COLS, types, reconcile.RowHash(native))
    assert (keyed.count, keyed.hash_sum, keyed.null_empty) == (agg.count, agg.hash_sum, agg.null_empty) != (0, 0, {})
    assert keyed.by_key is not None and len(keyed.by_key[1]) == 2 and keyed.by_key[1] == sorted(keyed.by_key[1])
