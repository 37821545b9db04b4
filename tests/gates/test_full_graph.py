"""The whole full-certification graph on the contract profile, materialized for real (real dpone, a real
Dagster instance), over a contiguous slice of dpone's catalogue. The verdicts asserted here are dpone's own
trust rules applied to simulated evidence: the matrix and its report pass, every trust gate fails honestly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from dpone_certify.certification.layout import EvidenceLayout
from dpone_certify.certification.records import GateRecord
from dpone_certify.definitions import ASSETS
from dpone_certify.matrix.catalogue import case_ids
from dpone_certify.runbooks import remediation_for
from tests.conftest import PG_CASE, case_range, checks_by_asset, materialize

GATES = [a.key.path[-1] for a in ASSETS]
CASES = case_range(PG_CASE, 6)


@pytest.fixture(scope="module")
def graph_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("evidence")
    config = {"evidence_root": str(root), "row_count": 300, "release": "test-release"}
    with dg.instance_for_test() as instance:
        result = materialize(instance, GATES, cases=CASES, config=config)
        records = {
            gate: GateRecord.model_validate_json(
                (root / "runs" / result.run_id / gate / "gate_record.json").read_text()
            )
            for gate in GATES
            if gate != "source_sink_matrix"
        }
        yield {"result": result, "root": root, "records": records, "instance": instance, "config": config}


def test_partitions_are_dpone_catalogue() -> None:
    from dpone.integration_matrix import DEFAULT_INTEGRATION_MATRIX

    from dpone_certify.gates.matrix import CASES as PARTITIONS

    expected = [c.case_id for c in DEFAULT_INTEGRATION_MATRIX.cases]
    assert PARTITIONS.get_partition_keys() == expected == case_ids()
    assert len(expected) == 237


def test_run_fails_because_required_gates_fail(graph_run: dict[str, Any]) -> None:
    result = graph_run["result"]
    assert not result.success
    checks = checks_by_asset(result)
    assert set(checks) == set(GATES)  # every gate ran and reported, none was skipped
    # The reconciliation self-test does not apply to dpone's simulation: not required, WARN, never passed.
    selftest = checks.pop("reconciliation_selftest")
    assert selftest.severity == dg.AssetCheckSeverity.WARN and not selftest.passed
    assert all(ev.severity == dg.AssetCheckSeverity.ERROR for ev in checks.values())


def test_matrix_and_report_pass_but_are_unverified(graph_run: dict[str, Any]) -> None:
    checks = checks_by_asset(graph_run["result"])
    assert checks["source_sink_matrix"].passed and checks["matrix_report"].passed
    assert "UNVERIFIED" in checks["matrix_report"].description
    report = graph_run["records"]["matrix_report"]
    assert report.evidence_status.value == "UNVERIFIED"
    assert report.metrics["cases"] == len(CASES) == report.metrics["covered_cases"]
    cert = json.loads(Path(report.artifacts["matrix_certification"]).read_text())
    assert cert["evidence_status"] == "UNVERIFIED" and cert["coverage"]["selected"] == len(CASES)


def test_trust_gates_fail_honestly_with_remediation_to_local(graph_run: dict[str, Any]) -> None:
    records = graph_run["records"]
    assert "evidence_bundle.not_passed" in records["evidence_bundle"].blockers
    assert "evidence.unverified:evidence_bundle" in records["evidence_bundle"].blockers
    suite = records["certification_suite"]
    assert not suite.passed
    assert {"certification_report.not_passed", "evidence_bundle.not_passed"} <= set(suite.blockers)
    assert not records["artifact_index"].passed
    assert "artifact_index.item_failed:certification_behavior" in records["artifact_index"].blockers
    remediation = remediation_for("evidence.unverified:certification_suite")
    assert remediation.known and "local" in " ".join(remediation.fix + remediation.reproduce)


def test_every_emitted_blocker_has_a_known_remediation(graph_run: dict[str, Any]) -> None:
    emitted = {b for rec in graph_run["records"].values() for b in rec.blockers}
    assert emitted, "the contract profile must produce blockers"
    unknown = sorted(b for b in emitted if not remediation_for(b).known)
    assert unknown == []


def test_run_result_is_built_from_the_matrix(graph_run: dict[str, Any]) -> None:
    registry = graph_run["records"]["run_registry"]
    run_result = json.loads(Path(registry.artifacts["run_result"]).read_text())
    cert = json.loads(Path(graph_run["records"]["matrix_report"].artifacts["matrix_certification"]).read_text())
    assert run_result["run_id"] == graph_run["result"].run_id
    assert run_result["result"]["extracted_rows"] == sum(c["rows_moved"] for c in cert["cases"]) > 0
    assert run_result["result"]["details"]["cases"] == len(CASES)
    assert run_result["passed"] is cert["passed"]
    entry = json.loads(Path(registry.extra["entry_path"]).read_text())
    names = {a["name"] for a in entry["artifacts"]}
    assert {"matrix_report", "matrix_certification"} <= names
    bench = graph_run["records"]["benchmark_baseline"]
    if bench.passed and bench.warnings:  # judged nothing (another machine's baseline, or the simulation)
        assert "benchmark_baseline" not in names and "informative only" in registry.extra["benchmark_note"]
    else:
        assert "benchmark_baseline" in names


def test_evidence_chain_appended_once_and_verified(graph_run: dict[str, Any]) -> None:
    chain = graph_run["records"]["evidence_chain"]
    assert chain.passed, chain.blockers
    assert chain.release and chain.release.startswith("test-release__run-")
    index = json.loads((graph_run["root"] / "chain" / "evidence_chain_index.json").read_text())
    assert [e["release"] for e in index["entries"]] == [chain.release]
    verification = json.loads(Path(chain.artifacts["report"]).read_text())
    assert verification["intact"] and verification["dpone_verified"]
    assert verification["artifacts_checked"] > len(CASES)  # every indexed artifact was re-hashed


def test_ui_metadata_has_summary_table_paths_and_numbers(graph_run: dict[str, Any]) -> None:
    instance = graph_run["instance"]
    event = instance.get_latest_materialization_event(dg.AssetKey("certification_suite"))
    meta = event.asset_materialization.metadata
    assert isinstance(meta["summary"], dg.MarkdownMetadataValue) and "FAILED" in meta["summary"].value
    assert isinstance(meta["blockers"], dg.TableMetadataValue)
    assert any(isinstance(v, dg.PathMetadataValue) for k, v in meta.items() if k.startswith("artifact/"))
    matrix = instance.get_latest_materialization_event(dg.AssetKey("matrix_report")).asset_materialization.metadata
    assert matrix["pass_rate"].value == 1.0 and matrix["rows_per_second"].value > 0


def test_rerunning_one_gate_consumes_lineage_not_a_folder_scan(graph_run: dict[str, Any]) -> None:
    """A forged passing artifact dropped into the evidence root changes nothing: inputs come from records."""
    root: Path = graph_run["root"]
    forged = {"passed": True, "evidence_status": "PASS", "blockers": []}
    for place in (root, root / "runs", root / "lineage"):
        place.mkdir(parents=True, exist_ok=True)
        (place / "certification_report.json").write_text(json.dumps(forged))
        (place / "ops_evidence_bundle.json").write_text(json.dumps(forged))
    result = materialize(graph_run["instance"], ["certification_suite"], config=graph_run["config"])
    assert not result.success
    rerun = GateRecord.model_validate_json(
        (root / "runs" / result.run_id / "certification_suite" / "gate_record.json").read_text()
    )
    assert sorted(rerun.blockers) == sorted(graph_run["records"]["certification_suite"].blockers)


def test_gate_keys_match_the_definitions() -> None:
    from dpone_certify.definitions import defs
    from dpone_certify.gates.keys import ALL_GATES, FULL_CERTIFICATION_GATES

    assert [a.key.path[-1] for a in ASSETS] == list(FULL_CERTIFICATION_GATES)
    defined = {k.path[-1] for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert defined == set(ALL_GATES) | {"certification_report"}  # the report restates the gates; it is no gate


def test_cases_as_intoto_statements_warned_when_simulated(graph_run: dict[str, Any]) -> None:
    import hashlib

    path = Path(graph_run["records"]["matrix_report"].artifacts["intoto_statements"])
    statements = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(statements) == len(CASES)
    for st in statements:
        assert st["_type"] == "https://in-toto.io/Statement/v1"
        assert st["predicate"]["result"] == "WARNED"  # passed, but on UNVERIFIED simulation
        assert st["predicate"]["configuration"][0]["annotations"]["evidence_status"] == "UNVERIFIED"
    input_dir = Path(graph_run["records"]["matrix_report"].output_dir) / "input"
    subject = statements[0]["subject"][0]
    assert hashlib.sha256((input_dir / subject["name"]).read_bytes()).hexdigest() == subject["digest"]["sha256"]


def test_damaged_upstream_record_is_reported_not_crashed(graph_run: dict[str, Any]) -> None:
    """A corrupted lineage record makes the consumer report its input missing; the file is kept as it was."""
    root: Path = graph_run["root"]
    record = EvidenceLayout(root, graph_run["result"].run_id).lineage_path("run_registry")
    original = record.read_bytes()
    record.write_text('{"model": "GateRecord", "data": {"gate": "run_registry"')  # truncated mid-write
    try:
        result = materialize(graph_run["instance"], ["lineage_report"], config=graph_run["config"])
        rerun = GateRecord.model_validate_json(
            (root / "runs" / result.run_id / "lineage_report" / "gate_record.json").read_text()
        )
        assert rerun.blockers == ["gate.input_missing:run_registry"]
        assert not result.success
        assert record.read_text().startswith('{"model": "GateRecord"')  # nothing deleted or rewritten
    finally:
        record.write_bytes(original)
