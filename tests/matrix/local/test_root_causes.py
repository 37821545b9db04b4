"""Root causes named from dpone's own error texts (the texts below are what dpone 0.88.0 printed here)."""

from __future__ import annotations

from dpone_certify.matrix.local.root_causes import classify, is_type_alias, schema_changes

PLAN = (
    "DPONE_SCHEMA_EVOLUTION_BLOCKED: breaking schema evolution changes detected: {'policy': {'mode': 'widening'}, "
    "'has_breaking_changes': True, 'column_mapping': {}, 'generated_columns': {}, 'changes': ["
    "{'change_type': 'nullability_tighten', 'column': 'id', 'source': {'name': 'id', 'dtype': 'bigint', "
    "'nullable': False, 'collation': None}, 'target': {'name': 'id', 'dtype': 'bigint', 'nullable': True, "
    "'collation': None}, 'breaking': True, 'reason': 'requested NOT NULL tightening', 'generated_column': None}, "
    "{'change_type': 'type_change', 'column': '__dpone__load_id', 'source': {'name': '__dpone__load_id', "
    "'dtype': 'varchar(26)', 'nullable': True, 'collation': None}, 'target': {'name': '__dpone__load_id', "
    "'dtype': 'character varying(26)', 'nullable': True, 'collation': None}, 'breaking': True, 'reason': 'x', "
    "'generated_column': None}]}"
)


def _payload(*errors: str, code: str | None = None) -> dict:
    return {"result": {"status": "error", "errors": list(errors), "error_code": code}}


def test_schema_evolution_plan_is_split_into_named_causes() -> None:
    causes = {c.name: c for c in classify(_payload(PLAN), 1, stage="load2", source="postgres", strategy="x")}
    assert set(causes) == {"schema_evolution.nullability_tighten", "schema_evolution.type_alias"}
    assert causes["schema_evolution.nullability_tighten"].detail == "id"
    assert "varchar(26) vs character varying(26)" in causes["schema_evolution.type_alias"].detail
    assert "schema_type_compatibility.py" in causes["schema_evolution.type_alias"].module


def test_truncated_plan_still_yields_its_changes() -> None:
    changes = schema_changes(PLAN[: len(PLAN) - 40])
    assert [c["change_type"] for c in changes] == ["nullability_tighten", "type_change"]


def test_type_alias_is_not_a_type_change() -> None:
    assert is_type_alias("varchar(64)", "character varying(64)")
    assert is_type_alias("char(36)", "character(36)")
    assert not is_type_alias("text", "bigint")
    assert not is_type_alias("varchar(64)", "varchar(64)")
    text = PLAN.replace("'dtype': 'character varying(26)'", "'dtype': 'text'")
    names = [c.name for c in classify(_payload(text), 1, stage="load1", source="mysql", strategy="x")]
    assert "schema_evolution.type_change" in names and "schema_evolution.type_alias" not in names


def test_configuration_refusal_is_ours() -> None:
    msg = "DPONE_LEGACY_RUNTIME_DEFAULTS_DISABLED: Implicit runtime defaults are disabled"
    causes = classify(_payload(msg), 2, stage="load1", source="postgres", strategy="full_refresh")
    assert [c.name for c in causes] == ["harness.manifest_rejected"]
    assert "Implicit runtime defaults" in causes[0].detail


def test_unsupported_strategy_missing_state_target_and_technical_columns() -> None:
    unsupported = "ValueError: Неподдерживаемая стратегия: snapshot_diff. Поддерживаемые: full_refresh"
    assert [c.name for c in classify(_payload(unsupported), 1, stage="load1", source="api", strategy="s")] == [
        "strategy.unsupported:api:snapshot_diff"
    ]
    scd2 = "ValueError: Неподдерживаемая стратегия: scd2. Поддерживаемые: full_refresh"
    assert [c.name for c in classify(_payload(scd2), 1, stage="load1", source="api", strategy="scd2")] == [
        "strategy.unsupported:api:scd2"
    ]
    missing = 'UndefinedTable: relation "dst.orders" does not exist\nLINE 1: SELECT MAX("updated_at") as max_val'
    assert [
        c.name for c in classify(_payload(missing), 1, stage="load1", source="api", strategy="incremental_append")
    ] == ["state.missing_target"]
    assert [c.name for c in classify(_payload(missing), 1, stage="load1", source="postgres", strategy="replace")] == [
        "target.missing"
    ]
    column = 'UndefinedColumn: column "__dpone__load_id" of relation "orders" does not exist'
    assert [c.name for c in classify(_payload(column), 1, stage="load2", source="postgres", strategy="xmin")] == [
        "sink.technical_columns_missing"
    ]
    assert classify(_payload("something else"), 1, stage="load1", source="postgres", strategy="x") == []
