"""The reconciliation self-test on real engines: it passes when the instrument works, and it fails, turning the
local cases into `harness.unproven`, when a piece of the instrument is deliberately broken."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import dagster as dg
import pytest

from dpone_certify.certification.layout import EvidenceLayout
from dpone_certify.gates.records import GateRecord
from dpone_certify.matrix.local import reconcile, selftest
from dpone_certify.matrix.local.engines import mysql_engine, postgres_engine
from dpone_certify.matrix.records import CaseRecord, CaseStatus
from tests.conftest import checks_by_asset, materialize

CHECKSUM = "correctness.checksum_mismatch"
ROWS = "correctness.rows_mismatch"
# What each corruption must be reported as (the test's own statement of the classes, checked against what the
# reconciliation reported on the database).
EXPECTED = {
    "changed_cell": [CHECKSUM],
    "dropped_row": [ROWS, CHECKSUM],
    "duplicated_key": [ROWS, CHECKSUM, "correctness.duplicate_key"],
    "empty_to_null": [CHECKSUM, "correctness.empty_string_to_null"],
    "timestamp_plus_1us": [CHECKSUM],
    "timestamp_zone_restamp": [CHECKSUM, "correctness.timestamp_offset"],
    "type_change_numeric_to_text": ["type_fidelity.numeric_to_text"],
}
ZONE_TYPE = {
    selftest.PG_LEG: "type_fidelity.timestamptz_to_timestamp",
    selftest.MYSQL_LEG: "type_fidelity.timestamp_to_timestamptz",
}
CASE = "postgres_to_postgres__full_refresh"


def _name() -> str:
    return f"selftest_t_{uuid.uuid4().hex[:8]}"


def _reported(leg: selftest.Leg) -> dict[str, list[str]]:
    return {o.name: o.reported for o in leg.corruptions}


@pytest.fixture(scope="module")
def pg_result() -> selftest.SelftestResult:
    return selftest.run_selftest(_name(), with_mysql=False)


def test_exact_copy_is_clean_and_every_corruption_is_caught_with_its_class(pg_result: selftest.SelftestResult) -> None:
    (leg,) = pg_result.legs
    assert leg.error is None, leg.error
    assert leg.control is not None and leg.control.reported == [] and leg.control_clean
    assert leg.columns == 123 and leg.rows == selftest.DEFAULT_ROWS
    assert _reported(leg) == {**EXPECTED, "type_change_timestamp_zone": [ZONE_TYPE[selftest.PG_LEG]]}
    assert all(o.caught for o in leg.corruptions)
    assert pg_result.seeded == pg_result.caught == len(selftest.CORRUPTIONS) == 8
    assert pg_result.passed and pg_result.blockers() == [] and pg_result.missed_by_class() == {}


def test_row_corruptions_are_located_by_key(pg_result: selftest.SelftestResult) -> None:
    by_name = {o.name: o for o in pg_result.legs[0].corruptions}
    assert by_name["dropped_row"].comparison["missing_keys_sample"] == [11]
    assert by_name["duplicated_key"].comparison["duplicate_keys_sample"] == [13]
    assert by_name["changed_cell"].comparison["changed_keys_sample"] == [7]
    diff = by_name["timestamp_plus_1us"].comparison["row_diff"][0]
    assert diff["key"] == 17 and list(diff["columns"]) == ["updated_at"]
    offsets = by_name["timestamp_zone_restamp"].comparison["timestamp_offsets"]
    (column,) = offsets
    assert set(offsets[column]["hours"]) <= {-3.0, -2.0}  # Helsinki is UTC+2 / UTC+3 (summer)


@pytest.mark.parametrize(
    ("broken", "expected_blockers"),
    [
        # Every row hashes to the same constant: count-level corruptions are still seen, value-level ones are not.
        (
            "constant_checksum",
            [
                "selftest.missed:postgres_to_postgres:changed_cell",
                "selftest.misclassified:postgres_to_postgres:empty_to_null",
                "selftest.missed:postgres_to_postgres:timestamp_plus_1us",
                "selftest.missed:postgres_to_postgres:timestamp_zone_restamp",
            ],
        ),
        # No NULL vs '' counts: '' -> NULL is only a checksum difference, without its class.
        ("no_null_empty_counts", ["selftest.misclassified:postgres_to_postgres:empty_to_null"]),
    ],
)
def test_a_broken_instrument_fails_its_self_test(
    monkeypatch: pytest.MonkeyPatch, broken: str, expected_blockers: list[str]
) -> None:
    _break(monkeypatch, broken)
    result = selftest.run_selftest(_name(), with_mysql=False)
    assert result.legs[0].control_clean  # the exact copy still looks clean: only the seeded corruptions tell
    assert not result.passed
    assert result.blockers() == expected_blockers
    assert result.seeded == 8 and result.caught == 8 - len(expected_blockers)
    assert set(result.missed_by_class()) == {b.rsplit(":", 1)[1] for b in expected_blockers}


def _break(monkeypatch: pytest.MonkeyPatch, broken: str) -> None:
    if broken == "constant_checksum":
        monkeypatch.setattr(reconcile.RowHash, "expr", lambda self, engine, cols, types: "0")
    else:
        monkeypatch.setattr(reconcile, "_null_empty_exprs", lambda engine, cols, types: ([], []))


@pytest.mark.mysql
def test_cross_engine_leg_mariadb_to_postgres(machine_mysql: str) -> None:
    result = selftest.run_selftest(_name())
    assert [leg.name for leg in result.legs] == [selftest.PG_LEG, selftest.MYSQL_LEG]
    leg = result.legs[1]
    assert leg.error is None, leg.error
    assert leg.source["label"].startswith(("mariadb-", "mysql-")) and leg.sink["family"] == "postgres"
    assert leg.control_clean
    assert _reported(leg) == {**EXPECTED, "type_change_timestamp_zone": [ZONE_TYPE[selftest.MYSQL_LEG]]}
    assert result.passed and result.seeded == result.caught == 16
    assert machine_mysql not in json.dumps(result.to_json())


@pytest.mark.mysql
def test_cross_engine_path_that_drops_microseconds_fails_its_control(
    machine_mysql: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Break only the MySQL side of the portable canonical text (timestamps without microseconds): the exact
    copy no longer reconciles clean, so the self-test reports a false positive instead of passing."""
    original = reconcile.canonical_expr

    def truncated(engine, column, actual, *, native=False):  # type: ignore[no-untyped-def]
        expr = original(engine, column, actual, native=native)
        return expr.replace(".%f", "") if engine.family == "mysql" else expr

    monkeypatch.setattr(reconcile, "canonical_expr", truncated)
    pg, mysql = postgres_engine(), mysql_engine()
    leg = selftest.mysql_leg(mysql, pg, _name(), rows=200, wide_columns=30)
    assert leg.error is None, leg.error
    assert not leg.control_clean and leg.control is not None
    assert leg.control.reported == [CHECKSUM]
    result = selftest.SelftestResult([leg], {}, leg.seconds)
    assert f"selftest.false_positive:{selftest.MYSQL_LEG}" in result.blockers() and not result.passed


def test_broken_instrument_makes_the_local_case_harness_unproven(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through Dagster, with real dpone on the embedded PostgreSQL: the self-test fails, its check fails the run,
    and the case the same broken instrument judged is `harness.unproven`, not a verdict about dpone."""
    _break(monkeypatch, "no_null_empty_counts")
    config = {"evidence_root": str(tmp_path), "profile": "local", "row_count": 200}
    with dg.instance_for_test() as instance:
        result = materialize(instance, ["reconciliation_selftest", "source_sink_matrix"], cases=[CASE], config=config)
    run_dir = tmp_path / "runs" / result.run_id
    record = GateRecord.model_validate_json((run_dir / "reconciliation_selftest" / "gate_record.json").read_text())
    assert not record.passed and record.required
    assert record.blockers == ["selftest.misclassified:postgres_to_postgres:empty_to_null"]
    assert record.metrics["corruptions_seeded"] == 8 and record.metrics["corruptions_caught"] == 7
    assert record.extra["missed_by_class"] == {"empty_to_null": ["postgres_to_postgres"]}
    cases = json.loads(EvidenceLayout(tmp_path, result.run_id).matrix_run_path.read_text())["records"]
    (case,) = [CaseRecord.model_validate(c) for c in cases]
    assert case.status is CaseStatus.FAILED and case.blockers == [f"harness.unproven:{CASE}"]
    assert case.reason and "not a verdict about dpone" in case.reason
    checks = checks_by_asset(result)
    assert not checks["reconciliation_selftest"].passed
    assert checks["reconciliation_selftest"].severity == dg.AssetCheckSeverity.ERROR
    assert not checks["source_sink_matrix"].passed and not result.success
