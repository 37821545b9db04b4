"""`ensure_interpreter`: a venv per dpone wheel, built once (file lock, ready marker), reused afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dpone_certify.dpone.adapter import DponeAdapter, Outcome
from dpone_certify.dpone.interpreter import (
    READY_FILE,
    default_cache_root,
    ensure_interpreter,
    wheel_sha256,
    wheel_version,
)


def test_wheel_version_and_sha(tmp_path: Path) -> None:
    wheel = tmp_path / "dpone-0.89.0rc1-py3-none-any.whl"
    wheel.write_bytes(b"not really a zip")
    assert wheel_version(wheel) == "0.89.0rc1"
    assert len(wheel_sha256(wheel)) == 64


def test_default_cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder of its own under the user's cache directory, never beside an evidence root; env and setting win."""
    monkeypatch.delenv("DPONE_CERTIFY_INTERPRETER_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_root() == tmp_path.resolve() / "xdg" / "dpone-certify" / "interpreters"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_root() == tmp_path.resolve() / "home" / ".cache" / "dpone-certify" / "interpreters"
    monkeypatch.setenv("DPONE_CERTIFY_INTERPRETER_CACHE", str(tmp_path / "c"))
    assert default_cache_root() == tmp_path.resolve() / "c"
    assert default_cache_root(tmp_path / "setting") == tmp_path.resolve() / "setting"


def test_missing_wheel(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ensure_interpreter(tmp_path / "dpone-0.88.0-py3-none-any.whl", tmp_path / "cache")


@pytest.fixture(scope="session")
def dpone_wheel(request: pytest.FixtureRequest) -> Path:
    """The real dpone 0.88.0 wheel from the package index (cached under the pytest cache)."""
    folder = Path(request.config.cache.mkdir("dpone-wheel"))
    found = sorted(folder.glob("dpone-0.88.0-*.whl"))
    if not found:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "dpone==0.88.0", "-d", str(folder)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if proc.returncode != 0:
            pytest.skip(f"cannot download dpone==0.88.0: {proc.stderr[-500:]}")
        found = sorted(folder.glob("dpone-0.88.0-*.whl"))
    return found[0]


@pytest.mark.slow
def test_ensure_interpreter_real_wheel(dpone_wheel: Path, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Builds a real venv from the real wheel once per machine (the cache lives in .pytest_cache), then checks
    that a second call is a cache hit and that the isolated adapter runs dpone through that interpreter."""
    cache = Path(request.config.cache.mkdir("dpone-interpreters"))
    started = time.perf_counter()
    python = ensure_interpreter(dpone_wheel, cache)
    first = time.perf_counter() - started
    marker = json.loads((python.parent.parent / READY_FILE).read_text(encoding="utf-8"))
    assert marker["dpone_version"] == "0.88.0"
    assert marker["wheel_sha256"] == wheel_sha256(dpone_wheel)
    assert any(line.startswith(("dpone==0.88.0", "dpone @ ")) for line in marker["packages"])
    # The venv is isolated: it has no dagster.
    probe = subprocess.run([str(python), "-c", "import dagster"], capture_output=True, timeout=60, check=False)
    assert probe.returncode != 0

    started = time.perf_counter()
    assert ensure_interpreter(dpone_wheel, cache) == python
    assert time.perf_counter() - started < 2.0, "second call must be a cache hit"
    print(f"\nensure_interpreter: first call {first:.1f} s (build {marker['build_seconds']} s or cache hit)")

    call = DponeAdapter(python=str(python), timeout_seconds=300).call("catalogue", "catalogue", {}, cwd=tmp_path)
    assert call.outcome is Outcome.OK, call.describe()
    assert call.payload["dpone_version"] == "0.88.0"
    assert len(call.payload["cases"]) > 200


def test_half_built_venv_is_rebuilt(tmp_path: Path) -> None:
    """A folder without the ready marker (a killed build) is not trusted: it is removed and built again; here
    the rebuild fails fast on a wheel that is not a zip, and the error says so."""
    from dpone_certify.dpone.interpreter import InterpreterError

    wheel = tmp_path / "dpone-0.88.0-py3-none-any.whl"
    wheel.write_bytes(b"not a zip")
    cache = tmp_path / "cache"
    key_dir = cache / f"dpone-0.88.0-{wheel_sha256(wheel)[:16]}-py{sys.version_info.major}{sys.version_info.minor}"
    key_dir.mkdir(parents=True)
    (key_dir / "leftover").write_text("x")
    with pytest.raises(InterpreterError):
        ensure_interpreter(wheel, cache, timeout_seconds=300)
    assert not (key_dir / "leftover").exists()
    assert not (key_dir / READY_FILE).exists()
