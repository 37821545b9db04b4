"""Run settings: profile, evidence root, timeouts. Defaults come from the environment so CI and people
share one switch (`DPONE_CERTIFY_PROFILE`, `DPONE_CERTIFY_EVIDENCE_ROOT`); run config overrides per run."""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

PROFILE_ENV = "DPONE_CERTIFY_PROFILE"
EVIDENCE_ROOT_ENV = "DPONE_CERTIFY_EVIDENCE_ROOT"
TIMEOUT_ENV = "DPONE_CERTIFY_GATE_TIMEOUT_SECONDS"
DPONE_PYTHON_ENV = "DPONE_CERTIFY_DPONE_PYTHON"
RELEASE_ENV = "DPONE_CERTIFY_RELEASE"

DEFAULT_ROW_COUNT = 10_000
DEFAULT_CHANGE_RATIO = 0.20
DEFAULT_DELETE_RATIO = 0.05
DEFAULT_GATE_TIMEOUT_SECONDS = 900.0


class Profile(StrEnum):
    CONTRACT = "contract"  # dpone's simulation: UNVERIFIED by construction
    LOCAL = "local"  # real dpone runs on local engines, reconciled by us
    LIVE = "live"  # same executor, vendor connections from the environment

    @property
    def dpone_profile(self) -> str:
        """The name dpone's own plan uses for this layer."""
        return {"contract": "mock_contract", "local": "mock_local", "live": "vendor_live"}[self.value]


def environ() -> Mapping[str, str]:
    """The process environment: the only place the package reads it (other modules ask this module)."""
    return os.environ


def env(name: str) -> str:
    """One environment variable, stripped ("" when unset)."""
    return os.environ.get(name, "").strip()


def dagster_home() -> str | None:
    return env("DAGSTER_HOME") or None


def env_release() -> str | None:
    return env(RELEASE_ENV) or None


def env_profile() -> Profile:
    raw = os.environ.get(PROFILE_ENV, "").strip() or Profile.CONTRACT.value
    try:
        return Profile(raw)
    except ValueError:
        choices = ", ".join(p.value for p in Profile)
        raise ValueError(f"{PROFILE_ENV}={raw!r} is not a profile; choose one of: {choices}") from None


def env_evidence_root() -> Path:
    raw = os.environ.get(EVIDENCE_ROOT_ENV, "").strip()
    # Absolute on purpose: dpone resolves relative paths against its own cwd (contracts doc §2.8).
    return Path(raw).expanduser().resolve() if raw else (Path.cwd() / ".dpone-certify" / "evidence").resolve()


def env_timeout() -> float:
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    return float(raw) if raw else DEFAULT_GATE_TIMEOUT_SECONDS


def env_dpone_python() -> str | None:
    return os.environ.get(DPONE_PYTHON_ENV, "").strip() or None
