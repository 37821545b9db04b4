"""End to end through the UI's server: materialize with the CLI, start `dagster-webserver` on the workspace,
read the asset graph, the latest materialization and the check execution over GraphQL, stop it with SIGINT."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GROUP = "full_certification"
GATES = {
    "certification_plan", "reconciliation_selftest", "source_sink_matrix", "matrix_report", "benchmark_baseline",
    "run_registry", "lineage_report", "evidence_bundle", "strategy_certification_bundle", "certification_suite",
    "artifact_index", "evidence_chain", "certification_report",
}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(tmp_path: Path) -> dict[str, str]:
    """A DAGSTER_HOME whose dagster.yaml is the repository's, with its storage moved into tmp."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    config = yaml.safe_load((REPO / "dagster.yaml").read_text(encoding="utf-8"))
    config["storage"]["sqlite"]["base_dir"] = str(tmp_path / "storage")
    (home / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**os.environ, "DAGSTER_HOME": str(home), "DPONE_CERTIFY_EVIDENCE_ROOT": str(tmp_path / "evidence")}
    env.pop("DPONE_CERTIFY_PROFILE", None)
    return env


def _gql(base: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{base}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        payload = json.loads(response.read())
    assert "errors" not in payload, payload["errors"]
    return dict(payload["data"])


@pytest.fixture
def webserver(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], subprocess.Popen[bytes], dict[str, float]]]:
    env = _env(tmp_path)
    port = _free_port()
    log = (tmp_path / "webserver.log").open("wb")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    timing: dict[str, float] = {}
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"webserver exited rc={proc.returncode}: {(tmp_path / 'webserver.log').read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(f"{base}/server_info", timeout=2) as response:
                    info = json.loads(response.read())
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail("webserver did not answer /server_info within 90 s")
                time.sleep(0.25)
        timing["server_info_s"] = time.perf_counter() - started
        assert info["dagster_version"].startswith("1.13.")
        yield base, env, proc, timing
    finally:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGINT)
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        log.close()


ASSET_GRAPH = """
query { assetNodes { assetKey { path } groupName dependencyKeys { path } hasAssetChecks } }
"""
LATEST = """
query Latest($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    ... on Asset {
      assetMaterializations(limit: 1) {
        runId
        metadataEntries {
          label
          __typename
          ... on MarkdownMetadataEntry { mdStr }
          ... on BoolMetadataEntry { boolValue }
          ... on TableMetadataEntry { table { records } }
        }
      }
    }
  }
  assetCheckExecutions(assetKey: $key, checkName: "verdict", limit: 5) {
    runId
    status
    evaluation { success severity description metadataEntries { label } }
  }
  locationStatusesOrError { ... on WorkspaceLocationStatusEntries { entries { name loadStatus } } }
}
"""


@pytest.mark.slow
def test_webserver_graphql(webserver: tuple[str, dict[str, str], subprocess.Popen[bytes], dict[str, float]]) -> None:
    base, env, proc, timing = webserver
    # materialize through the CLI on the same instance, while the webserver is up (it reads the same storage)
    mat = subprocess.run(
        [str(BIN / "dagster"), "asset", "materialize", "-m", "dpone_certify.definitions", "--select",
         "certification_plan"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert mat.returncode == 0, mat.stderr[-3000:]

    started = time.perf_counter()
    nodes = _gql(base, ASSET_GRAPH)["assetNodes"]
    group = {n["assetKey"]["path"][-1]: n for n in nodes if n["groupName"] == GROUP}
    assert set(group) == GATES
    assert all(n["hasAssetChecks"] for n in group.values())
    assert [d["path"] for d in group["matrix_report"]["dependencyKeys"]] == [["source_sink_matrix"]]

    data = _gql(base, LATEST, {"key": {"path": ["certification_plan"]}})
    timing["graphql_s"] = time.perf_counter() - started
    entries = data["locationStatusesOrError"]["entries"]
    assert [(e["name"], e["loadStatus"]) for e in entries] == [("dpone_certify", "LOADED")]
    (materialization,) = data["assetOrError"]["assetMaterializations"]
    metadata = {e["label"]: e for e in materialization["metadataEntries"]}
    assert metadata["passed"]["boolValue"] is True
    assert metadata["summary"]["__typename"] == "MarkdownMetadataEntry"
    assert "## certification_plan: PASSED" in metadata["summary"]["mdStr"]
    assert metadata["steps"]["table"]["records"]
    (execution,) = data["assetCheckExecutions"]
    assert execution["runId"] == materialization["runId"]
    assert execution["status"] == "SUCCEEDED"
    assert execution["evaluation"]["success"] is True and execution["evaluation"]["severity"] == "ERROR"
    assert {"summary", "remediation"} <= {e["label"] for e in execution["evaluation"]["metadataEntries"]}

    # stop: SIGINT to the process group (webserver and its code-server child)
    stopped = time.perf_counter()
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=30) is not None
    timing["stop_s"] = time.perf_counter() - stopped
    deadline = time.monotonic() + 30
    while True:  # the code-server child goes too
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "processes of the webserver's group still alive 30 s after SIGINT"
        time.sleep(0.2)
    timing["group_gone_s"] = time.perf_counter() - stopped
    print(f"\nwebserver timings: {json.dumps({k: round(v, 2) for k, v in timing.items()})}")


CASE_VERDICT = """
query Case($key: AssetKeyInput!, $partition: String!, $runId: ID!) {
  assetCheckExecutions(assetKey: $key, checkName: "case_verdict", partition: $partition, limit: 1) {
    runId status partition evaluation { success severity description partition }
  }
  assetOrError(assetKey: $key) {
    ... on Asset {
      assetMaterializations(partitions: [$partition], limit: 1) {
        runId partition
        metadataEntries {
          label ... on MarkdownMetadataEntry { mdStr } ... on PathMetadataEntry { path }
          ... on TextMetadataEntry { text }
        }
      }
    }
  }
  runOrError(runId: $runId) { ... on Run { jobName tags { key value } } }
}
"""
JOB_RUNS = """
{ runsOrError(filter: {pipelineName: "full_certification",
                       tags: [{key: ".dagster/repository", value: "__repository__@dpone_certify"}]}) {
    ... on Runs { results { runId } } } }
"""
LOCAL_CASE = "postgres_to_postgres__full_refresh"  # dpone 0.88.0 fails it for real (timestamptz -> timestamp)


@pytest.mark.slow
def test_failed_local_case_verdict_and_run_tags_over_graphql(
    webserver: tuple[str, dict[str, str], subprocess.Popen[bytes], dict[str, float]],
) -> None:
    base, env, _proc, _timing = webserver
    run = subprocess.run(
        [str(BIN / "dpone-certify"), "run", "--profile", "local", "--case", LOCAL_CASE, "--row-count", "200",
         "--select", "source_sink_matrix", "--select", "certification_report"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    run_id = run.stdout.split("dpone-certify run ", 1)[1].split()[0]
    data = _gql(base, CASE_VERDICT, {"key": {"path": ["source_sink_matrix"]}, "partition": LOCAL_CASE, "runId": run_id})
    (execution,) = data["assetCheckExecutions"]
    assert execution["runId"] == run_id and execution["partition"] == LOCAL_CASE
    evaluation = execution["evaluation"]
    assert evaluation["success"] is False and evaluation["severity"] == "ERROR"
    assert evaluation["description"].startswith("failed (local profile): ")
    (mat,) = data["assetOrError"]["assetMaterializations"]
    entries = {e["label"]: e for e in mat["metadataEntries"]}
    assert mat["partition"] == LOCAL_CASE and mat["runId"] == run_id
    assert entries["evidence/behavior"]["path"].endswith(f"{LOCAL_CASE}__behavior.json")
    # per-column findings name their columns (tests/report covers the naming; here: present iff reported)
    blockers = entries["case_blockers"]["text"] if "case_blockers" in entries else ""
    assert ("case_column_findings" in entries) == ("type_fidelity." in blockers)
    details = data["runOrError"]
    tags = {t["key"]: t["value"] for t in details["tags"]}
    assert details["jobName"] == "full_certification"
    assert tags["dpone_certify/profile"] == "local" and tags["dpone_certify/verdict"] == "NOT CERTIFIED"
    assert tags["dpone_certify/dpone_version"] == "0.88.0" and tags["dpone_certify/release"] == "dpone-0.88.0"
    assert tags["dpone_certify/certification_report"].endswith("certification_report.html")
    # the job's page lists it (the UI filters a job's runs by code location)
    listed = _gql(base, JOB_RUNS)["runsOrError"]["results"]
    assert run_id in [r["runId"] for r in listed]


def test_ui_doc_has_the_screenshot_command() -> None:
    """docs/ui.md tells how to take the screenshot; keep the command runnable (flags only, no browser run)."""
    text = (REPO / "docs" / "ui.md").read_text(encoding="utf-8") if (REPO / "docs" / "ui.md").exists() else ""
    if not text:
        pytest.skip("docs/ui.md not written yet")
    assert "--headless" in text and "--user-data-dir" in text
    assert shutil.which("dagster-webserver", path=str(BIN)) is not None
