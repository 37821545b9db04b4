"""The `certify` resource: per-run settings with environment defaults.

Every field defaults to None, meaning "take it from the environment" at run time. A run-config block for a
resource replaces all of its code-level config (dagster-1.13 notes §5), so env-backed values must not live
in the code-level config: with None defaults, `{"profile": "local"}` in run config changes only the profile.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

import dagster as dg
from pydantic import Field

from dpone_certify import settings
from dpone_certify.certification.layout import EvidenceLayout
from dpone_certify.dpone.adapter import DponeAdapter
from dpone_certify.matrix.local.engines import ENGINE_SETTINGS, Engine, mysql_engine, postgres_engine
from dpone_certify.matrix.records import CaseSettings
from dpone_certify.secrets import secret_values_from_env
from dpone_certify.settings import Profile


class CertifyResource(dg.ConfigurableResource):
    profile: str | None = Field(
        default=None, description="contract | local | live (default: $DPONE_CERTIFY_PROFILE or contract)"
    )
    evidence_root: str | None = Field(
        default=None, description="default: $DPONE_CERTIFY_EVIDENCE_ROOT or ./.dpone-certify/evidence"
    )
    release: str | None = Field(
        default=None, description="release name (default: $DPONE_CERTIFY_RELEASE or dpone-<version>)"
    )
    row_count: int = Field(
        default=settings.DEFAULT_ROW_COUNT, description="rows per matrix case (dpone clamps to 1..100000)"
    )
    change_ratio: float = settings.DEFAULT_CHANGE_RATIO
    delete_ratio: float = settings.DEFAULT_DELETE_RATIO
    max_parallel: int = Field(default=2, description="matrix cases run at once")
    gate_timeout_seconds: float | None = Field(
        default=None, description="default: $DPONE_CERTIFY_GATE_TIMEOUT_SECONDS or 900"
    )
    dpone_python: str | None = Field(
        default=None,
        description="python of another dpone build to certify (isolated mode); default: this process",
    )
    dpone_wheel: str | None = Field(
        default=None,
        description="a dpone wheel to certify (isolated mode): a venv with it is built once per wheel and used as "
        "dpone_python; the cache is $DPONE_CERTIFY_INTERPRETER_CACHE or interpreters/ next to the evidence root",
    )
    upstream_run: str | None = Field(
        default=None,
        description="run id whose records feed the gates this run does not materialize (a partial selection); "
        "default: the run the Dagster instance recorded as each upstream's latest materialization",
    )
    evidence_case: str | None = Field(
        default=None,
        description="case whose rows feed evidence-bundle (default: first covered case of the matrix)",
    )
    keep_schemas: bool = Field(
        default=False, description="local/live: keep each case's source/target/staging schemas to inspect them"
    )
    allowed_regression_ratio: float = Field(
        default=0.25,
        description="benchmark tolerance; dpone's default is 0.10, but runs on shared 2-core machines vary by ~20%",
    )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Start dpone's fork server while Dagster sets the run up (its ~2.5 s start then overlaps that work).
        if not (self.dpone_python or self.dpone_wheel or settings.env_dpone_python()):
            DponeResource().setup_for_execution(context)

    def resolved_profile(self) -> Profile:
        return Profile(self.profile) if self.profile else settings.env_profile()

    def root(self) -> Path:
        return Path(self.evidence_root).expanduser().resolve() if self.evidence_root else settings.env_evidence_root()

    def timeout(self) -> float:
        return self.gate_timeout_seconds if self.gate_timeout_seconds is not None else settings.env_timeout()

    def adapter(self) -> DponeAdapter:
        python = self.dpone_python
        if python is None and self.dpone_wheel:
            from dpone_certify.dpone.interpreter import default_cache_root, ensure_interpreter

            python = str(ensure_interpreter(Path(self.dpone_wheel), default_cache_root(self.root())))
        return DponeResource(dpone_python=python).adapter(timeout_seconds=self.timeout())

    def release_name(self) -> str:
        from dpone_certify.matrix.catalogue import dpone_version

        raw = self.release or settings.env_release() or f"dpone-{dpone_version()}"
        return re.sub(r"[^A-Za-z0-9._-]+", "-", raw)

    def case_settings(self) -> CaseSettings:
        return CaseSettings(row_count=self.row_count, change_ratio=self.change_ratio, delete_ratio=self.delete_ratio)

    def layout(self, run_id: str | None = None) -> EvidenceLayout:
        return EvidenceLayout(self.root(), run_id)

    def gate_dir(self, run_id: str, gate: str) -> Path:
        """Each run writes under its own folder (created): see `EvidenceLayout.gate_dir`."""
        return self.layout(run_id).gate_dir(gate)


class DponeResource(dg.ConfigurableResource):
    """dpone, the system under test: builds the adapter every gate calls through. Started at run start (the fork
    server's ~2.5 s start overlaps Dagster's set-up) unless another dpone build is certified."""

    dpone_python: str | None = Field(default=None, description="default: $DPONE_CERTIFY_DPONE_PYTHON or this one")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if not (self.dpone_python or settings.env_dpone_python()):
            DponeAdapter().warm()

    def adapter(self, *, python: str | None = None, timeout_seconds: float) -> DponeAdapter:
        return DponeAdapter(
            python=python or self.dpone_python or settings.env_dpone_python(),
            timeout_seconds=timeout_seconds,
            secrets=secret_values_from_env(),
        )


class _EngineResource(dg.ConfigurableResource):
    """An engine the gates use directly, configured like the local runner's (`<PREFIX>_HOST`, ...); in
    `definitions.py` each field is the `dg.EnvVar` of that variable when it is set. No host: the default engine
    (the embedded PostgreSQL; MariaDB/MySQL unavailable)."""

    FAMILY: ClassVar[str]

    host: str | None = None
    port: str | None = None
    database: str | None = None
    user: str | None = None
    password: str | None = None

    def environ(self) -> dict[str, str]:
        """The values as the engine factories read them (`<PREFIX>_<VARIABLE>`)."""
        prefix = ENGINE_SETTINGS[self.FAMILY].prefix
        fields = {"HOST": self.host, "PORT": self.port, "DATABASE": self.database, "USER": self.user}
        return {f"{prefix}_{k}": v for k, v in {**fields, "PASSWORD": self.password}.items() if v}

    def engine(self) -> Engine:
        return {"postgres": postgres_engine, "mysql": mysql_engine}[self.FAMILY](self.environ())

    @classmethod
    def from_env(cls) -> Any:
        prefix = ENGINE_SETTINGS[cls.FAMILY].prefix
        names = {f: f"{prefix}_{f.upper()}" for f in ("host", "port", "database", "user", "password")}
        return cls(**{f: dg.EnvVar(name) for f, name in names.items() if settings.env(name)})


class PostgresResource(_EngineResource):
    FAMILY: ClassVar[str] = "postgres"


class MySQLResource(_EngineResource):
    FAMILY: ClassVar[str] = "mysql"
