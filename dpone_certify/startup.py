"""Honest starts: everything a run needs is checked before any gate runs, and the Dagster instance is opened
once under a lock.

`check_run(args)` raises `StartupError` with one line saying what is wrong (the CLI prints it and exits
`EXIT_CANNOT_START`); `unknown_assets` names `--select` keys the code location does not define (a usage error,
exit 2, like an unknown `--case`); `gates_not_run` names the selected gates that left no verdict, so the final
line never says CERTIFIED for work that did not run; `open_instance` initialises a fresh instance's storage
once even when two first runs start together.

Exit codes of `dpone-certify run`: 0 every selected gate ran and passed, 1 certification failed (a gate
failed or did not run), 2 usage error (bad arguments, unknown case or asset), 3 the run cannot start
(settings, evidence root, dpone interpreter).
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from dpone_certify import settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANNOT_START = 0, 1, 2, 3
MAX_ROW_COUNT = 100_000  # dpone clamps --row-count to 1..100000; a larger request would be silently less
INSTANCE_LOCK = ".dpone-certify-instance.lock"


class StartupError(Exception):
    """The run cannot start; the message is one line saying why and what to change."""


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def check_evidence_root(root: Path) -> None:
    """The evidence root is a folder we can write to (created if missing)."""
    if root.exists() and not root.is_dir():
        raise StartupError(f"evidence root {root} is a file, not a folder; point --evidence-root at a folder")
    existing = root
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise StartupError(f"evidence root {root} cannot be created: {existing} is a file")
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=root)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise StartupError(f"evidence root {root} is not writable ({exc.strerror or exc})") from None


def check_dpone_python(python: str, flag: str = "--dpone-python") -> None:
    """`python` (given as `flag`) exists, runs, and imports dpone."""
    path = Path(python)
    if not path.exists():
        raise StartupError(f"{flag} {python} does not exist")
    if not path.is_file() or not os.access(path, os.X_OK):
        raise StartupError(f"{flag} {python} is not an executable file")
    try:
        done = subprocess.run(
            [str(path), "-c", "import sys, dpone; sys.stdout.write('dpone-imported')"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StartupError(f"{flag} {python} cannot run: {exc}") from None
    if done.returncode != 0 or done.stdout.strip() != "dpone-imported":
        why = _first_line(done.stderr) or "it is not a Python with dpone"
        raise StartupError(f"{flag} {python} does not import dpone: {why}")


def check_timeout() -> float:
    raw = settings.env(settings.TIMEOUT_ENV)
    if not raw:
        return settings.DEFAULT_GATE_TIMEOUT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        raise StartupError(f"{settings.TIMEOUT_ENV}={raw!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise StartupError(f"{settings.TIMEOUT_ENV}={raw!r} must be a positive number of seconds")
    return value


def check_run(args: Any) -> None:
    """Validate a `dpone-certify run` before anything runs; StartupError on the first problem."""
    if getattr(args, "profile", None) is None:
        try:
            settings.env_profile()
        except ValueError as exc:
            raise StartupError(str(exc)) from None
    row_count = getattr(args, "row_count", None)
    if row_count is not None and not 1 <= row_count <= MAX_ROW_COUNT:
        raise StartupError(f"--row-count {row_count} is out of range: rows per case must be 1..{MAX_ROW_COUNT}")
    max_parallel = getattr(args, "max_parallel", None)
    if max_parallel is not None and max_parallel < 1:
        raise StartupError(f"--max-parallel {max_parallel} must be at least 1")
    check_timeout()
    home = settings.env("DAGSTER_HOME")
    if home and not Path(home).is_dir():
        raise StartupError(f"DAGSTER_HOME={home} is not a folder; create it (it holds dagster.yaml and run history)")
    raw_root = getattr(args, "evidence_root", None)
    root = Path(raw_root).expanduser().resolve() if raw_root else settings.env_evidence_root()
    check_evidence_root(root)
    python = getattr(args, "dpone_python", None) or settings.env_dpone_python()
    if python:
        check_dpone_python(python)
    control = getattr(args, "control_python", None)
    if control:
        check_dpone_python(control, "--control-python")


def unknown_assets(assets: Iterable[str], known: Iterable[str]) -> list[str]:
    known_set = set(known)
    return [a for a in assets if dg.AssetKey.from_user_string(a).to_user_string() not in known_set]


def gates_not_run(selected: Sequence[str], evaluations: Sequence[Any]) -> list[str]:
    """Selected gates without a verdict (check evaluation): they did not run or crashed before their check."""
    evaluated = {ev.asset_key.to_user_string() for ev in evaluations}
    return [gate for gate in selected if gate not in evaluated]


def required_not_selected(selected: Sequence[str]) -> list[str]:
    """The gates of the full certification a selection leaves out: a passing selection is not a certification."""
    from dpone_certify.certification.keys import FULL_CERTIFICATION_GATES

    chosen = set(selected)
    return [gate for gate in FULL_CERTIFICATION_GATES if gate not in chosen]


@contextlib.contextmanager
def _instance_lock(folder: Path) -> Iterator[None]:
    from dpone_certify.evidence.atomic import locked

    folder.mkdir(parents=True, exist_ok=True)
    with locked(folder / INSTANCE_LOCK, 300.0):
        yield


def open_instance() -> dg.DagsterInstance:
    """The instance `dpone-certify` runs on: $DAGSTER_HOME, else ./dagster.yaml, else an ephemeral one.

    A fresh SQLite home creates its tables on first open; two first runs at once raced there ("table runs
    already exists"). Opening (and touching every storage) under a file lock in the home makes the first
    one create them and the second find them."""
    home = settings.env("DAGSTER_HOME")
    if home:
        folder: Path | None = Path(home)
    elif Path("dagster.yaml").exists():
        folder = Path(".dpone-certify")
    else:
        folder = None
    if folder is None:
        return dg.DagsterInstance.ephemeral()
    with _instance_lock(folder):
        instance = dg.DagsterInstance.get() if home else dg.DagsterInstance.from_config(".")
        instance.get_runs(limit=1)
        instance.fetch_materializations(dg.AssetKey("evidence_chain"), limit=1)
        with contextlib.suppress(Exception):  # schedule storage is optional in some instance configs
            instance.all_instigator_state()
    return instance
