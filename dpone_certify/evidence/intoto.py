"""Standard envelopes for our evidence: in-toto Statements v1.

- `case_result_statement`: one certification case as a Test Result predicate
  (https://in-toto.io/attestation/test-result/v0.1); the subjects are the case's evidence files with their
  sha256, so a consumer can check that the files it holds are the ones that were judged.
- `verification_summary`: a gate decision as a SLSA Verification Summary (https://slsa.dev/verification_summary/v1).
- `sign_statement`: wraps a statement in a DSSE envelope when a `Signer` is plugged in (Sigstore, a KMS, a
  local key: anything with `keyid` and `sign(bytes) -> bytes`). Without one the result says plainly that the
  statement is unsigned; DSSE requires at least one signature, so no envelope is made up.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from dpone_certify.evidence.chain import sha256_path

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
TEST_RESULT_PREDICATE = "https://in-toto.io/attestation/test-result/v0.1"
VSA_PREDICATE = "https://slsa.dev/verification_summary/v1"
DSSE_PAYLOAD_TYPE = "application/vnd.in-toto+json"
VERIFIER_ID = "urn:dpone-certify:verifier"  # a name for this verifier, not a location
UNSIGNED_NOTE = "unsigned: no signer configured; integrity rests on the subject digests and the evidence chain"


@runtime_checkable
class Signer(Protocol):
    """Pluggable signer: `keyid` names the key, `sign` returns the raw signature over DSSE's PAE bytes."""

    keyid: str

    def sign(self, payload: bytes) -> bytes: ...


def subjects(files: Mapping[str, Path | str]) -> list[dict[str, Any]]:
    """ResourceDescriptors `{name, digest: {sha256}}`, sorted by name; a missing file raises."""
    return [{"name": name, "digest": {"sha256": sha256_path(Path(path))}} for name, path in sorted(files.items())]


def case_result_statement(
    case_id: str,
    passed: bool,
    evidence_files: Mapping[str, Path | str],
    *,
    configuration: Sequence[Mapping[str, Any]] = (),
    url: str | None = None,
    warned: bool = False,
) -> dict[str, Any]:
    """An in-toto Statement v1 with a Test Result predicate for one case.

    `configuration` are ResourceDescriptors of what configured the run (e.g. the case definition with its
    digest); the case itself is listed in passedTests / warnedTests / failedTests.
    """
    if not evidence_files:
        raise ValueError("a test-result statement needs at least one evidence file as its subject")
    result = "FAILED" if not passed else ("WARNED" if warned else "PASSED")
    predicate: dict[str, Any] = {
        "result": result,
        "configuration": [dict(c) for c in configuration],
        "passedTests": [case_id] if result == "PASSED" else [],
        "warnedTests": [case_id] if result == "WARNED" else [],
        "failedTests": [case_id] if result == "FAILED" else [],
    }
    if url:
        predicate["url"] = url
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects(evidence_files),
        "predicateType": TEST_RESULT_PREDICATE,
        "predicate": predicate,
    }


def verification_summary(
    *,
    gate: str,
    passed: bool,
    subject_files: Mapping[str, Path | str],
    resource_uri: str,
    policy_uri: str,
    policy_digest: Mapping[str, str] | None = None,
    input_attestations: Sequence[Mapping[str, Any]] = (),
    verified_levels: Sequence[str] | None = None,
    verifier_version: Mapping[str, str] | None = None,
    time_verified: datetime | None = None,
) -> dict[str, Any]:
    """A gate decision as a SLSA VSA v1 Statement. `verifiedLevels` defaults to our own level name
    `DPONE_CERTIFY_GATE_<GATE>` when passed (custom levels must not start with `SLSA_`) and is empty when
    failed."""
    if verified_levels is None:
        verified_levels = [f"DPONE_CERTIFY_GATE_{gate.upper()}"] if passed else []
    policy: dict[str, Any] = {"uri": policy_uri}
    if policy_digest:
        policy["digest"] = dict(policy_digest)
    verifier: dict[str, Any] = {"id": VERIFIER_ID}
    if verifier_version:
        verifier["version"] = dict(verifier_version)
    when = (time_verified or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects(subject_files),
        "predicateType": VSA_PREDICATE,
        "predicate": {
            "verifier": verifier,
            "timeVerified": when,
            "resourceUri": resource_uri,
            "policy": policy,
            "inputAttestations": [dict(a) for a in input_attestations],
            "verificationResult": "PASSED" if passed else "FAILED",
            "verifiedLevels": list(verified_levels),
            "slsaVersion": "1.0",
        },
    }


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: the bytes a signer signs."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def canonical_bytes(statement: Mapping[str, Any]) -> bytes:
    return json.dumps(statement, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def sign_statement(statement: Mapping[str, Any], signer: Signer | None = None) -> dict[str, Any]:
    """`{"signed": true, "envelope": <DSSE>}` with a signer;
    `{"signed": false, "note": ..., "statement": ...}` without one."""
    if signer is None:
        return {"signed": False, "note": UNSIGNED_NOTE, "statement": dict(statement)}
    body = canonical_bytes(statement)
    signature = signer.sign(pae(DSSE_PAYLOAD_TYPE, body))
    return {
        "signed": True,
        "envelope": {
            "payloadType": DSSE_PAYLOAD_TYPE,
            "payload": base64.b64encode(body).decode("ascii"),
            "signatures": [{"keyid": signer.keyid, "sig": base64.b64encode(signature).decode("ascii")}],
        },
    }
