"""Evidence guarantees on the real pipeline: no secret in any output, concurrent runs keep the chain intact,
the content-addressed store keeps repeated evidence once, and the offline verifier agrees with the check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from dpone_certify.certification.layout import EvidenceLayout
from dpone_certify.definitions import ASSETS
from dpone_certify.evidence.store import EvidenceStore
from dpone_certify.evidence.verify import verify_evidence
from tests.conftest import PG_CASE, case_range, materialize

# Every gate of the full certification except dpone's plan.
GATES = [a.key.path[-1] for a in ASSETS if a.key.path[-1] != "certification_plan"]


def _machine_pg() -> bool:
    try:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test", connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001
        return False


@pytest.mark.postgres
@pytest.mark.skipif(not _machine_pg(), reason="the machine's PostgreSQL at 127.0.0.1:5432 is not reachable")
def test_known_secret_never_appears_in_any_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    secret = "Zq8-known-secret-7731"  # trust auth accepts any password, so a real run carries it
    for key, value in {
        "HOST": "127.0.0.1",
        "PORT": "5432",
        "DATABASE": "test",
        "USER": "postgres",
        "PASSWORD": secret,
    }.items():
        monkeypatch.setenv(f"DPONE_IT_PG_{key}", value)
    root = tmp_path / "evidence"
    config = {"evidence_root": str(root), "profile": "local", "row_count": 200}
    with dg.instance_for_test() as instance:
        result = materialize(instance, GATES, cases=["postgres_to_postgres__full_refresh"], config=config)
        records = json.loads(EvidenceLayout(root, result.run_id).matrix_run_path.read_text())
        assert records["records"][0]["engine"], "the case must really have run on the configured PostgreSQL"
        # Every artifact, report and record on disk.
        leaks = [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
        assert leaks == []
        # Every Dagster event: logs, metadata, check evaluations.
        events = "\n".join(repr(e) for e in instance.all_logs(result.run_id))
        assert secret not in events
    out, err = capfd.readouterr()
    assert secret not in out and secret not in err


def test_concurrent_runs_keep_store_and_chain_intact(tmp_path: Path) -> None:
    root = tmp_path / "evidence"
    config = {"evidence_root": str(root), "row_count": 200}
    with dg.instance_for_test() as instance:
        first = materialize(instance, GATES[:-1], cases=case_range(PG_CASE, 2), config=config)
    env = {**os.environ, "DPONE_CERTIFY_EVIDENCE_ROOT": str(root)}
    env.pop("DAGSTER_HOME", None)
    # Each process has a throwaway instance: the run whose artifact index they chain is named explicitly.
    upstream = json.dumps({"resources": {"certify": {"config": {"upstream_run": first.run_id}}}})
    cmd = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "dpone_certify.definitions",
           "--select", "evidence_chain", "--config-json", upstream]  # fmt: skip
    procs = [
        subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    report = verify_evidence(root)
    assert report.intact and report.dpone_verified
    assert report.entry_count == 2  # one append per run, each with its own release id
    index = json.loads((root / "chain" / "evidence_chain_index.json").read_text())
    assert len({e["release"] for e in index["entries"]}) == 2
    assert EvidenceStore(root).verify_objects().ok


def test_repeated_run_adds_little_to_the_store_and_verifies_offline(tmp_path: Path) -> None:
    root = tmp_path / "evidence"
    config = {"evidence_root": str(root), "row_count": 300}
    cases = case_range(PG_CASE, 4)
    with dg.instance_for_test() as instance:
        first = materialize(instance, GATES, cases=cases, config=config)
        second = materialize(instance, GATES, cases=cases, config=config)
        metrics = [
            instance.get_latest_materialization_event(dg.AssetKey("evidence_chain")).asset_materialization.metadata
        ]
    assert first.run_id != second.run_id
    ratio = metrics[0]["store_added_ratio"].value
    assert ratio < 0.10, f"the repeated run added {ratio:.1%} of its raw size"
    cli = subprocess.run(
        [sys.executable, "-m", "dpone_certify.evidence", "verify", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    # Edit one artifact the second index lists: the offline verifier names it, dpone's own verify does not.
    suite = root / "runs" / second.run_id / "certification_suite" / "certification_suite.json"
    suite.write_text(suite.read_text().replace('"passed": false', '"passed": true', 1))
    cli = subprocess.run(
        [sys.executable, "-m", "dpone_certify.evidence", "verify", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 1
    assert "artifact_edited" in cli.stdout and "certification_suite.json" in cli.stdout
