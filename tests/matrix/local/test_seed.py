"""Server-side seeding produces exactly the rows the Python definition (`seed.row`) describes: same values, same
NULLs and '' strings, for the initial rows and for the mutation (updates, inserts), on the embedded PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from dpone_certify.matrix.local import seed
from dpone_certify.matrix.local.engines import postgres_engine


def _schema(tag: str) -> str:
    return f"seedtest_{tag}_{uuid.uuid4().hex[:8]}"


def _diff(conn: object, a: str, b: str) -> tuple[int, int]:
    """(rows of a not in b, rows of b not in a), as multisets over every column."""
    left = conn.execute(  # type: ignore[attr-defined]
        f'SELECT count(*) FROM (SELECT * FROM "{a}".orders EXCEPT ALL SELECT * FROM "{b}".orders) x'
    ).fetchone()[0]
    right = conn.execute(  # type: ignore[attr-defined]
        f'SELECT count(*) FROM (SELECT * FROM "{b}".orders EXCEPT ALL SELECT * FROM "{a}".orders) x'
    ).fetchone()[0]
    return int(left), int(right)


@pytest.mark.parametrize(("wide_columns", "workers"), [(120, 1), (7, 3)])
def test_server_side_seed_equals_python_rows(wide_columns: int, workers: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seed, "PARALLEL_MIN_ROWS", 1000)  # the parallel path on a small table too
    engine = postgres_engine()
    server, client = _schema("srv"), _schema("cli")
    rows = 3000
    with engine.connect() as conn:
        try:
            cols = seed.pg_seed(conn, server, rows, wide_columns, workers=workers)
            seed.pg_seed_copy(conn, client, rows, wide_columns)
            assert conn.execute(f'SELECT count(*) FROM "{server}".orders').fetchone()[0] == rows
            assert _diff(conn, server, client) == (0, 0)
            # Same column types and order, and the primary key exists on both.
            types = (
                "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 ORDER BY attnum"
            )
            srv = conn.execute(types, (f'"{server}".orders',)).fetchall()
            assert srv == conn.execute(types, (f'"{client}".orders',)).fetchall()
            pk = "SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass AND indisprimary"
            assert conn.execute(pk, (f'"{server}".orders',)).fetchone()[0] == 1
            # Every value family really occurs, including NULL and '' for the strings.
            if wide_columns == 120:
                text_col = next(c.name for c in cols if c.family == "text")
                counts = conn.execute(
                    f'SELECT count(*) FILTER (WHERE "{text_col}" IS NULL), count(*) FILTER (WHERE "{text_col}" = \'\') '
                    f'FROM "{server}".orders'
                ).fetchone()
                assert counts[0] > 0 and counts[1] > 0
            # The mutation: deletes, version-1 updates and inserts, generated on the server too.
            mutation = seed.plan_mutation(rows, 0.2, 0.05)
            seed.pg_mutate(conn, server, cols, mutation)
            expected = _schema("exp")
            seed.pg_create_table(conn, expected, cols)
            survivors = [i for i in range(1, rows + 1) if i not in mutation.deleted_ids]
            seed.pg_copy_rows(
                conn,
                expected,
                cols,
                (seed.row(i, cols, 1 if i in mutation.updated_ids else 0) for i in survivors),
                seed.TABLE,
            )
            seed.pg_copy_rows(conn, expected, cols, (seed.row(i, cols, 1) for i in mutation.inserted_ids), seed.TABLE)
            assert _diff(conn, server, expected) == (0, 0)
        finally:
            for schema in (server, client, locals().get("expected")):
                if schema:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
