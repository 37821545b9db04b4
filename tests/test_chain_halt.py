"""A break stops the chain (issue 12, item 2), on evidence the real pipeline produced.

The experiment of the issue: drop the chain's last entry and rewrite chain_head.json to match. Every later
run's evidence_chain must fail and append nothing, the head in the Dagster instance must not move, until a
person runs `dpone-certify chain acknowledge`; after that the next run appends again, and `verify` against
the head exported before the rewrite names the truncation as acknowledged, not as INTACT-by-silence."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import dagster as dg
import pytest

from dpone_certify.chain_cli import cmd_acknowledge, cmd_export_head
from dpone_certify.evidence.__main__ import main as verify_main
from dpone_certify.evidence.anchor import instance_state
from dpone_certify.evidence.chain import HALT_FILENAME, HEAD_FILENAME, entry_filename, head_from_entries
from tests.conftest import PG_CASE, materialize

GATES_BEFORE_CHAIN = [
    "certification_plan",
    "source_sink_matrix",
    "matrix_report",
    "benchmark_baseline",
    "run_registry",
    "lineage_report",
    "evidence_bundle",
    "strategy_certification_bundle",
    "certification_suite",
    "artifact_index",
]


def _chain_run(instance: dg.DagsterInstance, config: dict) -> tuple[bool, list[str]]:
    result = materialize(instance, ["evidence_chain"], config=config)
    (ev,) = [e for e in result.get_asset_check_evaluations() if e.asset_key.path[-1] == "evidence_chain"]
    mat = instance.get_latest_materialization_event(dg.AssetKey("evidence_chain"))
    assert mat is not None and mat.run_id == result.run_id
    record = json.loads(
        (Path(config["evidence_root"]) / "runs" / result.run_id / "evidence_chain" / "gate_record.json").read_text()
    )
    return ev.passed, record["blockers"]


def _entries(root: Path) -> list[dict]:
    return json.loads((root / "chain" / "evidence_chain_index.json").read_text())["entries"]


def _drop_last_entry_consistently(root: Path) -> None:
    index_path = root / "chain" / "evidence_chain_index.json"
    index = json.loads(index_path.read_text())
    dropped = index["entries"].pop()
    index["entry_count"] = len(index["entries"])
    index["latest_chain_hash"] = index["entries"][-1]["chain_hash"]
    index_path.write_text(json.dumps(index, indent=2))
    for name in (entry_filename(dropped["release"]), entry_filename(dropped["release"]).replace(".json", ".md")):
        (root / "chain" / name).unlink()
    (root / HEAD_FILENAME).write_text(json.dumps(head_from_entries(index["entries"]).to_metadata(), indent=2))


@pytest.mark.slow
def test_consistent_rewrite_is_caught_on_every_later_run_until_acknowledged(tmp_path: Path) -> None:
    root = tmp_path / "evidence"
    config = {"evidence_root": str(root), "row_count": 200}
    exported = tmp_path / "head-before.json"
    with dg.instance_for_test() as instance:
        materialize(instance, [*GATES_BEFORE_CHAIN, "evidence_chain"], cases=[PG_CASE], config=config)
        assert _chain_run(instance, config)[0]
        assert len(_entries(root)) == 2
        args = argparse.Namespace(evidence_root=str(root), output=str(exported), sign_key=None, alg="ed25519")
        assert cmd_export_head(args, lambda: instance) == 0
        anchored, _ = instance_state(instance, root)
        assert anchored is not None and anchored.entry_count == 2

        _drop_last_entry_consistently(root)
        # Offline, against the exported head, the rewrite is a named truncation (not INTACT).
        assert verify_main(["verify", str(root), "--no-dpone", "--expected-head", str(exported)]) == 1

        for _ in range(2):  # caught on every later run, not only the first
            passed, blockers = _chain_run(instance, config)
            assert not passed
            assert "chain.halted" in blockers
            assert len(_entries(root)) == 1  # nothing appended on top of the rewrite
            head, halt = instance_state(instance, root)
            assert head == anchored  # the instance's head was not advanced from the broken chain
            assert halt is not None and any(b["break_class"] == "truncated" for b in halt["breaks"])
        assert (root / HALT_FILENAME).exists()

        # Removing the halt file does not lift the halt: the instance recorded it.
        (root / HALT_FILENAME).unlink()
        passed, blockers = _chain_run(instance, config)
        assert not passed and "chain.halted" in blockers and len(_entries(root)) == 1

        ack = argparse.Namespace(evidence_root=str(root), reason="tail entry lost in a restore; reviewed", by="auditor")
        assert cmd_acknowledge(ack, lambda: instance) == 0
        entries = _entries(root)
        assert len(entries) == 2 and entries[-1]["release"].startswith("acknowledgment-")
        assert not (root / HALT_FILENAME).exists()

        passed, blockers = _chain_run(instance, config)
        assert passed, blockers
        assert len(_entries(root)) == 3

    # The acknowledgment is on record: against the old head the truncation is acknowledged, by whom and why.
    assert verify_main(["verify", str(root), "--no-dpone", "--expected-head", str(exported)]) == 0
    ack_file = next((root / "acknowledgments").glob("*/chain_acknowledgment.json"))
    record = json.loads(ack_file.read_text())
    assert record["acknowledged_by"] == "auditor" and "restore" in record["reason"]
    assert any(b["break_class"] == "truncated" for b in record["breaks"])
    # ...and editing the acknowledgment is itself a break.
    ack_file.write_text(ack_file.read_text().replace("auditor", "someone-else"))
    assert verify_main(["verify", str(root), "--no-dpone"]) == 1
