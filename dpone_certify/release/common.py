"""What a release producer hands to the gates: per domain produced / failed / missing, never a stub."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from dpone_certify.evidence.atomic import atomic_write_json

DOMAINS_KEY = "domains"


class DomainStatus(StrEnum):
    PRODUCED = "produced"  # a real producer wrote the artifact and it holds what it claims
    FAILED = "failed"  # a real producer wrote the artifact, and it reports a failure (still handed to dpone)
    MISSING = "missing"  # nothing real could be produced here; the gate is not given any artifact


@dataclass
class Domain:
    name: str
    status: DomainStatus
    artifact: str | None = None  # what dpone's gate reads for this domain (absolute path)
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status.value, "artifact": self.artifact, "reason": self.reason}


@dataclass
class ProducerResult:
    domains: list[Domain] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    summary: str = ""
    command: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def block(self, *blockers: str) -> None:
        for blocker in blockers:
            if blocker not in self.blockers:
                self.blockers.append(blocker)

    @property
    def passed(self) -> bool:
        return not self.blockers and all(d.status is DomainStatus.PRODUCED for d in self.domains)


def produced(name: str, artifact: Path | str, *, passed: bool, reason: str = "") -> Domain:
    status = DomainStatus.PRODUCED if passed else DomainStatus.FAILED
    return Domain(name=name, status=status, artifact=str(Path(artifact).resolve()), reason=reason)


def missing(name: str, reason: str) -> Domain:
    return Domain(name=name, status=DomainStatus.MISSING, reason=reason)


def domains_of(extra: dict[str, Any]) -> dict[str, Domain]:
    raw = extra.get(DOMAINS_KEY) or {}
    return {
        name: Domain(
            name=name, status=DomainStatus(d["status"]), artifact=d.get("artifact"), reason=d.get("reason", "")
        )
        for name, d in raw.items()
    }


def write_json(path: Path, payload: Any) -> Path:
    atomic_write_json(path, payload)
    return path.resolve()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))
