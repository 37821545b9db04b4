"""Typed records that flow between the matrix and the gates that consume it."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from dpone_certify.dpone.identity import BuildIdentity
from dpone_certify.settings import Profile


class CaseSpec(BaseModel):
    """One source -> sink -> strategy case as dpone's `IntegrationMatrixCase.to_dict()` describes it."""

    case_id: str
    pair_id: str
    source: str
    sink: str
    strategy: str
    guide: str
    install_extras: list[str]
    required_profiles: list[str]
    live_profiles: list[str]
    local_service_supported: bool
    external_credentials_required: bool = False


class CaseStatus(StrEnum):
    PASSED = "passed"  # the case ran and every check held
    FAILED = "failed"  # the case ran and a check failed (blockers say which)
    NOT_COVERED = "not_covered"  # the case could not run here (engine unavailable); never a pass
    ERROR = "error"  # our harness or dpone broke before a verdict


class EvidenceStatus(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    UNVERIFIED = "UNVERIFIED"  # dpone's mock_contract simulation: proves a contract exists, not that data moved
    NOT_COVERED = "NOT_COVERED"


class CaseSettings(BaseModel):
    row_count: int
    change_ratio: float
    delete_ratio: float
    wide_columns: int = 120


class CaseRecord(BaseModel):
    """What one matrix partition produced. Stored per partition by the evidence IO manager."""

    case_id: str
    source: str
    sink: str
    strategy: str
    profile: Profile
    status: CaseStatus
    evidence_status: EvidenceStatus
    run_id: str
    settings: CaseSettings
    preflight_path: str | None = None  # dpone's preflight file (`IntegrationMatrixCase.to_json()`)
    behavior_path: str | None = None  # dpone's `<case_id>__behavior.json` format
    artifacts: dict[str, str] = Field(default_factory=dict)  # further evidence: name -> absolute path
    engine: dict[str, str] = Field(default_factory=dict)  # which engines really ran: {"source": ..., "sink": ...}
    blockers: list[str] = Field(default_factory=list)
    reason: str | None = None  # why not covered / errored, and how to enable it
    rows_moved: int = 0  # rows that reached the target (contract: simulated rows)
    expected_row_count: int | None = None
    actual_row_count: int | None = None
    changed_row_count: int = 0
    deleted_row_count: int = 0
    wide_columns: int = 0
    load_seconds: float = 0.0  # our wall clock for the extract+load (all dpone runs of the case)
    reconcile_seconds: float | None = None  # our wall clock for reconciliation
    dpone_rows_per_second: float | None = None  # dpone's self-reported throughput (first load)
    build: BuildIdentity | None = None  # the dpone build that ran this case (set by the matrix asset)

    @classmethod
    def for_case(cls, case: CaseSpec, **fields: Any) -> CaseRecord:
        """A record of `case`, its identity taken from the catalogue entry."""
        return cls(case_id=case.case_id, source=case.source, sink=case.sink, strategy=case.strategy, **fields)

    @property
    def covered(self) -> bool:
        return self.status in (CaseStatus.PASSED, CaseStatus.FAILED)
