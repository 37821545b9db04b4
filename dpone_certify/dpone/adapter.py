"""The only place that calls dpone.

Two modes:
- fork server (default): a single-threaded helper process (`forkserver.py`) imports dpone once and forks one
  child per call, so the ~3 s interpreter start-up of a dpone command is paid once per process, a hang can still
  be killed at the timeout and a crash cannot take the Dagster run down. Forking the helper rather than this
  process keeps forks safe while this process has threads (Dagster's, parallel local cases);
- isolated: each call runs `<python> worker.py ...` in another interpreter that has a different dpone build.

Every call returns a `DponeCall` whose outcome is one of ok / crashed / timeout / invalid_json; a crash
(non-zero exit and no JSON) or a hang is never read as a gate verdict.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from dpone_certify import settings
from dpone_certify.dpone import worker
from dpone_certify.secrets import redact, redact_obj

WORKER_PATH = Path(worker.__file__).resolve()
FORKSERVER_PATH = WORKER_PATH.with_name("forkserver.py")
FORKSERVER_START_SECONDS = 180.0  # importing dpone takes ~2.5 s here; a loaded CI box may need much longer
STDERR_TAIL_CHARS = 4000

M = TypeVar("M", bound=BaseModel)


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
    """Calls dpone through the fork server or through another interpreter (`python`)."""

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
        return "isolated" if self.python else "fork_server"

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
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="dpone-call-") as tmp:
            job = _Job(
                op=op,
                args=args,
                cwd=Path(cwd) if cwd else Path.cwd(),
                env={**settings.environ(), **(env or {})},  # the environment as of this call
                timeout=self.timeout_seconds if timeout_seconds is None else timeout_seconds,
                out_path=Path(tmp) / "stdout",
                err_path=Path(tmp) / "stderr",
            )
            rc, timed_out = self._run_isolated(job) if self.python else self._run_forked(job)
            stdout = job.out_path.read_text(encoding="utf-8", errors="replace") if job.out_path.exists() else ""
            stderr = job.err_path.read_text(encoding="utf-8", errors="replace") if job.err_path.exists() else ""
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

    def warm(self, *, cli: bool = False) -> None:
        """Start the fork server now, without waiting, so its start overlaps whatever comes first; with `cli`,
        also wait until it has imported dpone's CLI (so that no timed call pays for that import)."""
        if self.python:
            return
        if cli:
            self.call("warm", "warm", {})  # starts the server too
        else:
            _ForkServer.get()

    # ---- execution modes ----------------------------------------------------------------------------
    def _run_isolated(self, job: _Job) -> tuple[int | None, bool]:
        assert self.python
        cmd = [self.python, str(WORKER_PATH), job.op, json.dumps(job.args)]
        with job.out_path.open("wb") as out, job.err_path.open("wb") as err:
            try:
                proc = subprocess.Popen(cmd, cwd=job.cwd, env=job.env, stdout=out, stderr=err, start_new_session=True)
            except OSError as exc:  # no such interpreter, not executable: a crash with the reason, no traceback
                err.write(f"cannot start the interpreter {self.python}: {exc.strerror or exc}\n".encode())
                return 127, False
            try:
                return proc.wait(timeout=job.timeout), False
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid)
                proc.wait()
                return None, True

    def _run_forked(self, job: _Job) -> tuple[int | None, bool]:
        request = {
            "op": job.op,
            "args": job.args,
            "cwd": str(job.cwd),
            "env": job.env,  # the fork server's own environment is that of its start
            "out": str(job.out_path),
            "err": str(job.err_path),
        }
        try:
            return _ForkServer.get().run(request, job.timeout)
        except ForkServerError as exc:  # no verdict: reported as a crash with the reason as its stderr
            job.err_path.write_text(f"dpone fork server failed: {exc}\n", encoding="utf-8")
            return 1, False


@dataclass(frozen=True)
class _Job:
    """One call as either execution mode runs it: a worker op, where, with which environment, for how long,
    and the files its stdout and stderr go to."""

    op: str
    args: dict[str, Any]
    cwd: Path
    env: dict[str, str]
    timeout: float
    out_path: Path
    err_path: Path


def _kill_group(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
            return
        except (ProcessLookupError, PermissionError):
            continue


class ForkServerError(RuntimeError):
    pass


class _ForkServer:
    """Client of `forkserver.py`: one server per process, started on first use and again after it died (or
    after this process was itself forked). Safe to use from many threads at once."""

    _instance: _ForkServer | None = None
    _instance_lock = threading.Lock()

    @classmethod
    def get(cls) -> _ForkServer:
        with cls._instance_lock:
            server = cls._instance
            if server is None or not server.alive or server.owner != os.getpid():
                server = cls._instance = cls()
            return server

    def __init__(self) -> None:
        self.owner = os.getpid()
        self.alive = True
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115  # read back only to explain a dead server
        self._proc = subprocess.Popen(
            [sys.executable, str(FORKSERVER_PATH)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=str(FORKSERVER_PATH.parent),
        )
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._next_id = 0
        self._started: dict[int, dict[str, Any]] = {}  # request id -> {"pid": n} or {"error": text}
        self._ended: dict[int, int] = {}  # pid -> exit code
        threading.Thread(target=self._read, name="dpone-fork-server", daemon=True).start()
        atexit.register(self.close)

    def _read(self) -> None:
        assert self._proc.stdout is not None
        try:
            for line in self._proc.stdout:
                msg = json.loads(line)
                with self._cond:
                    if "id" in msg:
                        self._started[msg["id"]] = msg
                    else:
                        self._ended[msg["pid"]] = msg["rc"]
                    self._cond.notify_all()
        finally:  # EOF or an unreadable answer: this server is done; waiting calls fail, the next one restarts it
            with self._cond:
                self.alive = False
                self._cond.notify_all()

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()[-2000:].decode("utf-8", "replace").strip() or "no output"

    def run(self, request: dict[str, Any], timeout: float) -> tuple[int | None, bool]:
        """Start one child and wait for it: (exit code, False), or (None, True) after a kill at the timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            rid = self._next_id
            self._next_id += 1
        line = (json.dumps({**request, "id": rid}) + "\n").encode("utf-8")
        try:
            with self._write_lock:
                assert self._proc.stdin is not None
                self._proc.stdin.write(line)
                self._proc.stdin.flush()
        except OSError as exc:
            raise ForkServerError(f"cannot reach it ({exc}): {self._stderr_tail()}") from exc
        # Requests queue in the pipe while the server starts (and imports dpone's CLI for the first `cli` call).
        with self._cond:
            self._cond.wait_for(lambda: rid in self._started or not self.alive, FORKSERVER_START_SECONDS)
            started = self._started.pop(rid, None)
        if started is None or "pid" not in started:
            if started is None and self.alive:
                self.close()  # hung: the next call starts a new one
                raise ForkServerError(f"started no child within {FORKSERVER_START_SECONDS:.0f} s")
            reason = started["error"] if started else f"exited: {self._stderr_tail()}"
            raise ForkServerError(reason)
        pid = int(started["pid"])
        with self._cond:
            self._cond.wait_for(lambda: pid in self._ended or not self.alive, max(0.0, deadline - time.monotonic()))
            if pid in self._ended:
                return self._ended.pop(pid), False
            died = not self.alive
        _kill_group(pid)
        if died:
            raise ForkServerError(f"exited while a call ran: {self._stderr_tail()}")
        with self._cond:  # the server reaps the killed child and reports it
            self._cond.wait_for(lambda: pid in self._ended or not self.alive, 30)
            self._ended.pop(pid, None)
        return None, True

    def close(self) -> None:
        """Closing its stdin ends the server (and kills any child still running)."""
        with contextlib.suppress(OSError):
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
