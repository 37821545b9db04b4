"""Failure sensors on real failing runs: the remediation report lands next to the evidence and on the run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from dpone_certify.automation import sensors
from dpone_certify.definitions import ASSETS, defs
from dpone_certify.report import GATE_ORDER

CASE = "postgres_to_postgres__full_refresh"
SECRET = "pw-" + "9f3c1d2e7a"  # a credential in the environment must never reach a report


def _run(instance: dg.DagsterInstance, root: Path, assets: list[str]) -> dg.ExecuteInProcessResult:
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        asset_selection=[dg.AssetKey(a) for a in assets],
        instance=instance,
        tags={"dagster/partition": CASE},
        run_config={"resources": {"certify": {"config": {"evidence_root": str(root), "row_count": 200}}}},
        raise_on_error=False,
    )


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DPONE_CERTIFY_PROFILE", raising=False)  # contract
    monkeypatch.setenv("DPONE_IT_MSSQL_PASSWORD", SECRET)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def _report(root: Path, run_id: str) -> tuple[str, dict[str, Any]]:
    folder = root / "runs" / run_id
    markdown = (folder / "remediation_report.md").read_text(encoding="utf-8")
    payload = json.loads((folder / "remediation_report.json").read_text(encoding="utf-8"))
    return markdown, payload


@pytest.mark.slow
def test_run_failure_sensor_on_failed_full_graph(env: None, instance: dg.DagsterInstance, tmp_path: Path) -> None:
    """The whole graph on one case with the contract profile fails (certification_suite and others cannot pass
    on simulated evidence with no benchmark baseline); the run-failure sensor writes and tags the report."""
    root = tmp_path / "evidence"
    result = _run(instance, root, [a.key.path[-1] for a in ASSETS])
    assert not result.success
    context = dg.build_run_status_sensor_context(
        sensor_name="certification_failure_sensor",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    ).for_run_failure()
    sensors.certification_failure_sensor(context)

    markdown, payload = _report(root, result.run_id)
    assert payload["verdict"] == "FAILED"
    assert "certification_suite" in payload["failed_gates"]
    suite = next(g for g in payload["gates"] if g["gate"] == "certification_suite")
    assert suite["status"] == "failed" and suite["evidence_status"] == "UNVERIFIED"
    assert suite["blockers"] and len(suite["remediations"]) == len(set(suite["blockers"]))
    assert any("dagster asset materialize" in line for line in suite["reproduce"])
    assert suite["dpone_command"].startswith("dpone ops certification-suite")
    assert "UNVERIFIED (dpone mock_contract simulation" in markdown
    assert "### `certification_suite`: FAIL" in markdown and "```bash" in markdown
    html = (root / "runs" / result.run_id / "remediation_report.html").read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and "certification_suite" in html
    for text in (markdown, html, json.dumps(payload)):
        assert SECRET not in text

    tags = instance.get_run_by_id(result.run_id).tags  # type: ignore[union-attr]
    assert tags[sensors.TAG_REPORT] == str(root.resolve() / "runs" / result.run_id / "remediation_report.md")
    assert "certification_suite" in tags[sensors.TAG_FAILED_GATES].split(",")
    assert tags[sensors.TAG_VERDICT] == "FAILED"
    assert int(tags[sensors.TAG_BLOCKER_COUNT]) == len(payload["blockers"])


def test_check_failure_sensor(env: None, instance: dg.DagsterInstance, tmp_path: Path) -> None:
    """A passing run moves the cursor without a report; a failed gate check gets its report once, and a second
    evaluation with the returned cursor does nothing."""
    root = tmp_path / "evidence"
    ok = _run(instance, root, ["certification_plan"])
    assert ok.success
    first = sensors.gate_check_failure_sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(first, dg.SensorResult) and first.skip_reason
    assert set(json.loads(first.cursor or "")) == {"certification_plan:verdict"}
    assert not (root / "runs" / ok.run_id / "remediation_report.md").exists()

    # benchmark_baseline fails: a fresh evidence root has no accepted baseline, and the one shipped in the
    # package covers the full 237-case matrix, not this one case
    failed = _run(instance, root, ["certification_plan", "source_sink_matrix", "matrix_report", "benchmark_baseline"])
    assert not failed.success
    second = sensors.gate_check_failure_sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor))
    assert isinstance(second, dg.SensorResult) and not second.skip_reason
    markdown, payload = _report(root, failed.run_id)
    assert payload["failed_gates"] == ["benchmark_baseline"]
    assert payload["blockers"] == ["benchmark.baseline_incomparable"]
    assert "dpone-certify accept-baseline" in markdown
    tags = instance.get_run_by_id(failed.run_id).tags  # type: ignore[union-attr]
    assert tags[sensors.TAG_FAILED_GATES] == "benchmark_baseline"

    third = sensors.gate_check_failure_sensor(dg.build_sensor_context(instance=instance, cursor=second.cursor))
    assert isinstance(third, dg.SensorResult) and third.skip_reason and third.cursor == second.cursor


def test_evidence_root_for_run_falls_back_to_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DPONE_CERTIFY_EVIDENCE_ROOT", str(tmp_path / "env-root"))
    run = dg.DagsterRun(job_name="full_certification", run_config={})
    assert sensors.evidence_root_for_run(run) == (tmp_path / "env-root").resolve()
    assert sensors.expected_gates(run)[0] == "certification_plan"
    assert len(sensors.expected_gates(run)) == len(GATE_ORDER)
    run = dg.DagsterRun(
        job_name="__ASSET_JOB",
        run_config={"resources": {"certify": {"config": {"evidence_root": str(tmp_path / "cfg")}}}},
        asset_selection=frozenset({dg.AssetKey("matrix_report")}),
    )
    assert sensors.evidence_root_for_run(run) == (tmp_path / "cfg").resolve()
    assert sensors.expected_gates(run) == ["matrix_report"]


def test_check_sensor_watches_every_verdict_check_of_the_code_location() -> None:
    keys = sensors.watched_checks(dg.build_sensor_context(definitions=defs))
    assert set(sensors.check_keys()) <= set(keys)
    assert all(key.name == "verdict" for key in keys)
    assert sensors.watched_checks(dg.build_sensor_context()) == sensors.check_keys()
