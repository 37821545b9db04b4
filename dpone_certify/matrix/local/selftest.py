"""The reconciliation instrument tests itself, on the engines the cases use (issue 11, item 5).

Per leg (PostgreSQL -> PostgreSQL on the embedded or configured server, the native typed-hash path; MariaDB/MySQL
-> PostgreSQL when configured, the portable canonical-text path):

1. seed the cases' source table (`seed.py`: same columns, same wide types, fewer rows);
2. make an exact copy ourselves (never with dpone) in PostgreSQL; it must reconcile clean (positive control);
3. per corruption class, copy the copy, corrupt it in one controlled way and reconcile it against the source:
   the reconciliation must report exactly that class (`reconcile.findings`) and, for a row-level corruption,
   name the corrupted key. A corruption reported with another class (a type change seen as a checksum
   difference, a zone re-stamp seen as a plain value change) is not caught.

Everything reported comes from running `reconcile.compare` on the databases; nothing is typed in.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from dpone_certify.matrix.local import reconcile, seed
from dpone_certify.matrix.local.engines import Engine

PG_LEG = "postgres_to_postgres"
MYSQL_LEG = "mysql_to_postgres"
DEFAULT_ROWS = 500
COPY = "exact_copy"

CHECKSUM = "correctness.checksum_mismatch"
ROWS = "correctness.rows_mismatch"


@dataclass(frozen=True)
class Corruption:
    """One seeded corruption: SQL run on a PostgreSQL copy of the source (`{t}` is the table, the column names
    are filled per leg) and the exact set of finding classes the reconciliation must report for it."""

    name: str
    what: str
    sql: Callable[[str, dict[str, str], str], list[str]]  # (table, column by role, leg) -> statements
    expected: Callable[[str], frozenset[str]]  # leg -> finding classes
    key: int | None = None  # the key the diff must name (row-level corruptions)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _roles(cols: Sequence[seed.Column]) -> dict[str, str]:
    """The columns the corruptions act on: the last wide text column (beyond the first 50, where MySQL's row
    text is chunked), the first text, numeric and timestamp columns, and the cursor."""
    by_family: dict[str, list[str]] = {}
    for c in cols[3:]:
        by_family.setdefault(c.family, []).append(c.name)
    for family in ("text", "numeric", "timestamptz"):
        if family not in by_family:
            raise ValueError(f"the self-test needs at least one wide {family} column (wide_columns >= 9)")
    return {
        "cell": by_family["text"][-1],
        "text": by_family["text"][0],
        "numeric": by_family["numeric"][0],
        "ts": by_family["timestamptz"][0],
        "cursor": seed.CURSOR,
    }


def _zone_type_change(leg: str) -> str:
    return "timestamptz_to_timestamp" if leg == PG_LEG else "timestamp_to_timestamptz"


CORRUPTIONS: tuple[Corruption, ...] = (
    Corruption(
        "changed_cell",
        "one text cell of the last wide text column gets a suffix",
        lambda t, c, leg: [f"UPDATE {t} SET {_q(c['cell'])} = COALESCE({_q(c['cell'])}, '') || '~' WHERE id = 7"],
        lambda leg: frozenset({CHECKSUM}),
        key=7,
    ),
    Corruption(
        "dropped_row",
        "one row is deleted",
        lambda t, c, leg: [f"DELETE FROM {t} WHERE id = 11"],
        lambda leg: frozenset({ROWS, CHECKSUM}),
        key=11,
    ),
    Corruption(
        "duplicated_key",
        "one row is inserted a second time (same key, same values)",
        lambda t, c, leg: [f"INSERT INTO {t} SELECT * FROM {t} WHERE id = 13"],
        lambda leg: frozenset({ROWS, CHECKSUM, "correctness.duplicate_key"}),
        key=13,
    ),
    Corruption(
        "empty_to_null",
        "one '' cell of the first text column becomes NULL",
        lambda t, c, leg: [
            f"UPDATE {t} SET {_q(c['text'])} = NULL WHERE id = (SELECT min(id) FROM {t} WHERE {_q(c['text'])} = '')"
        ],
        lambda leg: frozenset({CHECKSUM, "correctness.empty_string_to_null"}),
    ),
    Corruption(
        "timestamp_plus_1us",
        "one cursor timestamp is shifted by one microsecond",
        lambda t, c, leg: [
            f"UPDATE {t} SET {_q(c['cursor'])} = {_q(c['cursor'])} + interval '1 microsecond' WHERE id = 17"
        ],
        lambda leg: frozenset({CHECKSUM}),
        key=17,
    ),
    Corruption(
        "timestamp_zone_restamp",
        "a timestamp column's UTC wall times are re-stamped as Europe/Helsinki times (a 2 or 3 hour shift)",
        lambda t, c, leg: [
            f"UPDATE {t} SET {_q(c['ts'])} = ({_q(c['ts'])} AT TIME ZONE 'UTC') AT TIME ZONE 'Europe/Helsinki'"
            if leg == PG_LEG
            else f"UPDATE {t} SET {_q(c['ts'])} = ({_q(c['ts'])} AT TIME ZONE 'Europe/Helsinki') AT TIME ZONE 'UTC'"
        ],
        lambda leg: frozenset({CHECKSUM, "correctness.timestamp_offset"}),
    ),
    Corruption(
        "type_change_numeric_to_text",
        "a numeric column is retyped as text, every value kept",
        lambda t, c, leg: [f"ALTER TABLE {t} ALTER COLUMN {_q(c['numeric'])} TYPE text USING {_q(c['numeric'])}::text"],
        lambda leg: frozenset({"type_fidelity.numeric_to_text"}),
    ),
    Corruption(
        "type_change_timestamp_zone",
        "a timestamp column changes between with and without time zone, every instant kept (UTC)",
        lambda t, c, leg: [
            f"ALTER TABLE {t} ALTER COLUMN {_q(c['ts'])} TYPE "
            + ("timestamp" if leg == PG_LEG else "timestamptz")
            + f" USING {_q(c['ts'])} AT TIME ZONE 'UTC'"
        ],
        lambda leg: frozenset({f"type_fidelity.{_zone_type_change(leg)}"}),
    ),
)


@dataclass
class Outcome:
    """What the reconciliation reported for the control or one corruption."""

    name: str
    what: str
    expected: list[str]
    reported: list[str]
    caught: bool
    key: int | None = None
    key_named: bool | None = None
    comparison: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def missed_as(self) -> str:
        """`missed` (nothing reported) or `misclassified` (reported, but not exactly the expected classes)."""
        return "missed" if not self.reported else "misclassified"


@dataclass
class Leg:
    name: str
    source: dict[str, str]
    sink: dict[str, str]
    rows: int = 0
    columns: int = 0
    control: Outcome | None = None
    corruptions: list[Outcome] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def control_clean(self) -> bool:
        return self.control is not None and self.control.caught

    def to_json(self) -> dict[str, Any]:
        return {
            "leg": self.name,
            "source": self.source,
            "sink": self.sink,
            "rows": self.rows,
            "columns": self.columns,
            "control_clean": self.control_clean,
            "control": _outcome_json(self.control) if self.control else None,
            "corruptions": [_outcome_json(o) for o in self.corruptions],
            "error": self.error,
            "seconds": round(self.seconds, 4),
        }


def _outcome_json(o: Outcome) -> dict[str, Any]:
    return {
        "name": o.name,
        "what": o.what,
        "expected_findings": o.expected,
        "reported_findings": o.reported,
        "caught": o.caught,
        "key": o.key,
        "key_named": o.key_named,
        "seconds": round(o.seconds, 4),
        "comparison": o.comparison,
    }


def _check(
    name: str,
    what: str,
    expected: frozenset[str],
    src: reconcile.Relation,
    dst: reconcile.Relation,
    cols: Sequence[seed.Column],
    src_types: dict[str, reconcile.ColumnType],
    key: int | None = None,
    expected_scan: reconcile.Scan | None = None,
) -> tuple[Outcome, reconcile.Comparison]:
    started = time.perf_counter()
    dst_types = reconcile.table_types(dst.engine, dst.schema, dst.table)
    comparison = reconcile.compare(name, src, dst, cols, src_types, dst_types, expected_scan=expected_scan)
    reported = reconcile.findings(comparison, cols, src_types, dst_types)
    key_named = None
    if key is not None:
        key_named = key in comparison.missing_keys + comparison.extra_keys + comparison.changed_keys
    caught = set(reported) == expected and key_named is not False
    report = comparison.to_json()
    report["row_diff"] = report["row_diff"][:3]  # enough to read what was seen; the counts are above
    outcome = Outcome(name, what, sorted(expected), reported, caught, key, key_named, report)
    outcome.seconds = time.perf_counter() - started
    return outcome, comparison


def _pg_copy_from_mysql(mysql: Engine, database: str, pg: Engine, schema: str, cols: Sequence[seed.Column]) -> None:
    """Our own copy of the MariaDB table into PostgreSQL, in the types that keep the declared ones' meaning
    (datetime(6) holds UTC wall times: `timestamp`; char(36) uuids: `uuid`)."""
    from psycopg import sql

    pg_cols = [
        seed.Column(
            c.name, c.family, "timestamp(6)" if c.family == "timestamptz" else c.pg_type, c.mysql_type, c.nullable
        )
        for c in cols
    ]
    with pg.connect() as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        defs = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.pg_type)) for c in pg_cols)
        conn.execute(sql.SQL("CREATE TABLE {}.{} ({})").format(sql.Identifier(schema), sql.Identifier(COPY), defs))
        names = ", ".join(f"`{c.name}`" for c in cols)
        with mysql.connect() as my, my.cursor() as cur:
            cur.execute(f"SELECT {names} FROM `{database}`.`{seed.TABLE}`")
            rows = list(cur.fetchall())
        seed.pg_copy_rows(conn, schema, pg_cols, iter(rows), COPY)


def _run_leg(
    leg: Leg,
    src_rel: reconcile.Relation,
    pg: Engine,
    schema: str,
    cols: Sequence[seed.Column],
    corruptions: Sequence[Corruption],
) -> None:
    src_types = reconcile.table_types(src_rel.engine, src_rel.schema, src_rel.table)
    leg.control, control = _check(
        "exact_copy",
        "an exact copy made by the self-test (positive control)",
        frozenset(),
        src_rel,
        reconcile.Relation(pg, schema, COPY, label="exact copy"),
        cols,
        src_types,
    )
    roles = _roles(cols)
    for corruption in corruptions:
        table = f"c_{corruption.name}"[:63]
        qualified = f"{_q(schema)}.{_q(table)}"
        with pg.connect() as conn:
            conn.execute(f"CREATE TABLE {qualified} AS TABLE {_q(schema)}.{_q(COPY)}")
            for statement in corruption.sql(qualified, roles, leg.name):
                conn.execute(statement)
        outcome, _ = _check(
            corruption.name,
            corruption.what,
            corruption.expected(leg.name),
            src_rel,
            reconcile.Relation(pg, schema, table, label=f"copy with {corruption.name}"),
            cols,
            src_types,
            corruption.key,
            # Across engines the source's keyed scan is taken once (as a case compares one source with its
            # target once); between PostgreSQL relations both sides are scanned each time.
            control.expected_scan,
        )
        leg.corruptions.append(outcome)
        with pg.connect() as conn:
            conn.execute(f"DROP TABLE {qualified}")


def pg_leg(
    pg: Engine, name: str, *, rows: int, wide_columns: int, corruptions: Sequence[Corruption] = CORRUPTIONS
) -> Leg:
    """PostgreSQL -> PostgreSQL: source and copy in one schema `name` of the cases' PostgreSQL."""
    leg = Leg(PG_LEG, pg.describe(), pg.describe(), rows=rows)
    started = time.perf_counter()
    try:
        with pg.connect() as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {_q(name)} CASCADE")
            cols = seed.pg_seed(conn, name, rows, wide_columns)
            conn.execute(f"CREATE TABLE {_q(name)}.{_q(COPY)} AS TABLE {_q(name)}.{_q(seed.TABLE)}")
        leg.columns = len(cols)
        src = reconcile.Relation(pg, name, seed.TABLE, label="self-test source")
        _run_leg(leg, src, pg, name, cols, corruptions)
    except Exception as exc:  # noqa: BLE001 - an instrument that cannot run is unproven, reported as such
        leg.error = f"{type(exc).__name__}: {exc}"[:2000] + "\n" + "".join(traceback.format_exception(exc))[-3000:]
    finally:
        _drop_pg(pg, name)
        leg.seconds = time.perf_counter() - started
    return leg


def mysql_leg(
    mysql: Engine,
    pg: Engine,
    name: str,
    *,
    rows: int,
    wide_columns: int,
    corruptions: Sequence[Corruption] = CORRUPTIONS,
) -> Leg:
    """MariaDB/MySQL -> PostgreSQL: the source in database `name` of MariaDB, the copies in schema `name` of
    PostgreSQL (cross-engine reconciliation: one keyed pass of canonical-text hashes)."""
    leg = Leg(MYSQL_LEG, mysql.describe(), pg.describe(), rows=rows)
    started = time.perf_counter()
    try:
        with mysql.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        with mysql.connect() as conn:
            cols = seed.mysql_seed(conn, name, rows, wide_columns)
        _drop_pg(pg, name)
        _pg_copy_from_mysql(mysql, name, pg, name, cols)
        leg.columns = len(cols)
        src = reconcile.Relation(mysql, name, seed.TABLE, label="self-test source")
        _run_leg(leg, src, pg, name, cols, corruptions)
    except Exception as exc:  # noqa: BLE001
        leg.error = f"{type(exc).__name__}: {exc}"[:2000] + "\n" + "".join(traceback.format_exception(exc))[-3000:]
    finally:
        _drop_pg(pg, name)
        try:
            with mysql.connect() as conn, conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        except Exception:  # noqa: BLE001,S110 - cleanup must not change the verdict
            pass
        leg.seconds = time.perf_counter() - started
    return leg


def _drop_pg(pg: Engine, schema: str) -> None:
    try:
        with pg.connect() as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {_q(schema)} CASCADE")
    except Exception:  # noqa: BLE001,S110 - cleanup must not change the verdict
        pass


@dataclass
class SelftestResult:
    legs: list[Leg]
    skipped: dict[str, str]  # leg -> why it did not run (engine not configured)
    seconds: float

    @property
    def planned(self) -> int:
        return len(CORRUPTIONS) * len(self.legs)

    @property
    def seeded(self) -> int:
        """Corruptions really seeded and reconciled (a leg that failed part-way seeded fewer than planned)."""
        return sum(len(leg.corruptions) for leg in self.legs)

    @property
    def caught(self) -> int:
        return sum(o.caught for leg in self.legs for o in leg.corruptions)

    def blockers(self) -> list[str]:
        out: list[str] = []
        for leg in self.legs:
            if leg.error:
                out.append(f"selftest.error:{leg.name}")
                continue
            if not leg.control_clean:
                out.append(f"selftest.false_positive:{leg.name}")
            out += [f"selftest.{o.missed_as}:{leg.name}:{o.name}" for o in leg.corruptions if not o.caught]
        if not self.legs:
            out.append("selftest.error:no_engine")
        return out

    def missed_by_class(self) -> dict[str, list[str]]:
        """corruption class -> legs where it was not caught (missed or misclassified)."""
        out: dict[str, list[str]] = {}
        for leg in self.legs:
            for o in leg.corruptions:
                if not o.caught:
                    out.setdefault(o.name, []).append(leg.name)
        return out

    @property
    def passed(self) -> bool:
        return bool(self.legs) and not self.blockers()

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": "dpone_certify.reconciliation_selftest.v1",
            "passed": self.passed,
            "corruption_classes": [{"name": c.name, "what": c.what} for c in CORRUPTIONS],
            "corruptions_planned": self.planned,
            "corruptions_seeded": self.seeded,
            "corruptions_caught": self.caught,
            "missed_by_class": self.missed_by_class(),
            "blockers": self.blockers(),
            "legs": [leg.to_json() for leg in self.legs],
            "legs_not_run": self.skipped,
            "seconds": round(self.seconds, 4),
        }


def run_selftest(
    name: str, *, rows: int = DEFAULT_ROWS, wide_columns: int = 120, with_mysql: bool = True
) -> SelftestResult:
    """Both legs on the engines the cases resolve (`engines.postgres_engine`, `engines.mysql_engine`), in
    objects called `name` (dropped afterwards). The MariaDB leg runs when MariaDB/MySQL is configured."""
    from dpone_certify.matrix.local.engines import EngineUnavailable, mysql_engine, postgres_engine

    started = time.perf_counter()
    legs: list[Leg] = []
    skipped: dict[str, str] = {}
    try:
        pg = postgres_engine()
    except Exception as exc:  # noqa: BLE001
        leg = Leg(PG_LEG, {}, {}, rows=rows, error=f"PostgreSQL unavailable: {type(exc).__name__}: {exc}"[:2000])
        return SelftestResult([leg], {MYSQL_LEG: "PostgreSQL (the sink of every leg) is unavailable"}, 0.0)
    mysql: Engine | None = None
    if with_mysql:
        try:
            mysql = mysql_engine()
        except EngineUnavailable as exc:
            skipped[MYSQL_LEG] = exc.reason
    else:
        skipped[MYSQL_LEG] = "not requested"
    if mysql is None:
        legs.append(pg_leg(pg, name, rows=rows, wide_columns=wide_columns))
    else:
        # The legs share nothing but the PostgreSQL server (separate schemas): run them at once.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="selftest") as pool:
            pg_future = pool.submit(pg_leg, pg, name, rows=rows, wide_columns=wide_columns)
            my_future = pool.submit(mysql_leg, mysql, pg, f"{name}_my", rows=rows, wide_columns=wide_columns)
            legs += [pg_future.result(), my_future.result()]
    return SelftestResult(legs, skipped, time.perf_counter() - started)
