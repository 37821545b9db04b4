"""Typed views of the JSON the release-evidence commands of dpone 0.88 answer with (contracts doc §3).

Only the keys we rely on are declared; extra keys are kept, as in `dpone_certify.dpone.models`."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from dpone_certify.dpone.models import DponeModel


class RuleResult(DponeModel):
    """One rule dpone evaluated, by its code, and whether it held: a security-audit finding, an SLO result."""

    code: str
    passed: bool


# ---- ops security-audit (stdout only) ------------------------------------------------------------------
class SecurityFinding(RuleResult):
    severity: str
    message: str = ""
    action: str = ""


class SecurityAudit(DponeModel):
    passed: bool
    findings: list[SecurityFinding]


# ---- supply-chain attest -------------------------------------------------------------------------------
class SupplyChainAttestation(DponeModel):
    passed: bool
    release: str
    bundle_path: str
    sbom_spdx_path: str = ""
    sbom_cyclonedx_path: str = ""
    provenance_path: str = ""
    signature_path: str = ""
    blockers: list[str] = Field(default_factory=list)


# ---- ops docs-publish-pack -----------------------------------------------------------------------------
class DocsSection(DponeModel):
    name: str
    path: str
    sha256: str
    passed: bool
    summary: str = ""


class DocsPublishPack(DponeModel):
    release: str
    passed: bool
    blockers: list[str]
    sections: list[DocsSection]
    readme_snippet_path: str = ""
    pages_index_path: str = ""


# ---- observability metrics-export / ops slo-evaluate ---------------------------------------------------
class MetricsExport(DponeModel):
    passed: bool
    metric_count: int
    prometheus_path: str
    opentelemetry_path: str
    metrics_index_path: str
    json_report_path: str
    blockers: list[str] = Field(default_factory=list)
    resource_attributes: dict[str, Any] = Field(default_factory=dict)


class SloResult(RuleResult):
    metric: str | None = None
    operator: str | None = None
    actual: Any = None
    objective: Any = None


class SloReport(DponeModel):
    passed: bool
    results: list[SloResult]


# ---- orchestrate run -----------------------------------------------------------------------------------
class OrchestratedRun(DponeModel):
    passed: bool
    status: str
    run_id: str = ""
    lock_key: str = ""
    lock_acquired: bool = False
    stale_lock_replaced: bool = False
    blockers: list[str] = Field(default_factory=list)
    run_result: dict[str, Any] = Field(default_factory=dict)
    job_state: dict[str, Any] = Field(default_factory=dict)
