"""What a gate asset produces: its verdict and the artifacts it wrote, stored per asset by the IO manager."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from dpone_certify.dpone.identity import BuildIdentity
from dpone_certify.matrix.records import EvidenceStatus
from dpone_certify.settings import Profile


class GateRecord(BaseModel):
    gate: str
    run_id: str
    profile: Profile  # the profile of the evidence this gate judged
    evidence_status: EvidenceStatus
    passed: bool
    required: bool = True
    blockers: list[str] = Field(default_factory=list)
    artifacts: dict[str, str] = Field(default_factory=dict)  # name -> absolute path; "report" is the main one
    metrics: dict[str, float] = Field(default_factory=dict)
    dpone_command: str | None = None
    summary: str = ""
    output_dir: str
    release: str | None = None
    build: BuildIdentity | None = None  # the dpone build under test (set where records are finished, gates.common)
    extra: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)  # shown with the verdict, never failing it
    consumed_runs: dict[str, str] = Field(default_factory=dict)  # input -> the earlier run it was read from

    @property
    def report_path(self) -> str | None:
        return self.artifacts.get("report")


# An input whose producer crashed or timed out measured nothing: its consumers report that, not a verdict.
CRASH_PREFIXES = ("gate.crashed:", "gate.timeout:", "input.crashed:")


def crashed(blockers: list[str]) -> bool:
    return any(b.startswith(CRASH_PREFIXES) for b in blockers)


def crashed_inputs(records: dict[str, GateRecord | None]) -> list[str]:
    """`input.crashed:<input>` for every input whose own call (or whose inputs) crashed or timed out."""
    return [f"input.crashed:{name}" for name, rec in records.items() if rec is not None and crashed(rec.blockers)]
