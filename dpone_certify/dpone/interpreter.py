"""A Python interpreter that has a given dpone wheel installed: the isolated mode's `python` for a build that is
not the dpone installed next to this code.

`ensure_interpreter(wheel, cache_root)` creates `<cache_root>/<key>/` once per wheel content (sha256), extras and
interpreter version: a venv, `pip install <wheel>[extras]` with its dependencies, then a check that the venv
imports the wheel's dpone version. `wheel_for_version` fetches a released wheel (`pip download`) into the same
cache, so `--control-version X.Y.Z` goes through the same path. A file lock serialises builders (two runs for
the same wheel build it once); a `ready.json` marker is written last, so a build killed half-way is detected and
redone.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from dpone_certify import settings

CACHE_ENV = "DPONE_CERTIFY_INTERPRETER_CACHE"
READY_FILE = "ready.json"
# What the local profile imports in dpone's process (psycopg, pymysql, pandas, pyarrow): a wheel's venv gets them
# all, so one venv per wheel digest serves every profile.
LOCAL_EXTRAS: tuple[str, ...] = ("columnar", "mysql", "pandas", "postgres")
INSTALL_TIMEOUT_SECONDS = 1800.0


class InterpreterError(RuntimeError):
    """The venv for a wheel could not be built; the message carries the failing command's output tail."""


def wheel_sha256(wheel: Path) -> str:
    digest = hashlib.sha256()
    with Path(wheel).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def wheel_version(wheel: Path) -> str:
    """The version in a wheel's file name (PEP 427), e.g. `dpone-0.89.0-py3-none-any.whl` -> `0.89.0`."""
    from packaging.utils import parse_wheel_filename

    _name, version, _build, _tags = parse_wheel_filename(Path(wheel).name)
    return str(version)


def user_cache_dir() -> Path:
    """$XDG_CACHE_HOME, else ~/.cache (the user's cache directory on Linux and macOS alike for our purpose)."""
    raw = settings.env("XDG_CACHE_HOME")
    return Path(raw).expanduser() if raw else Path.home() / ".cache"


def default_cache_root(configured: str | Path | None = None) -> Path:
    """The interpreter cache: `configured` (the `interpreter_cache` setting), else $DPONE_CERTIFY_INTERPRETER_CACHE,
    else `<user cache dir>/dpone-certify/interpreters`. Never beside an evidence root: venvs are not evidence."""
    raw = str(configured).strip() if configured else settings.env(CACHE_ENV)
    base = Path(raw).expanduser() if raw else user_cache_dir() / "dpone-certify" / "interpreters"
    return base.resolve()


def wheel_for_version(version: str, cache_root: Path, *, timeout_seconds: float = 600.0) -> Path:
    """The released wheel of `dpone==version`, downloaded once into `<cache_root>/wheels/` by pip (the ordinary
    client of the configured package index)."""
    folder = Path(cache_root).resolve() / "wheels"
    pattern = f"dpone-{version}-*.whl"
    found = sorted(folder.glob(pattern))
    if found:
        return found[0]
    with _locked(folder / f"dpone-{version}.lock"):
        found = sorted(folder.glob(pattern))
        if not found:
            cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps"]
            _run([*cmd, "--only-binary", ":all:", f"dpone=={version}", "-d", str(folder)], timeout_seconds)
            found = sorted(folder.glob(pattern))
    if not found:
        raise InterpreterError(f"pip download dpone=={version} produced no {pattern} in {folder}")
    return found[0]


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _run(cmd: Sequence[str], timeout: float) -> str:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        output = proc.stdout + proc.stderr
        # pip's own ERROR lines say why (its version list can run to thousands of characters: cut)
        errors = [
            line if len(line) <= 300 else line[:300] + " …" for line in output.splitlines() if line.startswith("ERROR:")
        ]
        tail = "\n".join(errors) or output[-4000:]
        raise InterpreterError(f"{' '.join(cmd[:4])} ... exited {proc.returncode}:\n{tail}")
    return proc.stdout


def _ready(venv: Path, sha256: str) -> bool:
    marker = venv / READY_FILE
    if not marker.exists() or not _python(venv).exists():
        return False
    try:
        return bool(json.loads(marker.read_text(encoding="utf-8")).get("wheel_sha256") == sha256)
    except (OSError, ValueError):
        return False


def ensure_interpreter(
    wheel: Path,
    cache_root: Path,
    *,
    extras: Sequence[str] = (),
    base_python: str | None = None,
    timeout_seconds: float = INSTALL_TIMEOUT_SECONDS,
) -> Path:
    """The python of a venv that has `wheel` (and its dependencies) installed; built once, then reused.

    `extras` are dpone extras to install with it (e.g. `postgres` for the local profile). `base_python`
    creates the venv (default: this interpreter; dpone 0.88 needs Python >=3.11,<3.13)."""
    wheel = Path(wheel).resolve()
    if not wheel.is_file():
        raise FileNotFoundError(f"wheel not found: {wheel}")
    sha256 = wheel_sha256(wheel)
    version = wheel_version(wheel)
    base = base_python or sys.executable
    tag = f"py{sys.version_info.major}{sys.version_info.minor}" if base_python is None else "custom"
    key = f"dpone-{version}-{sha256[:16]}-{tag}" + (f"-{'-'.join(sorted(extras))}" if extras else "")
    cache_root = Path(cache_root).resolve()
    venv = cache_root / key
    if _ready(venv, sha256):
        return _python(venv)
    with _locked(cache_root / f"{key}.lock"):
        if _ready(venv, sha256):  # another process built it while we waited for the lock
            return _python(venv)
        if venv.exists():
            shutil.rmtree(venv)  # a build that was killed half-way
        started = time.perf_counter()
        _run([base, "-m", "venv", str(venv)], timeout_seconds)
        python = _python(venv)
        requirement = f"{wheel}[{','.join(sorted(extras))}]" if extras else str(wheel)
        pip = [str(python), "-m", "pip", "--disable-pip-version-check", "--no-input"]
        _run([*pip, "install", requirement], timeout_seconds)
        probe = "from dpone.version import installed_version; print(installed_version())"
        installed = _run([str(python), "-c", probe], 120).strip()
        if installed != version:
            raise InterpreterError(f"{wheel.name}: the venv imports dpone {installed!r}, expected {version!r}")
        marker = {
            "wheel": wheel.name,
            "wheel_sha256": sha256,
            "dpone_version": installed,
            "extras": sorted(extras),
            "python": _run([str(python), "-c", "import sys; print(sys.version.split()[0])"], 60).strip(),
            "build_seconds": round(time.perf_counter() - started, 1),
            "packages": _run([*pip, "freeze", "--all"], 120).splitlines(),
        }
        tmp = venv / f".{READY_FILE}.tmp"
        tmp.write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, venv / READY_FILE)
    return python
