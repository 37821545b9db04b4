"""Recall corpus: every dpone 0.88.0 defect this machine reproduces, pinned as its finding class on a minimal
case (150 rows, 30 wide columns, only the variants the defect needs). A change to the harness that stops
detecting one of them fails here. Real dpone runs on the embedded PostgreSQL, the REST fixture and, where
configured, the machine's MariaDB; nothing is mocked."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from dpone_certify.dpone.adapter import DponeAdapter
from dpone_certify.matrix.local import LocalContext, run_local_cases
from dpone_certify.matrix.records import CaseRecord, CaseSettings
from tests.matrix.local.conftest import case

ROWS = 150
FULL = "postgres_to_postgres__full_refresh"
DOCUMENTED_ONLY = [
    "postgres_to_postgres__replace",
    "postgres_to_postgres__backfill",
    "postgres_to_postgres__snapshot_diff",
    "postgres_to_postgres__scd2",
    "api_to_postgres__full_refresh",
    "api_to_postgres__incremental_append",
    "api_to_postgres__snapshot_diff",
]
MERGE = "postgres_to_postgres__incremental_merge"


def _ctx(out: Path, variants: list[str]) -> LocalContext:
    return LocalContext(
        out_dir=out,
        run_id=str(uuid.uuid4()),
        settings=CaseSettings(row_count=ROWS, change_ratio=0.2, delete_ratio=0.05, wide_columns=30),
        adapter=DponeAdapter(timeout_seconds=600),
        max_parallel=2,
        variants=variants,
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CaseRecord]:
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("DPONE_IT_PG_"):
                mp.delenv(name)
        out = tmp_path_factory.mktemp("recall")
        records = run_local_cases([case(c) for c in DOCUMENTED_ONLY], _ctx(out / "documented", []))
        records.update(run_local_cases([case(MERGE)], _ctx(out / "merge", ["reference", "reference_streaming"])))
        deployment = ["documented_session_tz", "reference_session_datestyle"]
        records.update(run_local_cases([case(FULL)], _ctx(out / "deployment", deployment)))
        return records


def _report(record: CaseRecord, variant: str = "") -> dict[str, Any]:
    key = f"{variant}.reconciliation_report" if variant else "reconciliation_report"
    return json.loads(Path(record.artifacts[key]).read_text(encoding="utf-8"))


def _has(record: CaseRecord, family: str) -> bool:
    return f"{family}:{record.case_id}" in record.blockers


def test_nullability_tighten(corpus: dict[str, CaseRecord]) -> None:
    record = corpus[FULL]
    assert _has(record, "rerun.failed") and _has(record, "schema_evolution.nullability_tighten")


def test_timestamptz_lands_as_timestamp(corpus: dict[str, CaseRecord]) -> None:
    record = corpus[FULL]
    assert _has(record, "type_fidelity.timestamptz_to_timestamp")
    finding = next(f for f in _report(record)["type_fidelity"]["findings"] if f["from"] == "timestamptz")
    assert finding["root_cause"] == "temporal.utc_instant_rewrite" and finding["variant"] == "documented"


def test_replace_first_load_needs_an_existing_target(corpus: dict[str, CaseRecord]) -> None:
    record = corpus["postgres_to_postgres__replace"]
    assert record.blockers == [f"run.failed:{record.case_id}", f"target.missing:{record.case_id}"]


def test_backfill_second_chunk_blocked(corpus: dict[str, CaseRecord]) -> None:
    record = corpus["postgres_to_postgres__backfill"]
    assert _has(record, "run.failed") and _has(record, "schema_evolution.nullability_tighten")
    assert any("chunk 2" in e for e in record.dpone_errors)


@pytest.mark.parametrize("case_id", ["postgres_to_postgres__snapshot_diff", "postgres_to_postgres__scd2"])
def test_row_hash_rewrite_turns_empty_strings_into_null(corpus: dict[str, CaseRecord], case_id: str) -> None:
    record = corpus[case_id]
    assert _has(record, "correctness.empty_string_to_null")
    initial = _report(record)["empty_string_preservation"]["initial"]
    assert initial["columns_losing_empty_strings"]  # already on the first load
    assert initial["root_cause"]["module"] == "dpone/runtime/lineage/strategy_metadata_files.py"


def test_rest_load_turns_empty_strings_into_null_and_type_alias_blocks(corpus: dict[str, CaseRecord]) -> None:
    record = corpus["api_to_postgres__full_refresh"]
    assert _has(record, "correctness.empty_string_to_null")
    assert _has(record, "schema_evolution.type_alias")
    cause = next(c for c in _report(record)["root_causes"] if c["name"] == "schema_evolution.type_alias")
    assert "__dpone__load_id: varchar(26) vs character varying(26)" in cause["detail"]


def test_rest_incremental_state_on_missing_target(corpus: dict[str, CaseRecord]) -> None:
    record = corpus["api_to_postgres__incremental_append"]
    assert record.blockers == [f"run.failed:{record.case_id}", f"state.missing_target:{record.case_id}"]
    assert any("MAX(" in e for e in record.dpone_errors)


def test_rest_snapshot_diff_unsupported_and_docs_contradiction(corpus: dict[str, CaseRecord]) -> None:
    record = corpus["api_to_postgres__snapshot_diff"]
    assert f"strategy.unsupported:api:snapshot_diff:{record.case_id}" in record.blockers
    assert f"docs.contradiction:api_snapshot_diff:{record.case_id}" in record.findings


def test_streaming_delta_path_writes_missing_technical_columns(corpus: dict[str, CaseRecord]) -> None:
    record = corpus[MERGE]
    variants = {v["name"]: v for v in record.variants}
    assert f"sink.technical_columns_missing:{record.case_id}" in variants["reference_streaming"]["blockers"]


def test_merge_documented_deletes_are_no_finding(corpus: dict[str, CaseRecord]) -> None:
    record = corpus[MERGE]
    assert record.positive_control  # reference: every surviving row exact, deleted keys kept as documented
    assert not [b for v in record.variants for b in v["blockers"] if "deletes_not_applied" in b]
    assert f"docs.contradiction:merge_deletes:{record.case_id}" in record.findings


def test_session_time_zone_shifts_the_utc_rewrite(corpus: dict[str, CaseRecord]) -> None:
    """Deployment variant: the same documented manifest with dpone's process and sessions at UTC-03:30 lands
    timestamptz columns as local wall time; without the setting the values are exact (in UTC)."""
    record = corpus[FULL]
    variants = {v["name"]: v for v in record.variants}
    shifted = variants["documented_session_tz"]
    assert f"deployment.session_settings_change_values:{record.case_id}" in shifted["blockers"]
    assert f"correctness.checksum_mismatch:{record.case_id}" in shifted["blockers"]
    assert not [b for b in record.blockers if b.startswith("correctness.")]  # the plain documented run: exact
    cause = next(c for c in shifted["root_causes"] if c["name"] == "deployment.session_settings_change_values")
    assert "updated_at" in cause["detail"] and "TZ=America/St_Johns" in cause["detail"]


def test_session_datestyle_breaks_reading_dates(corpus: dict[str, CaseRecord]) -> None:
    variants = {v["name"]: v for v in corpus[FULL].variants}
    datestyle = variants["reference_session_datestyle"]
    assert f"deployment.session_datestyle:{FULL}" in datestyle["blockers"]
    assert any("DateStyle 'SQL, DMY'" in e for e in datestyle["dpone_errors"])


@pytest.mark.mysql
def test_mariadb_types_and_empty_strings(tmp_path: Path, machine_mysql: str) -> None:
    record = run_local_cases([case("mysql_to_postgres__full_refresh")], _ctx(tmp_path, []))[
        "mysql_to_postgres__full_refresh"
    ]
    assert _has(record, "correctness.empty_string_to_null")
    assert _report(record)["empty_string_preservation"]["initial"]["root_cause"]["module"].endswith("mysql.py")
    findings = {f["from"]: f for f in _report(record)["type_fidelity"]["findings"]}
    assert _has(record, "type_fidelity.int4_to_text") and _has(record, "type_fidelity.timestamp_to_text")
    assert "datetime(6)" in findings["timestamp"]["source_declared_types"]
    assert findings["timestamp"]["root_cause"] == "type_mapping.exact_name_only"
    if record.engine["source"].startswith("mariadb-"):  # the deployment variant: MariaDB keeps display widths
        assert findings["int4"]["root_cause"] == "type_mapping.mysql_display_width"
        assert "int(11)" in findings["int4"]["source_declared_types"]
        assert findings["int4"]["deployment"]["source"].startswith("mariadb-")
