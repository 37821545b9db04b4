"""The local profile against real engines: embedded PostgreSQL (pgserver), the machine's PostgreSQL and MariaDB,
and the api fixture. dpone really runs; reconciliation is our SQL. Assertions pin dpone 0.88.0's real findings."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from dpone_certify.matrix.local import build_domains, reconcile, run_local_cases, seed
from dpone_certify.matrix.local.domains import FORBIDDEN_KEYS
from dpone_certify.matrix.local.engines import ENGINE_SETTINGS, postgres_engine
from dpone_certify.matrix.local.runner import object_name
from dpone_certify.matrix.records import CaseRecord, CaseStatus, EvidenceStatus
from tests.matrix.local.conftest import case, files_containing, make_ctx

PG_STRATEGIES = (
    "full_refresh",
    "incremental_append",
    "incremental_merge",
    "replace",
    "partition_replace",
    "snapshot_diff",
    "scd2",
    "backfill",
    "xmin",
    "cdc",
)
BEHAVIOR_KEYS = {
    "case_id", "source", "sink", "strategy", "target_before", "source_rows", "expected_rows", "actual_rows",
    "target_before_count", "source_row_count", "expected_row_count", "actual_row_count", "expected_checksum",
    "actual_checksum", "configured_row_count", "change_ratio", "delete_ratio", "changed_row_count",
    "deleted_row_count", "quality_checks", "passed", "notes",
}  # fmt: skip


def cid(strategy: str, pair: str = "postgres_to_postgres") -> str:
    return f"{pair}__{strategy}"


@pytest.fixture(scope="module")
def pg_matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CaseRecord]:
    """Every postgres->postgres strategy, once, on the embedded PostgreSQL (500 rows)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("DPONE_IT_"):
                mp.delenv(name)
        ctx = make_ctx(tmp_path_factory.mktemp("pg_matrix"), rows=500, max_parallel=2)
        return run_local_cases([case(cid(s)) for s in PG_STRATEGIES], ctx)


def _read(path: str | None) -> dict:
    assert path, "missing path"
    return json.loads(Path(path).read_text(encoding="utf-8"))


@pytest.mark.parametrize("strategy", PG_STRATEGIES)
def test_embedded_pg_case_produces_dpone_readable_evidence(pg_matrix: dict[str, CaseRecord], strategy: str) -> None:
    record = pg_matrix[cid(strategy)]
    assert record.profile.value == "local"
    assert record.preflight_path and record.behavior_path
    preflight = _read(record.preflight_path)
    assert preflight["case_id"] == record.case_id
    from dpone.integration_matrix import DEFAULT_INTEGRATION_MATRIX

    dpone_case = next(c for c in DEFAULT_INTEGRATION_MATRIX.cases if c.case_id == record.case_id)
    assert Path(record.preflight_path).read_text(encoding="utf-8") == dpone_case.to_json()
    behavior = _read(record.behavior_path)
    assert set(behavior) >= BEHAVIOR_KEYS
    assert behavior["profile"] == "local"
    assert behavior["blockers"] == record.blockers
    assert behavior["passed"] is (record.status is CaseStatus.PASSED)
    if strategy == "cdc":
        assert record.status is CaseStatus.NOT_COVERED
        assert record.evidence_status is EvidenceStatus.NOT_COVERED
        assert record.blockers == [f"matrix_case.not_covered:{record.case_id}"]
        assert record.reason and "wal_level" in record.reason
        return
    assert record.engine["sink"].startswith("embedded-postgres-")
    assert record.status is not CaseStatus.ERROR, record.reason
    assert record.status is CaseStatus.FAILED  # dpone 0.88.0: no documented postgres->postgres case reconciles
    assert record.evidence_status is EvidenceStatus.FAIL
    assert "manifest" in record.artifacts and "reconciliation_report" in record.artifacts
    manifest = Path(record.artifacts["manifest"]).read_text(encoding="utf-8")
    assert "legacy_runtime_connections: explicit_only" in manifest and "# Needed to run at all" in manifest
    assert "\nruntime:" not in manifest  # under defaults: the form 0.87.4 accepts too
    assert record.load_seconds > 0
    # Every variant is its own evidence, listed in the case's behavior file; the verdict is the documented one.
    names = [v["name"] for v in behavior["variants"]]
    assert names[:2] == ["documented", "reference"]
    assert names == [v["name"] for v in record.variants]
    case_dir = Path(record.behavior_path).parent
    for variant in behavior["variants"]:
        assert set(variant) >= {"name", "passed", "blockers", "manifest"}
        assert (case_dir / variant["manifest"]).is_file()
        assert (case_dir / variant["name"] / "reconciliation.json").is_file()
        assert f"# Variant: {variant['name']}." in (case_dir / variant["manifest"]).read_text(encoding="utf-8")
    assert behavior["variants"][0]["blockers"] == record.blockers


# ---- the real dpone 0.88.0 findings, as exact blockers ----------------------------------------------------


@pytest.mark.parametrize(
    "strategy",
    ["full_refresh", "incremental_append", "incremental_merge", "partition_replace", "snapshot_diff", "scd2", "xmin"],
)
def test_second_run_blocked_by_schema_evolution(pg_matrix: dict[str, CaseRecord], strategy: str) -> None:
    record = pg_matrix[cid(strategy)]
    assert f"rerun.failed:{record.case_id}" in record.blockers
    # The named root cause: dpone's own strict policy over a target it created without the source's NOT NULL.
    assert f"schema_evolution.nullability_tighten:{record.case_id}" in record.blockers
    assert any(e.startswith("load2: DPONE_SCHEMA_EVOLUTION_BLOCKED") for e in record.dpone_errors)
    report = _read(record.artifacts["reconciliation_report"])
    assert "DPONE_SCHEMA_EVOLUTION_BLOCKED" in report["rerun_error_codes"]
    cause = next(c for c in report["root_causes"] if c["name"] == "schema_evolution.nullability_tighten")
    assert "id" in cause["detail"].split(", ") and "readiness/schema_evolution.py" in cause["module"]
    run2 = _read(record.artifacts["dpone_run_load2"])
    assert run2["rc"] == 1 and "DPONE_SCHEMA_EVOLUTION_BLOCKED" in run2["error_codes"]
    # The first load moved data and dpone reported its throughput.
    assert record.dpone_rows_per_second and record.dpone_rows_per_second > 0
    assert report["initial"]["rows_match"] is True


@pytest.mark.parametrize("strategy", ["full_refresh", "incremental_merge", "snapshot_diff", "scd2", "xmin"])
def test_timestamptz_becomes_timestamp(pg_matrix: dict[str, CaseRecord], strategy: str) -> None:
    record = pg_matrix[cid(strategy)]
    assert f"type_fidelity.timestamptz_to_timestamp:{record.case_id}" in record.blockers
    findings = _read(record.artifacts["reconciliation_report"])["type_fidelity"]["findings"]
    finding = next(f for f in findings if f["from"] == "timestamptz")
    assert "updated_at" in finding["columns"] and len(finding["columns"]) == 13


@pytest.mark.parametrize("strategy", ["incremental_merge", "incremental_append", "xmin"])
def test_streaming_delta_path_needs_technical_columns(pg_matrix: dict[str, CaseRecord], strategy: str) -> None:
    """Same reference target, dpone's default delta threshold: the small delta takes the streaming path, which
    writes __dpone__load_id into a target that lacks it; the COPY path (threshold 0) adds the columns and passes."""
    record = pg_matrix[cid(strategy)]
    variants = {v["name"]: v for v in record.variants}
    streaming = variants["reference_streaming"]
    assert f"sink.technical_columns_missing:{record.case_id}" in streaming["blockers"]
    assert f"rerun.failed:{record.case_id}" in streaming["blockers"]
    assert any("__dpone__load_id" in e for e in streaming["dpone_errors"])
    assert variants["reference"]["passed"] is True
    manifest = Path(record.artifacts["reference.manifest"]).read_text(encoding="utf-8")
    assert "delta_size_threshold: 0" in manifest


@pytest.mark.parametrize("strategy", ["snapshot_diff", "scd2"])
def test_empty_strings_become_null(pg_matrix: dict[str, CaseRecord], strategy: str) -> None:
    record = pg_matrix[cid(strategy)]
    assert f"correctness.empty_string_to_null:{record.case_id}" in record.blockers
    assert f"correctness.checksum_mismatch:{record.case_id}" in record.blockers
    report = _read(record.artifacts["reconciliation_report"])
    lost = report["empty_string_preservation"]["initial"]["columns_losing_empty_strings"]
    assert "wide_005_text" in lost and lost["wide_005_text"]["actual"]["empty"] == 0
    diff = report["comparisons"][0]["row_diff"]
    assert 0 < len(diff) <= reconcile.MAX_DIFF_KEYS
    assert any(col["expected"] == "" and col["actual"] is None for d in diff for col in d["columns"].values())


@pytest.mark.parametrize(
    "strategy", ["full_refresh", "incremental_append", "partition_replace", "incremental_merge", "xmin", "replace",
                 "backfill"],
)  # fmt: skip
def test_reference_variant_is_a_positive_control(pg_matrix: dict[str, CaseRecord], strategy: str) -> None:
    """Target created beforehand with the source's types and NOT NULL (no primary key for append), COPY path,
    a new backfill_id per run, replace bootstrapped by a full_refresh: dpone 0.88.0 loads, reloads and
    reconciles exactly ('' and NULL kept apart)."""
    record = pg_matrix[cid(strategy)]
    assert record.positive_control, record.variants
    report = _read(record.artifacts["reference.reconciliation_report"])
    assert report["final"]["checksum_match"] is True and report["blockers"] == []
    assert "CREATE TABLE" in report["reference_target_ddl"] and "INCLUDING ALL" in report["reference_target_ddl"]
    assert ("EXCLUDING INDEXES" in report["reference_target_ddl"]) is (strategy == "incremental_append")
    assert report["empty_string_preservation"]["final"]["columns_losing_empty_strings"] == {}
    assert report["expected_side"]["contract_cite"]


@pytest.mark.parametrize("strategy", ["incremental_merge", "xmin"])
def test_merge_keeps_deleted_keys_as_documented(pg_matrix: dict[str, CaseRecord], strategy: str) -> None:
    """dpone documents that physical deletes are never inferred from incremental cursors: deleted keys stay, and
    that is no finding. dpone's matrix text calling merge delete-aware is a docs contradiction, not a blocker."""
    record = pg_matrix[cid(strategy)]
    report = _read(record.artifacts["reference.reconciliation_report"])
    assert report["expected_side"]["promise"] == "upsert"
    assert "deleted keys as before the mutation" in report["expected_side"]["relation"]
    assert not [b for b in record.blockers if "deletes_not_applied" in b]
    assert f"docs.contradiction:merge_deletes:{record.case_id}" in record.findings
    assert not [b for b in record.blockers if b.startswith("docs.")]
    quotes = report["docs_contradictions"]["merge_deletes"]["quotes"]
    assert any("delete-aware" in q["quote"] for q in quotes) and any("never inferred" in q["quote"] for q in quotes)


def test_replace_and_backfill_first_load_fails(pg_matrix: dict[str, CaseRecord]) -> None:
    replace = pg_matrix[cid("replace")]
    assert replace.blockers == [f"run.failed:{replace.case_id}", f"target.missing:{replace.case_id}"]
    assert "UndefinedTable" in _read(replace.artifacts["dpone_run_load1"])["error_codes"]
    backfill = pg_matrix[cid("backfill")]
    assert backfill.blockers == [
        f"run.failed:{backfill.case_id}",
        f"schema_evolution.nullability_tighten:{backfill.case_id}",
    ]  # chunk 1 creates the target without NOT NULL, chunk 2 is blocked
    assert "DPONE_SCHEMA_EVOLUTION_BLOCKED" in _read(backfill.artifacts["dpone_run_load1"])["error_codes"]
    assert any("chunk 2" in e for e in backfill.dpone_errors)


ROLES = [f"{role}{tag}" for role in ("src", "dst", "stg") for tag in ("", "r", "s", "t", "d")]


def test_parallel_cases_and_variants_use_separate_schemas(pg_matrix: dict[str, CaseRecord]) -> None:
    names = {object_name(role, r.run_id, r.case_id) for r in pg_matrix.values() for role in ROLES}
    assert len(names) == len(ROLES) * len(pg_matrix)
    assert all(len(n) <= 63 for n in names)


def test_case_schemas_are_dropped_after_the_evidence_is_written(pg_matrix: dict[str, CaseRecord]) -> None:
    names = {object_name(role, r.run_id, r.case_id) for r in pg_matrix.values() for role in ROLES}
    with postgres_engine().connect() as conn:
        rows = conn.execute("SELECT nspname FROM pg_namespace").fetchall()
    assert names.isdisjoint({row[0] for row in rows})
    assert all(Path(r.behavior_path or "").exists() for r in pg_matrix.values())


# ---- reconciliation catches a deliberate corruption ----------------------------------------------------------


def test_reconciliation_catches_corruption(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, rows=400, keep_schemas=True)
    record = run_local_cases([case(cid("partition_replace"))], ctx)[cid("partition_replace")]
    report = _read(record.artifacts["reference.reconciliation_report"])
    assert report["final"]["checksum_match"] is True  # the reference variant's data is exact
    engine = postgres_engine()
    src = object_name("srcr", ctx.run_id, record.case_id)
    dst = object_name("dstr", ctx.run_id, record.case_id)
    cols = seed.columns(120)
    with engine.connect() as conn:
        conn.execute(f"UPDATE \"{dst}\".orders SET wide_005_text = 'corrupted' WHERE id = 200")
        conn.execute(f'DELETE FROM "{dst}".orders WHERE id = 300')
    src_types = reconcile.table_types(engine, src, seed.TABLE)
    dst_types = reconcile.table_types(engine, dst, seed.TABLE)
    result = reconcile.compare(
        "corruption",
        reconcile.Relation(engine, src, seed.TABLE),
        reconcile.Relation(engine, dst, seed.TABLE),
        cols,
        src_types,
        dst_types,
    )
    assert not result.rows_match and not result.checksum_match
    assert result.actual_count == result.expected_count - 1
    assert result.missing_keys == [300]
    assert result.changed_keys == [200]
    by_key = {d["key"]: d for d in result.diff}
    assert by_key[300]["kind"] == "missing_in_target"
    assert by_key[200]["columns"]["wide_005_text"]["actual"] == "corrupted"
    assert len(result.diff) <= reconcile.MAX_DIFF_KEYS


# ---- other engines ---------------------------------------------------------------------------------------------


def test_case_needing_mssql_is_not_covered_with_how_to(tmp_path: Path) -> None:
    records = run_local_cases(
        [case("postgres_to_mssql__full_refresh"), case("mssql_to_postgres__incremental_merge")],
        make_ctx(tmp_path),
    )
    for record in records.values():
        assert record.status is CaseStatus.NOT_COVERED
        assert record.evidence_status is EvidenceStatus.NOT_COVERED
        assert record.blockers == [f"matrix_case.not_covered:{record.case_id}"]
        assert record.reason and "DPONE_IT_MSSQL_HOST" in record.reason
        assert "docker/compose.engines.yaml" in record.reason and "mssql" in record.reason
        behavior = _read(record.behavior_path)
        assert behavior["passed"] is False and behavior["blockers"] == record.blockers


def test_bigquery_sink_is_never_local(tmp_path: Path) -> None:
    record = run_local_cases([case("postgres_to_bigquery__full_refresh")], make_ctx(tmp_path))[
        "postgres_to_bigquery__full_refresh"
    ]
    assert record.status is CaseStatus.NOT_COVERED and "live profile" in (record.reason or "")


def test_engine_settings_in_one_place() -> None:
    assert ENGINE_SETTINGS["postgres"].env_names() == [
        "DPONE_IT_PG_HOST", "DPONE_IT_PG_PORT", "DPONE_IT_PG_DATABASE", "DPONE_IT_PG_USER", "DPONE_IT_PG_PASSWORD",
    ]  # fmt: skip
    assert ENGINE_SETTINGS["kafka"].compose_services == ("kafka", "schema-registry")
    assert {s.compose_services[0] for s in ENGINE_SETTINGS.values()} == {
        "postgres", "mysql", "mssql", "clickhouse", "kafka",
    }  # fmt: skip


@pytest.mark.postgres
def test_machine_postgres_case_and_secret_never_written(tmp_path: Path, machine_pg: str) -> None:
    password = machine_pg
    records = run_local_cases([case(cid("full_refresh")), case(cid("incremental_merge"))], make_ctx(tmp_path, rows=300))
    for record in records.values():
        assert record.engine["sink"].startswith("postgres-") and "embedded" not in record.engine["sink"]
        assert record.status is CaseStatus.FAILED, record.reason
        assert f"rerun.failed:{record.case_id}" in record.blockers
        assert f"type_fidelity.timestamptz_to_timestamp:{record.case_id}" in record.blockers
        assert record.rows_moved == 300
    assert files_containing(tmp_path, password) == []


@pytest.mark.mysql
def test_mysql_to_postgres(tmp_path: Path, machine_mysql: str) -> None:
    ids = ["mysql_to_postgres__full_refresh", "mysql_to_postgres__incremental_merge"]
    records = run_local_cases([case(i) for i in ids], make_ctx(tmp_path, rows=400))
    for record in records.values():
        assert record.engine.get("source", "").startswith(("mariadb-", "mysql-")), record.reason
        assert record.status is CaseStatus.FAILED, record.reason
        report = _read(record.artifacts["reconciliation_report"])
        assert report["initial"]["rows_match"] is True  # every row arrived ...
        # ... but the CSV transfer turns integers and datetimes into text and '' into NULL.
        assert f"type_fidelity.int8_to_text:{record.case_id}" in record.blockers
        assert f"correctness.empty_string_to_null:{record.case_id}" in record.blockers
        # The rerun is blocked by dpone's comparator over two spellings of varchar (its own __dpone__load_id too).
        assert f"schema_evolution.type_alias:{record.case_id}" in record.blockers
        finding = next(f for f in report["type_fidelity"]["findings"] if f["from"] == "int8")
        if record.engine["source"].startswith("mariadb-"):  # MariaDB reports bigint(20); MySQL 8 plain bigint
            assert finding["root_cause"] == "type_mapping.mysql_display_width"
            assert "bigint(20)" in finding["source_declared_types"]
    merge = records["mysql_to_postgres__incremental_merge"]
    assert not [b for b in merge.blockers if "deletes_not_applied" in b]  # deleted keys stay, as documented
    assert files_containing(tmp_path, machine_mysql) == []


def test_api_to_postgres(tmp_path: Path) -> None:
    ids = ["api_to_postgres__full_refresh", "api_to_postgres__incremental_append"]
    records = run_local_cases([case(i) for i in ids], make_ctx(tmp_path, rows=400))
    full = records["api_to_postgres__full_refresh"]
    assert full.engine["source"].startswith("api-fixture(http)")
    report = _read(full.artifacts["reconciliation_report"])
    assert report["api_requests"] >= 2  # one page of 1000 + the empty page that stops pagination, per run
    assert report["initial"]["rows_match"] is True and full.rows_moved == 400
    assert f"rerun.failed:{full.case_id}" in full.blockers
    assert f"schema_evolution.type_alias:{full.case_id}" in full.blockers
    append = records["api_to_postgres__incremental_append"]
    # reads MAX(updated_at) of a missing target
    assert append.blockers == [f"run.failed:{append.case_id}", f"state.missing_target:{append.case_id}"]


def test_default_row_count_single_case_and_timings(tmp_path: Path) -> None:
    """One case at dpone's default 10,000 rows x 120 wide columns."""
    ctx = make_ctx(tmp_path, rows=10_000)
    started = time.perf_counter()
    record = run_local_cases([case(cid("partition_replace"))], ctx)[cid("partition_replace")]
    elapsed = time.perf_counter() - started
    report = _read(record.artifacts["reconciliation_report"])
    assert report["initial"]["expected_row_count"] == 10_000 and report["initial"]["checksum_match"] is True
    assert record.dpone_rows_per_second and record.dpone_rows_per_second > 0
    assert record.reconcile_seconds is not None and record.load_seconds > 0
    print(
        f"\n10k partition_replace: dpone {record.dpone_rows_per_second:.0f} rows/s, load {record.load_seconds:.2f}s, "
        f"reconcile {record.reconcile_seconds:.2f}s, total {elapsed:.1f}s"
    )


def test_domains_follow_the_records(pg_matrix: dict[str, CaseRecord], tmp_path: Path) -> None:
    from dpone.ops.certification_artifacts import production_artifact_payload_passed

    paths = build_domains(list(pg_matrix.values()), tmp_path / "domains")
    assert set(paths) == {"local_matrix", "correctness", "schema_evolution"}
    local = _read(str(paths["local_matrix"]))
    assert local["passed"] is False and local["cases"] == []  # nothing certified with dpone 0.88.0
    assert local["selected_cases"] == len(PG_STRATEGIES) and local["covered_cases"] == len(PG_STRATEGIES) - 1
    assert any(b.startswith("rerun.failed:") for b in local["blockers"])
    for name, path in paths.items():
        payload = _read(str(path))
        assert not FORBIDDEN_KEYS & set(payload)
        assert production_artifact_payload_passed(payload, name=name) is False  # evidence says not passed
    evolution = _read(str(paths["schema_evolution"]))
    blocked = [c for c in evolution["cases"] if c["second_run"] and c["second_run"]["status"] != "success"]
    assert len(blocked) == 7


def test_domains_pass_only_when_everything_reconciled(pg_matrix: dict[str, CaseRecord], tmp_path: Path) -> None:
    """A synthetic all-pass record set (copy of a real record with the verdict flipped) must produce domains
    that dpone's production rule accepts, in the documented local_matrix shape."""
    from dpone.ops.certification_artifacts import production_artifact_payload_passed

    real = pg_matrix[cid("full_refresh")]
    ok = real.model_copy(
        update={
            "status": CaseStatus.PASSED,
            "evidence_status": EvidenceStatus.PASS,
            "blockers": [],
            "rows_moved": 500,
            "wide_columns": 120,
            "artifacts": {},
        }
    )
    paths = build_domains([ok], tmp_path / "domains")
    local = _read(str(paths["local_matrix"]))
    assert local["passed"] is True
    assert local["cases"] == [
        {"source": "postgres", "sink": "postgres", "strategy": "full_refresh", "row_count": 500,
         "changed_pct": 20, "deleted_pct": 5, "wide_columns": 120}
    ]  # fmt: skip
    assert production_artifact_payload_passed(local, name="local_matrix") is True
    assert production_artifact_payload_passed(_read(str(paths["correctness"])), name="correctness") is True
