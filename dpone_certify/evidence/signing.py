"""Exported chain heads, optionally signed: an anchor an auditor can keep outside the evidence root and the
Dagster instance.

An exported head file is JSON: `{"schema", "evidence_root", "source", "exported_at", "head": <chain_head>,
"signature": {"alg", "public_key", "value"} | null}`. The signature covers the canonical JSON of `head`
(sorted keys, no spaces). Signers are pluggable (`Signer`: `alg`, `public_key_hex()`, `sign(bytes)`; a
matching `Verifier`); `Ed25519Signer` reads a PEM private key (`openssl genpkey -algorithm ed25519 -out k.pem`)
and `Ed25519Verifier` a PEM public key (`openssl pkey -in k.pem -pubout -out k.pub`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from dpone_certify.evidence.chain import ChainHead, coerce_head

EXPORT_SCHEMA = "dpone_certify.evidence.exported_head.v1"
_HASH = re.compile(r"^[0-9a-f]{64}$")


class SignatureError(ValueError):
    """A signed head whose signature does not verify, or a key that cannot be used."""


class Signer(Protocol):
    alg: str

    def public_key_hex(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...


class Verifier(Protocol):
    alg: str

    def verify(self, data: bytes, signature: bytes) -> bool: ...


def canonical(head: ChainHead) -> bytes:
    return json.dumps(head.to_metadata(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Ed25519Signer:
    alg = "ed25519"

    def __init__(self, key_file: Path | str) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        try:
            key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise SignatureError(f"cannot read an Ed25519 private key from {key_file}: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SignatureError(f"{key_file} is not an Ed25519 private key")
        self._key = key

    def public_key_hex(self) -> str:
        from cryptography.hazmat.primitives import serialization

        raw = self._key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return raw.hex()

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


class Ed25519Verifier:
    alg = "ed25519"

    def __init__(self, key_file: Path | str) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

        try:
            data = Path(key_file).read_bytes()
            key: Any = (
                serialization.load_pem_private_key(data, password=None).public_key()
                if b"PRIVATE KEY" in data
                else serialization.load_pem_public_key(data)
            )
        except (OSError, ValueError, TypeError) as exc:
            raise SignatureError(f"cannot read an Ed25519 key from {key_file}: {exc}") from None
        if not isinstance(key, Ed25519PublicKey) or isinstance(key, Ed25519PrivateKey):
            raise SignatureError(f"{key_file} is not an Ed25519 key")
        self._key = key

    def verify(self, data: bytes, signature: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            self._key.verify(signature, data)
            return True
        except InvalidSignature:
            return False


SIGNERS: dict[str, Callable[[Path], Signer]] = {"ed25519": Ed25519Signer}
VERIFIERS: dict[str, Callable[[Path], Verifier]] = {"ed25519": Ed25519Verifier}


def export_document(root: Path, head: ChainHead, *, source: str, signer: Signer | None = None) -> dict[str, Any]:
    signature = None
    if signer is not None:
        value = signer.sign(canonical(head)).hex()
        signature = {"alg": signer.alg, "public_key": signer.public_key_hex(), "value": value}
    return {
        "schema": EXPORT_SCHEMA,
        "evidence_root": str(root),
        "source": source,
        "exported_at": datetime.now(UTC).isoformat(),
        "head": head.to_metadata(),
        "signature": signature,
    }


class ExpectedHead:
    """What `verify --expected-head` was given: a head (from an exported file, a chain_head.json copy or JSON
    text) or just a latest chain hash; with its signature status when a verifier key was given."""

    def __init__(self, head: ChainHead | None, latest_hash: str | None, signature_ok: bool | None, note: str) -> None:
        self.head = head
        self.latest_hash = latest_hash
        self.signature_ok = signature_ok
        self.note = note


def load_expected(value: str, *, public_key: Path | None = None, alg: str = "ed25519") -> ExpectedHead:
    """Parse `--expected-head` (a file path, JSON text, or a 64-hex latest chain hash). ValueError when unusable."""
    text: str
    path = Path(value)
    if _HASH.match(value.strip()):
        if public_key is not None:
            raise ValueError("a bare chain hash carries no signature; give an exported head file with --public-key")
        return ExpectedHead(None, value.strip(), None, f"expected latest chain hash {value.strip()[:16]}...")
    if value.lstrip().startswith("{"):
        text = value
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read {value}: {exc.strerror or exc}") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("not a head: a JSON object is expected")
    raw_head = doc.get("head") if doc.get("schema") == EXPORT_SCHEMA else doc
    try:
        head = coerce_head(raw_head)
    except ValueError as exc:
        raise ValueError(f"not a chain head: {str(exc).splitlines()[0]}") from None
    assert head is not None
    signature_ok: bool | None = None
    note = f"expected head of {head.entry_count} entries"
    if public_key is not None:
        sig = doc.get("signature") if doc.get("schema") == EXPORT_SCHEMA else None
        if not isinstance(sig, dict) or not sig.get("value"):
            signature_ok = False
            note += "; it carries no signature"
        else:
            factory = VERIFIERS.get(str(sig.get("alg") or alg))
            if factory is None:
                raise ValueError(f"no verifier for signature algorithm {sig.get('alg')!r}")
            verifier = factory(public_key)
            try:
                signature_ok = verifier.verify(canonical(head), bytes.fromhex(str(sig["value"])))
            except ValueError:
                signature_ok = False
            note += "; signature " + ("verified" if signature_ok else "does NOT verify")
    return ExpectedHead(head, None, signature_ok, note)
