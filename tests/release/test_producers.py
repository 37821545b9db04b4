"""Each release-evidence producer against real dpone and a real PostgreSQL (embedded pgserver, or the machine's
server for the `postgres`-marked test). Nothing of dpone is mocked; assertions pin what dpone 0.88.0 really does."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dpone_certify.dpone.adapter import DponeAdapter
from dpone_certify.gates.records import GateRecord
from dpone_certify.matrix.catalogue import cases_by_id, dpone_version
from dpone_certify.matrix.local import LocalContext, run_local_cases
from dpone_certify.matrix.records import CaseRecord, CaseSettings, CaseStatus, EvidenceStatus
from dpone_certify.release import cdc, docs, domains, observability, performance, reliability, security, supply_chain
from dpone_certify.release.common import DomainStatus
from dpone_certify.runbooks import remediation_for
from dpone_certify.settings import Profile

PG_CASE = "postgres_to_postgres__full_refresh"


@pytest.fixture(scope="module", autouse=True)
def _embedded_pg_only() -> Iterator[None]:
    """Unless a test says otherwise, the local profile's engine is the embedded PostgreSQL."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("DPONE_IT_"):
                mp.delenv(name)
        yield


@pytest.fixture(scope="module")
def adapter() -> DponeAdapter:
    return DponeAdapter(timeout_seconds=600)


@pytest.fixture(scope="module")
def rel(tmp_path_factory: pytest.TempPathFactory, adapter: DponeAdapter) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("reliability")
    result = reliability.produce(adapter=adapter, out=out, run_id=str(uuid.uuid4()))
    return {"result": result, "artifact": json.loads(Path(result.artifacts["report"]).read_text()), "out": out}


@pytest.fixture(scope="module")
def local_records(tmp_path_factory: pytest.TempPathFactory, adapter: DponeAdapter) -> dict[str, CaseRecord]:
    ctx = LocalContext(
        out_dir=tmp_path_factory.mktemp("local"),
        run_id=str(uuid.uuid4()),
        adapter=adapter,
        max_parallel=1,
        settings=CaseSettings(row_count=200, change_ratio=0.2, delete_ratio=0.05, wide_columns=120),
    )
    return run_local_cases([cases_by_id()[PG_CASE]], ctx)


def _experiment(rel: dict[str, Any], name: str) -> dict[str, Any]:
    return next(e for e in rel["artifact"]["experiments"] if e["name"] == name)


# ---- reliability ---------------------------------------------------------------------------------------
def test_reliability_lock_committed_and_resume_are_observed(rel: dict[str, Any]) -> None:
    for name in ("lock_blocks_concurrent_run", "committed_job_not_rerun", "crashed_run_requires_resume"):
        exp = _experiment(rel, name)
        assert exp["passed"], exp["expectations"]
        assert exp["dpone_calls"], "every experiment calls dpone"
    lock = _experiment(rel, "lock_blocks_concurrent_run")
    assert lock["dpone_calls"][0]["blockers"] == ["lock.concurrent_run"]
    committed = _experiment(rel, "committed_job_not_rerun")
    assert committed["dpone_calls"][1]["blockers"] == ["job_state.already_committed"]
    crash = _experiment(rel, "crashed_run_requires_resume")
    assert [c["outcome"] for c in crash["dpone_calls"]] == ["crashed", "ok", "ok"]
    assert crash["dpone_calls"][1]["blockers"] in (["job_state.already_running"], ["job_state.resume_required"])
    assert crash["dpone_calls"][2]["status"] == "success"


def test_reliability_retries_are_not_attempted_by_dpone_088(rel: dict[str, Any]) -> None:
    """dpone 0.88 raises runtime errors out of its retry loop: the failing run is never retried."""
    exp = _experiment(rel, "failed_run_is_retried")
    assert not exp["passed"]
    assert exp["dpone_calls"][0]["outcome"] == "crashed"
    result = rel["result"]
    assert result.blockers == ["reliability.retry_not_attempted"]
    assert rel["artifact"]["passed"] is False  # computed from the observations
    assert rel["artifact"]["blockers"] == ["reliability.retry_not_attempted"]
    assert result.domains[0].status is DomainStatus.FAILED
    assert remediation_for("reliability.retry_not_attempted").known


def test_reliability_keeps_dpones_run_result(rel: dict[str, Any]) -> None:
    report = json.loads(Path(rel["result"].artifacts["run_report"]).read_text())
    assert report["passed"] is True and report["result"]["status"] == "success"
    assert report["result"]["inserted_rows"] == reliability.ROWS


@pytest.mark.postgres
def test_reliability_on_the_machines_postgres(
    tmp_path: Path, adapter: DponeAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    try:
        psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test", connect_timeout=3).close()
    except psycopg.Error:
        pytest.skip("the machine's PostgreSQL at 127.0.0.1:5432 (user postgres, database test) is not reachable")
    monkeypatch.setenv("DPONE_IT_PG_HOST", "127.0.0.1")
    monkeypatch.setenv("DPONE_IT_PG_PORT", "5432")
    monkeypatch.setenv("DPONE_IT_PG_USER", "postgres")
    monkeypatch.setenv("DPONE_IT_PG_DATABASE", "test")
    result = reliability.produce(adapter=adapter, out=tmp_path, run_id=str(uuid.uuid4()))
    artifact = json.loads(Path(result.artifacts["report"]).read_text())
    assert artifact["engine"]["label"].startswith("postgres-")
    held = {e["name"]: e["passed"] for e in artifact["experiments"]}
    assert held == {
        "lock_blocks_concurrent_run": True,
        "committed_job_not_rerun": True,
        "crashed_run_requires_resume": True,
        "failed_run_is_retried": False,
    }


# ---- observability ---------------------------------------------------------------------------------------
def test_observability_exports_a_real_run(rel: dict[str, Any], adapter: DponeAdapter, tmp_path: Path) -> None:
    result = observability.produce(
        adapter=adapter,
        out=tmp_path,
        run_report=rel["result"].artifacts["run_report"],
        release="rel-test",
        version=dpone_version(),
        profile="local",
        run_id="run-1",
    )
    assert result.passed, result.blockers
    artifact = json.loads(Path(result.artifacts["domain"]).read_text())
    assert artifact["passed"] is True and artifact["slo"]["passed"] is True
    assert {"service.version", "dpone_certify.release", "dpone_certify.run_id"} <= set(
        artifact["opentelemetry_resource_attributes"]
    )
    assert artifact["metrics_index"]["checked"] >= 3 and artifact["metrics_index"]["mismatched"] == []
    assert "dpone_inserted_rows" in Path(result.artifacts["prometheus"]).read_text()
    assert result.metrics["dpone_final_rows"] == reliability.ROWS
    # the index check is real: an edited export is caught
    Path(result.artifacts["prometheus"]).write_text("# edited\n")
    _, bad = observability.verify_metrics_index(Path(result.artifacts["metrics_index"]))
    assert bad == ["prometheus_metrics.prom"]


def test_observability_without_a_run_is_missing(adapter: DponeAdapter, tmp_path: Path) -> None:
    result = observability.produce(
        adapter=adapter, out=tmp_path, run_report=None, release="r", version="x", profile="contract", run_id="r"
    )
    assert [d.status for d in result.domains] == [DomainStatus.MISSING]
    assert not list(tmp_path.iterdir())  # never a stub file


# ---- supply chain ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def attested(tmp_path_factory: pytest.TempPathFactory, adapter: DponeAdapter) -> supply_chain.ProducerResult:
    out = tmp_path_factory.mktemp("supply")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(supply_chain.SIGNING_ENV, raising=False)
        result = supply_chain.produce(
            adapter=adapter, out=out, release="rel-test", version=dpone_version(), wheel=None, check_installed=True
        )
    if "supply_chain.wheel_unavailable" in result.blockers:
        pytest.skip(f"no dpone wheel reachable here: {result.domains[0].reason}")
    return result


def test_supply_chain_attests_the_installed_wheel_but_unsigned_fails(attested: supply_chain.ProducerResult) -> None:
    assert Path(attested.artifacts["subject"]).name.startswith(f"dpone-{dpone_version()}-")
    assert attested.metrics["wheel_files_checked"] > 1000 and attested.extra["wheel_mismatches"] == []
    assert attested.blockers == ["signature.missing_key"]  # dpone's own verdict
    assert attested.domains[0].status is DomainStatus.FAILED
    bundle = json.loads(Path(attested.artifacts["report"]).read_text())
    assert bundle["passed"] is False and bundle["blockers"] == ["signature.missing_key"]
    sbom = json.loads(Path(attested.artifacts["sbom_spdx"]).read_text())
    assert sbom["name"] == f"dpone-{dpone_version()}" and len(sbom["packages"]) > 10


def test_supply_chain_signed_passes(
    attested: supply_chain.ProducerResult, adapter: DponeAdapter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "test-signing-" + uuid.uuid4().hex
    monkeypatch.setenv(supply_chain.SIGNING_ENV, key)
    result = supply_chain.produce(
        adapter=adapter,
        out=tmp_path,
        release="rel-test",
        version=dpone_version(),
        wheel=attested.artifacts["subject"],
        check_installed=False,
    )
    assert result.passed and result.domains[0].status is DomainStatus.PRODUCED
    assert Path(result.artifacts["signature"]).is_file()
    assert key not in (result.command or "")
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and key.encode() in p.read_bytes()]


# ---- docs ------------------------------------------------------------------------------------------------
def test_docs_pack_publishes_passing_sections_and_refuses_failing_ones(
    rel: dict[str, Any], attested: supply_chain.ProducerResult, adapter: DponeAdapter, tmp_path: Path
) -> None:
    ok = docs.produce(
        adapter=adapter,
        out=tmp_path / "ok",
        release="r",
        sections={"run_report": rel["result"].artifacts["run_report"]},
    )
    assert ok.passed and ok.domains[0].status is DomainStatus.PRODUCED
    bad = docs.produce(
        adapter=adapter,
        out=tmp_path / "bad",
        release="r",
        sections={"run_report": rel["result"].artifacts["run_report"], "supply_chain": attested.artifacts["report"]},
    )
    assert bad.blockers == ["docs.section_failed:supply_chain"]
    assert bad.domains[0].status is DomainStatus.FAILED


# ---- security --------------------------------------------------------------------------------------------
def test_security_audits_generated_manifests_and_reports_the_dpone_defect(
    local_records: dict[str, CaseRecord], adapter: DponeAdapter, tmp_path: Path
) -> None:
    records = list(local_records.values())
    assert records[0].artifacts.get("manifest")
    out = tmp_path / "security"
    result = security.produce(adapter=adapter, out=out, root=tmp_path, records=records, scan_dirs=[])
    audit = json.loads(Path(result.artifacts["report"]).read_text())
    # dpone's output, kept as it printed it: a clean audit with its one non-empty finding
    assert audit == {
        "passed": True,
        "findings": [
            {
                "action": "Keep using provider-backed credentials and redacted logs.",
                "code": "security.no_findings",
                "message": "No inline secrets, unsafe connection types, or unredacted log tokens were found.",
                "passed": True,
                "severity": "pass",
            }
        ],
    }
    assert result.blockers == ["security.not_passed"]
    assert result.domains[0].status is DomainStatus.FAILED and "security.no_findings" in result.domains[0].reason
    assert result.metrics["manifests_audited"] == 1 and result.metrics["scanned_files"] > 3
    assert "dpone 0.88" in remediation_for("security.not_passed").meaning


def test_secret_scan_finds_a_leaked_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, adapter: DponeAdapter
) -> None:
    secret = "s3cr3t-" + uuid.uuid4().hex
    monkeypatch.setenv("DPONE_CERTIFY_TEST_PASSWORD", secret)
    gate = tmp_path / "runs" / "r1" / "some_gate"
    gate.mkdir(parents=True)
    (gate / "clean.json").write_text('{"passed": true}')
    (gate / "leak.json").write_text(json.dumps({"note": f"connect with {secret}"}))
    (gate / "dsn.txt").write_text("postgresql://app:hunter22@db:5432/x")
    result = security.produce(adapter=adapter, out=tmp_path / "sec", root=tmp_path, records=[], scan_dirs=[gate])
    assert set(result.blockers) == {
        "secret.leaked:runs/r1/some_gate/leak.json",
        "secret.leaked:runs/r1/some_gate/dsn.txt",
        "security.missing",
    }
    scan = Path(result.artifacts["secret_scan"]).read_text()
    assert secret not in scan and "hunter22" not in scan
    assert result.domains[0].status is DomainStatus.MISSING  # no manifests: dpone would audit nothing


# ---- local-profile domains, performance, cdc -------------------------------------------------------------
def test_local_domains_come_from_real_records(local_records: dict[str, CaseRecord], tmp_path: Path) -> None:
    record = local_records[PG_CASE]
    assert record.profile is Profile.LOCAL and record.covered
    for name in ("local_matrix", "correctness", "schema_evolution"):
        result = domains.produce(name, local_records, tmp_path / name)
        assert result.domains[0].status in (DomainStatus.PRODUCED, DomainStatus.FAILED)
        payload = json.loads(Path(result.domains[0].artifact or "").read_text())
        assert payload["passed"] is (result.domains[0].status is DomainStatus.PRODUCED)
        assert not {"evidence_status", "profile"} & set(payload)
        assert all(remediation_for(b).known for b in result.blockers), result.blockers
    # dpone 0.88 blocks the second full_refresh into the table it created (schema evolution defect)
    assert f"rerun.failed:{PG_CASE}" in record.blockers


def test_contract_records_are_never_domains(local_records: dict[str, CaseRecord], tmp_path: Path) -> None:
    simulated = {
        k: r.model_copy(
            update={
                "profile": Profile.CONTRACT,
                "evidence_status": EvidenceStatus.UNVERIFIED,
                "status": CaseStatus.PASSED,
            }
        )
        for k, r in local_records.items()
    }
    for name in ("local_matrix", "correctness", "schema_evolution"):
        result = domains.produce(name, simulated, tmp_path / name)
        assert result.blockers == [f"{name}.missing"] and result.domains[0].status is DomainStatus.MISSING
        assert "local profile" in result.domains[0].reason
        assert not (tmp_path / name).exists()


def _benchmark(adapter: DponeAdapter, out: Path, profile: Profile) -> GateRecord:
    call = adapter.cli(
        "benchmark_baseline",
        [
            "ops",
            "benchmark-baseline",
            "--output-dir",
            str(out),
            "--metrics-json",
            '{"rows_per_second": 900}',
            "--baseline-json",
            '{"rows_per_second": 1000}',
            "--allowed-regression-ratio",
            "0.25",
            "--format",
            "json",
        ],
    )
    assert call.payload["passed"] is True
    return GateRecord(
        gate="benchmark_baseline",
        run_id="r",
        profile=profile,
        evidence_status=EvidenceStatus.PASS,
        passed=True,
        artifacts={"report": str(out / "benchmark_baseline.json")},
        output_dir=str(out),
        metrics={"rows_per_second": 900.0},
    )


def test_performance_only_from_measured_data_movement(adapter: DponeAdapter, tmp_path: Path) -> None:
    contract = performance.produce(_benchmark(adapter, tmp_path / "c", Profile.CONTRACT))
    assert [d.status for d in contract.domains] == [DomainStatus.MISSING] * 2
    assert "simulation" in contract.domains[0].reason and contract.blockers == ["performance.missing"]
    local = performance.produce(_benchmark(adapter, tmp_path / "l", Profile.LOCAL))
    assert [(d.name, d.status) for d in local.domains] == [
        ("performance", DomainStatus.PRODUCED),
        ("performance_lab", DomainStatus.PRODUCED),
    ]
    assert local.domains[0].artifact == str((tmp_path / "l" / "benchmark_baseline.json").resolve())


def test_cdc_is_missing_with_the_reason() -> None:
    result = cdc.produce()
    assert result.blockers == ["cdc.missing"] and result.domains[0].status is DomainStatus.MISSING
    assert "wal_level" in result.domains[0].reason
