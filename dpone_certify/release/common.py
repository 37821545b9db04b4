"""What a release producer hands to the gates: per domain produced / failed / missing, never a stub."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from dpone_certify.dpone.adapter import DponeAdapter, DponeCall, DponeCallError
from dpone_certify.evidence.atomic import atomic_write_json
from dpone_certify.matrix.records import EvidenceStatus

DOMAINS_KEY = "domains"
M = TypeVar("M", bound=BaseModel)


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

    @property
    def evidence_status(self) -> EvidenceStatus:
        if self.passed:
            return EvidenceStatus.PASS
        if self.domains and all(d.status is DomainStatus.MISSING for d in self.domains):
            return EvidenceStatus.NOT_COVERED
        return EvidenceStatus.FAIL

    def summary_markdown(self) -> str:
        lines = [self.summary, ""] + [
            f"- **{d.name}**: {d.status.value}" + (f" — {d.reason}" if d.reason else "") for d in self.domains
        ]
        return "\n".join(lines).strip()

    def domain_rows(self) -> list[dict[str, Any]]:
        return [
            {"domain": d.name, "status": d.status.value, "artifact": d.artifact or "", "reason": d.reason}
            for d in self.domains
        ]


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


def ask_dpone(
    result: ProducerResult, adapter: DponeAdapter, gate: str, argv: list[str], model: type[M], domain: str, cwd: Path
) -> tuple[M | None, DponeCall]:
    """Call dpone for a producer's `domain` (`--format json` appended). On no readable answer the call's blocker
    is recorded and the domain is reported missing with what happened; the answer is None then."""
    call = adapter.cli(gate, [*argv, "--format", "json"], cwd=cwd)
    result.command = call.command
    try:
        return call.parse(model), call
    except DponeCallError as exc:
        result.block(exc.blocker)
        what = "dpone " + " ".join(argv[:2])
        result.domains.append(missing(domain, f"{what} gave no verdict: {call.describe()}"))
        return None, call


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
