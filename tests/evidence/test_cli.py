"""`python -m dpone_certify.evidence verify`: exit 0 intact, 1 broken (each break named), 2 usage error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dpone_certify.evidence.__main__ import main

from .conftest import Evidence


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dpone_certify.evidence", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_exit_0_when_intact(evidence: Evidence, tmp_path: Path) -> None:
    done = cli("verify", str(evidence.root), cwd=tmp_path)  # another cwd on purpose
    assert done.returncode == 0, done.stdout + done.stderr
    assert "INTACT" in done.stdout and "dpone evidence-chain-verify: verified" in done.stdout


def test_exit_1_names_each_break(evidence: Evidence, tmp_path: Path) -> None:
    edited = evidence.run_dir(0) / "benchmark_baseline" / "benchmark_baseline.json"
    edited.write_text(edited.read_text().replace("true", "false"))
    deleted = evidence.run_dir(2) / "strategy" / "strategy_certification_bundle.json"
    deleted.unlink()
    done = cli("verify", str(evidence.root), "--no-dpone", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("BREAK ")]
    assert lines == [
        f"BREAK artifact_edited release={evidence.releases[0]} position=0 artifact={edited}: "
        + lines[0].split(": ", 1)[1],
        f"BREAK artifact_deleted release={evidence.releases[2]} position=2 artifact={deleted}: "
        "an artifact the index lists is gone",
    ]
    assert "remediation:" in done.stdout

    as_json = cli("verify", str(evidence.root), "--no-dpone", "--json", cwd=tmp_path)
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert [b["break_class"] for b in report["breaks"]] == ["artifact_edited", "artifact_deleted"]
    assert report["dpone_verified"] is None and report["intact"] is False


def test_exit_2_for_usage_errors(tmp_path: Path, capsys: object) -> None:
    done = cli("verify", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert done.returncode == 2 and "does not exist" in done.stderr
    assert main([]) == 2
    assert main(["verify"]) == 2
    assert main(["verify", str(tmp_path), "--expected-head", str(tmp_path / "missing.json")]) == 2


def test_main_in_process_with_expected_head(evidence: Evidence, tmp_path: Path) -> None:
    head = tmp_path / "anchored_head.json"
    head.write_text((evidence.root / "chain_head.json").read_text())
    assert main(["verify", str(evidence.root), "--no-dpone", "--expected-head", str(head), "--store"]) == 0


def test_signed_exported_head_verifies_and_a_forged_one_is_named(evidence: Evidence, tmp_path: Path) -> None:
    import argparse

    import dagster as dg
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from dpone_certify.chain_cli import cmd_export_head

    key = Ed25519PrivateKey.generate()
    key_file = tmp_path / "head.pem"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    pub_file = tmp_path / "head.pub"
    pub_file.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    exported = tmp_path / "exported.json"
    args = argparse.Namespace(
        evidence_root=str(evidence.root), output=str(exported), sign_key=str(key_file), alg="ed25519"
    )
    assert cmd_export_head(args, dg.DagsterInstance.ephemeral) == 0  # no anchor there: the verified head file
    verify = ["verify", str(evidence.root), "--no-dpone", "--no-store", "--expected-head", str(exported)]
    assert main([*verify, "--public-key", str(pub_file)]) == 0

    # A forged head (one entry fewer, to bless a truncation) keeps the old signature: named, exit 1.
    doc = json.loads(exported.read_text())
    doc["head"]["chain_hashes"].pop()
    doc["head"]["releases"].pop()
    doc["head"]["entry_count"] -= 1
    doc["head"]["latest_chain_hash"] = doc["head"]["chain_hashes"][-1]
    exported.write_text(json.dumps(doc))
    done = cli(*verify, "--public-key", str(pub_file), cwd=tmp_path)
    assert done.returncode == 1 and "BREAK head_signature_invalid" in done.stdout, done.stdout + done.stderr

    # The latest chain hash alone is an anchor too.
    latest = evidence.head()["latest_chain_hash"]
    assert main(["verify", str(evidence.root), "--no-dpone", "--expected-head", latest]) == 0
    assert main(["verify", str(evidence.root), "--no-dpone", "--expected-head", "0" * 64]) == 1
