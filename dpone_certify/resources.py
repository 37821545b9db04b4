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
from dpone_certify.dpone.identity import BuildIdentity
from dpone_certify.matrix.local.engines import ENGINE_SETTINGS, Engine, mysql_engine, postgres_engine
from dpone_certify.matrix.records import CaseSettings
from dpone_certify.secrets import secret_values_from_env
from dpone_certify.settings import Profile


def _wheel_sha(wheel: Path) -> str:
    """sha256 of a wheel, cached by (path, size, mtime): every gate asks for the build identity."""
    from dpone_certify.dpone.interpreter import wheel_sha256

    stat = wheel.stat()
    key = (str(wheel.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _WHEEL_SHA:
        _WHEEL_SHA[key] = wheel_sha256(wheel)
    return _WHEEL_SHA[key]


_WHEEL_SHA: dict[tuple[str, int, int], str] = {}


def wheel_python(wheel: Path, cache: str | None) -> Path:
    """The python of the venv built (once per wheel digest) for `wheel`, with the local profile's extras."""
    from dpone_certify.dpone.interpreter import LOCAL_EXTRAS, default_cache_root, ensure_interpreter

    return ensure_interpreter(wheel, default_cache_root(cache), extras=LOCAL_EXTRAS)


# One dpone call at 1,000,000 rows x 123 columns took 391 s on a 2-core machine (issue 13): 2 ms per row is ~5x
# that, so the default stays 900 s up to 450,000 rows and then grows linearly instead of cutting a case off.
TIMEOUT_SECONDS_PER_ROW = 0.002


def scaled_timeout(base: float, row_count: int, wide_columns: int = 120) -> float:
    """`base`, or the per-row budget for `row_count` rows (scaled by width) when that is larger."""
    width = max(1.0, (wide_columns + 3) / 123)
    return max(base, row_count * TIMEOUT_SECONDS_PER_ROW * width)


def _optional(description: str) -> Any:
    """A setting that is unset unless given: None takes the environment's value or the fallback its
    description names (see the module docstring)."""
    return Field(default=None, description=description)


class CertifyResource(dg.ConfigurableResource):
    profile: str | None = _optional("contract | local | live (default: $DPONE_CERTIFY_PROFILE or contract)")
    evidence_root: str | None = _optional("default: $DPONE_CERTIFY_EVIDENCE_ROOT or ./.dpone-certify/evidence")
    release: str | None = _optional("release name (default: $DPONE_CERTIFY_RELEASE or dpone-<version>)")
    row_count: int = Field(
        default=settings.DEFAULT_ROW_COUNT, description="rows per matrix case (dpone clamps to 1..100000)"
    )
    change_ratio: float = settings.DEFAULT_CHANGE_RATIO
    delete_ratio: float = settings.DEFAULT_DELETE_RATIO
    max_parallel: int = Field(default=2, description="matrix cases run at once")
    gate_timeout_seconds: float | None = _optional(
        "one dpone call's timeout; default: $DPONE_CERTIFY_GATE_TIMEOUT_SECONDS, else 900 s scaled "
        f"with the rows per case ({TIMEOUT_SECONDS_PER_ROW * 1000:g} ms per row of 120 wide columns beyond that)"
    )
    embedded_pg_dir: str | None = _optional(
        "data folder of the embedded PostgreSQL (default: $DPONE_CERTIFY_EMBEDDED_PG_DIR, else a "
        "folder in the temp dir); removed after the local matrix unless keep_schemas"
    )
    dpone_python: str | None = _optional(
        "python of another dpone build to certify (isolated mode); default: this process"
    )
    dpone_wheel: str | None = _optional(
        "a dpone wheel to certify (isolated mode): a venv with it and the local profile's extras is "
        "built once per wheel digest in interpreter_cache and used as dpone_python"
    )
    interpreter_cache: str | None = _optional(
        "where wheel venvs are built: default $DPONE_CERTIFY_INTERPRETER_CACHE, else "
        "<user cache dir>/dpone-certify/interpreters"
    )
    control_python: str | None = _optional(
        "python of the control build: release_comparison certifies it on the same cases"
    )
    control_wheel: str | None = _optional("a wheel of the control build (venv in the cache)")
    control_version: str | None = _optional(
        "a released dpone version as the control build (pip download into the cache)"
    )
    comparison_repeats: int = Field(
        default=2,
        description="runs per build in release_comparison, interleaved (candidate, control, control, candidate): "
        "the candidate's first is the matrix's own; the spread between repeats is the throughput noise band",
    )
    upstream_run: str | None = _optional(
        "run id whose records feed the gates this run does not materialize (a partial selection); "
        "default: the run the Dagster instance recorded as each upstream's latest materialization"
    )
    evidence_case: str | None = _optional(
        "case whose rows feed evidence-bundle (default: first covered case of the matrix)"
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
        # Here, not in DponeResource: only these settings say whether another build (isolated mode) is certified.
        if not (self.dpone_python or self.dpone_wheel or settings.env_dpone_python()):
            DponeAdapter().warm()

    def resolved_profile(self) -> Profile:
        return Profile(self.profile) if self.profile else settings.env_profile()

    def root(self) -> Path:
        return Path(self.evidence_root).expanduser().resolve() if self.evidence_root else settings.env_evidence_root()

    def timeout(self) -> float:
        """An explicit timeout (config, env) as given; the default grows with the work of one dpone call."""
        if self.gate_timeout_seconds is not None:
            return self.gate_timeout_seconds
        if settings.env(settings.TIMEOUT_ENV):
            return settings.env_timeout()
        return scaled_timeout(settings.DEFAULT_GATE_TIMEOUT_SECONDS, self.row_count, self.case_settings().wide_columns)

    def build_python(self) -> str | None:
        """The python of the build under test when these settings name one: dpone_python, else the venv of
        dpone_wheel (built on first use)."""
        if self.dpone_python is None and self.dpone_wheel:
            return str(wheel_python(Path(self.dpone_wheel), self.interpreter_cache))
        return self.dpone_python

    def adapter(self) -> DponeAdapter:
        """The build under test's adapter where no `dpone` resource is at hand (the build identity, tests); the
        gates take theirs from the `dpone` resource."""
        return DponeResource().adapter(self)

    def has_control(self) -> bool:
        return bool(self.control_python or self.control_wheel or self.control_version)

    def control_adapter(self) -> DponeAdapter:
        """The control build's adapter (isolated mode): its python, or a venv from its wheel or released version,
        built once per wheel digest in the same interpreter cache as the candidate's."""
        from dpone_certify.dpone.interpreter import default_cache_root, wheel_for_version

        python = self.control_python
        if python is None:
            if self.control_wheel:
                wheel = Path(self.control_wheel)
            elif self.control_version:
                wheel = wheel_for_version(self.control_version, default_cache_root(self.interpreter_cache))
            else:
                raise ValueError("no control build: set control_python, control_wheel or control_version")
            python = str(wheel_python(wheel, self.interpreter_cache))
        return DponeAdapter(python=python, timeout_seconds=self.timeout(), secrets=secret_values_from_env())

    def control_identity(self) -> BuildIdentity:
        from dpone_certify.dpone.identity import read_identity
        from dpone_certify.dpone.interpreter import default_cache_root, wheel_for_version

        wheel: Path | None = None
        if not self.control_python:
            if self.control_wheel:
                wheel = Path(self.control_wheel)
            elif self.control_version:
                wheel = wheel_for_version(self.control_version, default_cache_root(self.interpreter_cache))
        sha = _wheel_sha(wheel) if wheel else None
        return read_identity(self.control_adapter(), wheel_sha256=sha, wheel=wheel.name if wheel else None)

    def build_identity(self) -> BuildIdentity:
        """Who the build under test is, asked of the interpreter that runs it (cached per process)."""
        from dpone_certify.dpone.identity import read_identity

        wheel = Path(self.dpone_wheel) if self.dpone_wheel and not self.dpone_python else None
        sha = _wheel_sha(wheel) if wheel else None
        return read_identity(self.adapter(), wheel_sha256=sha, wheel=wheel.name if wheel else None)

    def release_name(self) -> str:
        """The release id: explicit (refused when it names another dpone version than the build's), else
        `dpone-<version of the build under test>`."""
        from dpone_certify.dpone.identity import check_release

        raw = self.release or settings.env_release()
        if raw:
            check_release(raw, self._build_version())
        else:
            raw = self.build_identity().default_release()
        return re.sub(r"[^A-Za-z0-9._-]+", "-", raw)

    def _build_version(self) -> str:
        """The version of the build under test; a wheel's is in its file name (no venv needed to know it)."""
        if self.dpone_wheel and not self.dpone_python:
            from dpone_certify.dpone.interpreter import wheel_version

            return wheel_version(Path(self.dpone_wheel))
        return self.build_identity().dpone_version

    def case_settings(self) -> CaseSettings:
        return CaseSettings(row_count=self.row_count, change_ratio=self.change_ratio, delete_ratio=self.delete_ratio)

    def layout(self, run_id: str | None = None) -> EvidenceLayout:
        return EvidenceLayout(self.root(), run_id)

    def gate_dir(self, run_id: str, gate: str) -> Path:
        """Each run writes under its own folder (created): see `EvidenceLayout.gate_dir`."""
        return self.layout(run_id).gate_dir(gate)


class DponeResource(dg.ConfigurableResource):
    """dpone, the system under test: builds the adapter every gate calls through, for the build and timeout of
    the run's `certify` settings. (Its fork server is started at run start by CertifyResource.) It has no build
    setting of its own: the build under test is named once, in `certify`, so the gates and the build identity on
    their records cannot disagree."""

    def adapter(self, certify: CertifyResource) -> DponeAdapter:
        return DponeAdapter(
            python=certify.build_python() or settings.env_dpone_python(),
            timeout_seconds=certify.timeout(),
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
