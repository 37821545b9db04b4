"""A real second dpone build for the identity, wheel and comparison tests: dpone 0.87.4, fetched with pip and
installed from its wheel through the same code path as `--control-version 0.87.4` / `--dpone-wheel` (built once,
cached under $DPONE_CERTIFY_INTERPRETER_CACHE or the pytest cache)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dpone_certify.dpone.interpreter import (
    LOCAL_EXTRAS,
    InterpreterError,
    ensure_interpreter,
    wheel_for_version,
)

OLD_VERSION = "0.87.4"


@pytest.fixture(scope="session")
def interpreter_cache(request: pytest.FixtureRequest) -> Path:
    raw = os.environ.get("DPONE_CERTIFY_INTERPRETER_CACHE", "").strip()
    return Path(raw) if raw else Path(request.config.cache.mkdir("dpone-certify-interpreters"))


@pytest.fixture(scope="session")
def old_wheel(interpreter_cache: Path) -> Path:
    try:
        return wheel_for_version(OLD_VERSION, interpreter_cache)
    except InterpreterError as exc:
        pytest.skip(f"cannot download dpone=={OLD_VERSION}: {str(exc)[-300:]}")


@pytest.fixture(scope="session")
def old_python(old_wheel: Path, interpreter_cache: Path) -> Path:
    """The python of a venv with dpone 0.87.4 and the local profile's extras, built from its wheel."""
    return ensure_interpreter(old_wheel, interpreter_cache, extras=LOCAL_EXTRAS)
