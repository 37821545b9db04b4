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

    @property
    def report_path(self) -> str | None:
        return self.artifacts.get("report")
