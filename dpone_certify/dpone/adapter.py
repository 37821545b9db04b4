"""The only place that calls dpone.

Two modes:
- in-process (default): dpone is imported once in this process and each call runs in a fork of it, so the
  ~3 s interpreter start-up of a dpone command is paid once per process, while a hang can still be killed at
  the timeout and a crash cannot take the Dagster run down;
- isolated: each call runs `<python> worker.py ...` in another interpreter that has a different dpone build.

Every call returns a `DponeCall` whose outcome is one of ok / crashed / timeout / invalid_json; a crash
(non-zero exit and no JSON) or a hang is never read as a gate verdict.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from dpone_certify.dpone import worker
from dpone_certify.secrets import redact, redact_obj

WORKER_PATH = Path(worker.__file__).resolve()
STDERR_TAIL_CHARS = 4000

M = TypeVar("M", bound=BaseModel)

# Held around every fork, and by this process's own code around opening a database connection: a fork copies
# only the forking thread, so a lock another thread holds at that moment (a resolver or driver lock during a
# connect, an import) stays locked forever in the child, whose own first connect then hangs until the timeout.
FORK_LOCK = threading.Lock()


class Outcome(StrEnum):
    OK = "ok"  # dpone answered with JSON; its verdict is in the payload
    CRASHED = "crashed"  # non-zero exit with no JSON: an exception, a kill, an argparse error
    TIMEOUT = "timeout"
    INVALID_JSON = "invalid_json"  # exit 0 but stdout is not JSON


class DponeCallError(Exception):
    """Raised by `DponeCall.parse` when the call cannot be read as the expected model."""

    def __init__(self, blocker: str, message: str) -> None:
        super().__init__(message)
        self.blocker = blocker


class DponeCall(BaseModel):
    gate: str
    op: str
    argv: list[str]
    mode: str
    rc: int | None
    outcome: Outcome
    stdout: str
    stderr_tail: str
    duration_seconds: float
    payload: Any = None

    @property
    def blockers(self) -> list[str]:
        """Our own blockers for a call that did not produce a readable answer."""
        return {
            Outcome.OK: [],
            Outcome.CRASHED: [f"gate.crashed:{self.gate}"],
            Outcome.TIMEOUT: [f"gate.timeout:{self.gate}"],
            Outcome.INVALID_JSON: ["artifact.invalid_json"],
        }[self.outcome]

    def parse(self, model: type[M]) -> M:
        if self.outcome is not Outcome.OK:
            raise DponeCallError(self.blockers[0], self.describe())
        try:
            return model.model_validate(self.payload)
        except ValidationError as exc:
            raise DponeCallError(
                f"artifact.invalid_shape:{self.gate}",
                f"dpone {self.gate} answered JSON of an unexpected shape: {exc}",
            ) from exc

    def describe(self) -> str:
        what = {
            Outcome.OK: "answered",
            Outcome.CRASHED: f"crashed (exit {self.rc}, no JSON on stdout)",
            Outcome.TIMEOUT: f"did not finish within the timeout ({self.duration_seconds:.0f} s) and was killed",
            Outcome.INVALID_JSON: f"exited {self.rc} but printed no valid JSON",
        }[self.outcome]
        tail = (
            f"\nstderr (last lines):\n{self.stderr_tail}" if self.stderr_tail and self.outcome is not Outcome.OK else ""
        )
        return f"dpone {self.gate} {what}{tail}"

    @property
    def command(self) -> str:
        """The equivalent shell command, for reproduce instructions."""
        if self.op == "cli":
            return "dpone " + " ".join(_shell_quote(a) for a in self.argv)
        return f"python -m dpone_certify.dpone.worker {self.op}"


def _shell_quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def _strict_json(text: str) -> Any:
    """json.loads that rejects NaN/Infinity: dpone writes `-Infinity` for a missing benchmark metric."""

    def reject(token: str) -> Any:
        raise ValueError(f"non-standard JSON constant {token}")

    return json.loads(text, parse_constant=reject)


def _classify(gate: str, rc: int | None, stdout: str, timed_out: bool) -> tuple[Outcome, Any]:
    if timed_out:
        return Outcome.TIMEOUT, None
    text = stdout.strip()
    payload: Any = None
    if text:
        try:
            payload = _strict_json(text)
        except ValueError:
            payload = None
    if payload is not None:
        return Outcome.OK, payload
    if rc == 0:
        return Outcome.INVALID_JSON, None
    return Outcome.CRASHED, None


class DponeAdapter:
    """Calls dpone in-process (fork) or through another interpreter (`python`)."""

    _warm_lock = threading.Lock()
    _warmed = False

    def __init__(
        self,
        *,
        python: str | None = None,
        timeout_seconds: float = 900.0,
        secrets: Sequence[str] = (),
    ) -> None:
        self.python = python
        self.timeout_seconds = timeout_seconds
        self.secrets = tuple(secrets)

    @property
    def mode(self) -> str:
        return "isolated" if self.python else "in_process"

    # ---- public calls -------------------------------------------------------------------------------
    def cli(
        self,
        gate: str,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        timeout_seconds: float | None = None,
    ) -> DponeCall:
        return self.call(gate, "cli", {"argv": list(argv)}, cwd=cwd, env=env, timeout_seconds=timeout_seconds)

    def service(
        self,
        gate: str,
        op: str,
        args: dict[str, Any],
        *,
        cli_equivalent: Sequence[str],
        timeout_seconds: float | None = None,
    ) -> DponeCall:
        """A worker op that runs the body of one dpone command through its service class; reported as the
        equivalent `dpone <cli_equivalent>` call, which gives the same files and JSON."""
        call = self.call(gate, op, args, timeout_seconds=timeout_seconds)
        call.op = "cli"
        call.argv = [redact(a, self.secrets) for a in cli_equivalent]
        return call

    def call(
        self,
        gate: str,
        op: str,
        args: dict[str, Any],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        timeout_seconds: float | None = None,
    ) -> DponeCall:
        timeout = self.timeout_seconds if timeout_seconds is None else timeout_seconds
        workdir = Path(cwd) if cwd else Path.cwd()
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="dpone-call-") as tmp:
            out_path, err_path = Path(tmp) / "stdout", Path(tmp) / "stderr"
            if self.python:
                rc, timed_out = self._run_isolated(op, args, workdir, env, timeout, out_path, err_path)
            else:
                rc, timed_out = self._run_forked(op, args, workdir, env, timeout, out_path, err_path, warm=op == "cli")
            stdout = out_path.read_text(encoding="utf-8", errors="replace") if out_path.exists() else ""
            stderr = err_path.read_text(encoding="utf-8", errors="replace") if err_path.exists() else ""
        outcome, payload = _classify(gate, rc, stdout, timed_out)
        return DponeCall(
            gate=gate,
            op=op,
            argv=[redact(a, self.secrets) for a in args.get("argv", [])],
            mode=self.mode,
            rc=rc,
            outcome=outcome,
            stdout=redact(stdout, self.secrets) if outcome is not Outcome.OK else "",
            stderr_tail=redact(stderr[-STDERR_TAIL_CHARS:], self.secrets),
            duration_seconds=time.perf_counter() - started,
            payload=redact_obj(payload, self.secrets) if payload is not None else None,
        )

    def warm(self) -> None:
        """Import dpone's CLI once in this process so that every fork starts warm."""
        if self.python:
            return
        with DponeAdapter._warm_lock:
            if not DponeAdapter._warmed:
                worker.op_warm({})
                DponeAdapter._warmed = True

    # ---- execution modes ----------------------------------------------------------------------------
    def _run_isolated(
        self,
        op: str,
        args: dict[str, Any],
        cwd: Path,
        env: Mapping[str, str] | None,
        timeout: float,
        out_path: Path,
        err_path: Path,
    ) -> tuple[int | None, bool]:
        assert self.python
        child_env = {**os.environ, **(env or {})}
        cmd = [self.python, str(WORKER_PATH), op, json.dumps(args)]
        with out_path.open("wb") as out, err_path.open("wb") as err:
            proc = subprocess.Popen(cmd, cwd=cwd, env=child_env, stdout=out, stderr=err, start_new_session=True)
            try:
                return proc.wait(timeout=timeout), False
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid)
                proc.wait()
                return None, True

    def _run_forked(
        self,
        op: str,
        args: dict[str, Any],
        cwd: Path,
        env: Mapping[str, str] | None,
        timeout: float,
        out_path: Path,
        err_path: Path,
        *,
        warm: bool,
    ) -> tuple[int | None, bool]:
        if warm:
            self.warm()
        sys.stdout.flush()
        sys.stderr.flush()
        with FORK_LOCK:
            pid = os.fork()
        if pid == 0:  # child: never returns
            _child_main(op, args, cwd, env, out_path, err_path)
        deadline = time.monotonic() + timeout
        delay = 0.002
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status), False
            if time.monotonic() >= deadline:
                _kill_group(pid)
                os.waitpid(pid, 0)
                return None, True
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def _kill_group(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
            return
        except (ProcessLookupError, PermissionError):
            continue


def _child_main(
    op: str, args: dict[str, Any], cwd: Path, env: Mapping[str, str] | None, out_path: Path, err_path: Path
) -> None:
    rc = 1
    try:
        os.setsid()  # own process group, so a timeout kill also reaches anything dpone spawned
        os.chdir(cwd)
        if env:
            os.environ.update(env)
        out_fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err_fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        rc = worker.dispatch(op, args)
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        rc = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(rc)
