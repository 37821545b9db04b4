"""The fork server: a single-threaded process that imports dpone once and forks one child per call.

Why not fork the caller: a Dagster run (and the local profile's parallel cases) has threads, and a fork copies
only the forking thread, so a lock another thread holds at that moment (a driver, resolver or import lock) stays
locked forever in the child, which then hangs until the timeout. This process never starts a thread, so its forks
are safe, and it is small, so they are cheap.

Run as `python forkserver.py`; like `worker.py` it imports only the standard library, dpone and `worker`.
dpone's matrix module is imported at start; its CLI (~2.4 s) on the first `cli` or `warm` request, so a run that only
simulates or reports never pays for it.
Protocol: JSON lines. Requests on stdin: `{"id", "op", "args", "cwd", "env", "out", "err"}` (`env` is the
child's whole environment). Answers on stdout: `{"id", "pid"}` when a child started (or `{"id", "error"}`),
and `{"pid", "rc"}` when it ended (rc < 0: killed by that signal). The server exits when stdin closes; its
children are then killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import worker  # noqa: E402


def _child(req: dict[str, Any]) -> None:
    """In the forked child: become a process group, take the environment, cwd and output files, run the op."""
    rc = 1
    try:
        os.setsid()  # own process group, so a timeout kill also reaches anything dpone spawned
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        null = os.open(os.devnull, os.O_RDONLY)
        out_fd = os.open(req["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err_fd = os.open(req["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(null, 0)
        os.dup2(out_fd, 1)  # also closes this child's copy of the protocol pipe
        os.dup2(err_fd, 2)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the server's pipes: its death must reach the caller as EOF
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        rc = worker.dispatch(req["op"], req["args"])
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


def _send(out: Any, message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def serve() -> int:
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # nothing dpone prints at import reaches the protocol
    # A broken dpone shows up in each call's own stderr, not here.
    with contextlib.suppress(Exception):
        import dpone.integration_matrix  # noqa: F401
    cli_warm = False
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so SIGCHLD writes to the wakeup fd
    sel = selectors.DefaultSelector()
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ, "stdin")
    sel.register(wake_r, selectors.EVENT_READ, "child")
    children: set[int] = set()
    buffer = b""
    try:
        while True:
            for key, _ in sel.select():
                if key.data == "child":
                    os.read(wake_r, 4096)
                    continue
                chunk = os.read(sys.stdin.fileno(), 65536)
                if not chunk:
                    return 0
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    req = json.loads(line)
                    if req["op"] in ("cli", "warm") and not cli_warm:
                        cli_warm = True
                        with contextlib.suppress(Exception):
                            worker.op_warm({})
                    try:
                        pid = os.fork()
                    except OSError as exc:
                        _send(out, {"id": req["id"], "error": f"fork failed: {exc}"})
                        continue
                    if pid == 0:
                        _child(req)
                    children.add(pid)
                    _send(out, {"id": req["id"], "pid": pid})
            while children:
                pid, status = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
                children.discard(pid)
                _send(out, {"pid": pid, "rc": os.waitstatus_to_exitcode(status)})
    finally:
        for pid in children:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(serve())
