"""in-toto Statement v1 envelopes for case results and gate decisions; pluggable signing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

from dpone_certify.evidence.intoto import (
    DSSE_PAYLOAD_TYPE,
    Signer,
    case_result_statement,
    pae,
    sign_statement,
    verification_summary,
)


def files(tmp_path: Path) -> dict[str, Path]:
    a = tmp_path / "pg_to_pg__merge__behavior.json"
    b = tmp_path / "reconciliation.json"
    a.write_text('{"passed": true}')
    b.write_text('{"rows": 10}')
    return {a.name: a, b.name: b}


def test_case_result_statement(tmp_path: Path) -> None:
    evidence = files(tmp_path)
    st = case_result_statement(
        "postgres_to_postgres__incremental_merge",
        True,
        evidence,
        configuration=[{"name": "case.json", "digest": {"sha256": "0" * 64}}],
        url="dagster://runs/abc",
    )
    assert st["_type"] == "https://in-toto.io/Statement/v1"
    assert st["predicateType"] == "https://in-toto.io/attestation/test-result/v0.1"
    assert st["subject"] == [
        {"name": name, "digest": {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}}
        for name, path in sorted(evidence.items())
    ]
    pred = st["predicate"]
    assert pred["result"] == "PASSED" and pred["url"] == "dagster://runs/abc"
    assert pred["passedTests"] == ["postgres_to_postgres__incremental_merge"] and pred["failedTests"] == []
    failed = case_result_statement("c", False, evidence)
    assert failed["predicate"]["result"] == "FAILED" and failed["predicate"]["failedTests"] == ["c"]
    assert "url" not in failed["predicate"] and failed["predicate"]["configuration"] == []


def test_verification_summary(tmp_path: Path) -> None:
    vsa = verification_summary(
        gate="evidence_chain",
        passed=True,
        subject_files=files(tmp_path),
        resource_uri="dpone-certify:release/0.88.0",
        policy_uri="dpone-certify:policy/evidence_chain",
    )
    assert vsa["predicateType"] == "https://slsa.dev/verification_summary/v1"
    pred = vsa["predicate"]
    assert pred["verificationResult"] == "PASSED"
    assert pred["verifiedLevels"] == ["DPONE_CERTIFY_GATE_EVIDENCE_CHAIN"]
    assert pred["timeVerified"].endswith("Z") and pred["slsaVersion"] == "1.0"
    assert {"verifier", "resourceUri", "policy", "inputAttestations"} <= set(pred)


class HmacSigner:
    keyid = "test-key"

    def __init__(self, key: bytes) -> None:
        self.key = key

    def sign(self, payload: bytes) -> bytes:
        return hmac.new(self.key, payload, hashlib.sha256).digest()


def test_unsigned_by_default_and_says_so(tmp_path: Path) -> None:
    st = case_result_statement("c", True, files(tmp_path))
    out = sign_statement(st)
    assert out["signed"] is False and "unsigned" in out["note"] and out["statement"] == st


def test_pluggable_signer_produces_a_dsse_envelope(tmp_path: Path) -> None:
    signer = HmacSigner(b"k")
    assert isinstance(signer, Signer)
    st = case_result_statement("c", True, files(tmp_path))
    env = sign_statement(st, signer)["envelope"]
    body = base64.b64decode(env["payload"])
    assert json.loads(body) == st and env["payloadType"] == DSSE_PAYLOAD_TYPE
    sig = base64.b64decode(env["signatures"][0]["sig"])
    assert hmac.compare_digest(sig, signer.sign(pae(DSSE_PAYLOAD_TYPE, body)))
    assert env["signatures"][0]["keyid"] == "test-key"
