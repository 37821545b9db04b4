"""Typed views of the JSON each dpone 0.88 gate answers with (contracts doc §1-§3).

Only the keys we rely on are declared; extra keys are kept (`extra="allow"`) so a newer dpone that adds
fields still parses, while a missing or mistyped key we rely on becomes `artifact.invalid_shape:<gate>`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class DponeModel(BaseModel):
    model_config = ConfigDict(extra="allow")


# ---- certification-automation-plan ----------------------------------------------------------------------
class PlanStep(DponeModel):
    name: str
    command: str
    artifacts: list[str] = Field(default_factory=list)
    required: bool


class CertificationPlan(DponeModel):
    profile: str
    row_count: int
    passed: bool
    step_count: int
    required_artifacts: list[str]
    steps: list[PlanStep]


# ---- integration-matrix-report --------------------------------------------------------------------------
class MatrixReportResult(DponeModel):
    case_id: str
    source: str | None = None
    sink: str | None = None
    strategy: str | None = None
    passed: bool
    preflight_present: bool
    behavior_present: bool
    expected_row_count: int | None = None
    actual_row_count: int | None = None
    quality_checks: list[str] = Field(default_factory=list)
    blockers: list[str] = Field(default_factory=list)


class MatrixReport(DponeModel):
    passed: bool
    total_cases: int
    passed_cases: int
    failed_cases: int
    blockers: list[str]
    results: list[MatrixReportResult]


# ---- benchmark-baseline ---------------------------------------------------------------------------------
class BenchmarkItem(DponeModel):
    metric: str
    direction: str
    actual: float
    baseline: float
    allowed_regression_ratio: float
    allowed_threshold: float
    passed: bool
    action: str | None = None


class BenchmarkReport(DponeModel):
    passed: bool
    allowed_regression_ratio: float
    items: list[BenchmarkItem]


class ArtifactFile(DponeModel):
    """A file dpone lists by name and path: a run-registry entry's artifact, an artifact-index item."""

    name: str
    path: str


# ---- run-registry ---------------------------------------------------------------------------------------
class RegistryArtifact(ArtifactFile):
    sha256: str | None = None
    passed: bool | None = None


class RunRegistryEntry(DponeModel):
    run_id: str
    status: str | None = None
    passed: bool
    blockers: list[str]
    run_result_sha256: str | None = None
    artifacts: list[RegistryArtifact] = Field(default_factory=list)
    entry_path: str
    index_path: str | None = None


# ---- lineage-export ------------------------------------------------------------------------------------
class LineageReport(DponeModel):
    run_id: str
    job_name: str | None = None
    event_type: str
    passed: bool
    blockers: list[str]
    dataset_count: int = 0
    event_path: str | None = None


# ---- evidence-bundle -----------------------------------------------------------------------------------
class BundleItem(DponeModel):
    name: str
    path: str | None = None
    sha256: str | None = None
    required: bool = True
    passed: bool
    evidence_status: str | None = None


class EvidenceBundle(DponeModel):
    run_id: str
    passed: bool
    items: list[BundleItem]


# ---- strategy certification-bundle ---------------------------------------------------------------------
class StrategyBundleStdout(DponeModel):
    json_path: str
    markdown_path: str | None = None


class StrategyBundle(DponeModel):
    bundle_id: str
    passed: bool
    evidence_status: str
    blockers: list[str]
    summary: dict[str, Any] = Field(default_factory=dict)
    evidence_items: list[dict[str, Any]] = Field(default_factory=list)


# ---- certification-suite -------------------------------------------------------------------------------
class SuiteItem(DponeModel):
    name: str
    path: str | None = None
    passed: bool
    required: bool
    missing: bool = False
    evidence_status: str | None = None


class CertificationSuite(DponeModel):
    suite_id: str
    passed: bool
    evidence_status: str | None = None
    blockers: list[str]
    case_count: int = 0
    items: list[SuiteItem]


# ---- artifact-index ------------------------------------------------------------------------------------
class IndexItem(ArtifactFile):
    relative_path: str | None = None
    artifact_type: str | None = None
    sha256: str
    size_bytes: int
    passed: bool | None = None


class ArtifactIndex(DponeModel):
    release: str | None = None
    total_artifacts: int
    total_bytes: int
    passed: bool
    roots: list[str]
    items: list[IndexItem]


# ---- evidence-chain ------------------------------------------------------------------------------------
class ChainEntry(DponeModel):
    release: str
    artifact_index_path: str
    artifact_index_hash: str
    previous_chain_hash: str | None = None
    chain_hash: str
    created_at: str
    entry_path: str


class ChainVerify(DponeModel):
    verified: bool
    entry_count: int
    broken_entries: list[str]


# ---- production-maturity / industrial-readiness --------------------------------------------------------
class ReadinessItem(DponeModel):
    domain: str
    path: str | None = None
    passed: bool
    required: bool | None = None
    missing: bool | None = None
    sha256: str | None = None
    summary: Any = None
    blockers: list[str] = Field(default_factory=list)


class ReadinessReport(DponeModel):
    release: str
    passed: bool
    level: str
    score: float
    blockers: list[str]
    warnings: list[str] = Field(default_factory=list)
    items: list[ReadinessItem]
    matrix: dict[str, Any] | None = None


# ---- run ----------------------------------------------------------------------------------------------
class RunResultBody(DponeModel):
    status: str
    extracted_rows: int | None = None
    inserted_rows: int | None = None
    updated_rows: int | None = None
    final_rows: int | None = None
    duration_seconds: float | None = None
    errors: list[Any] = Field(default_factory=list)
    error_code: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class RunResult(DponeModel):
    run_id: str
    passed: bool
    result: RunResultBody
    process: str | None = None
    manifest: str | None = None
    selector: str | None = None


# ---- simulate (our worker op over dpone's simulation) ----------------------------------------------------
class SimulatedCase(DponeModel):
    case_id: str
    error: str | None = None
    preflight_path: str | None = None
    behavior_path: str | None = None
    passed: bool = False
    expected_row_count: int = 0
    actual_row_count: int = 0
    expected_checksum: str | None = None
    actual_checksum: str | None = None
    changed_row_count: int = 0
    deleted_row_count: int = 0
    wide_column_count: int = 0
    duration_seconds: float = 0.0


class SimulationBatch(DponeModel):
    results: list[SimulatedCase]
