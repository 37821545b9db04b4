"""The fork server that runs every default-mode dpone call: calls from many threads at once, no fork of the calling
process, a call's environment as of the call, and a server that dies mid-call (a crash, never a verdict)."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dpone_certify.dpone import adapter as adapter_module
from dpone_certify.dpone.adapter import DponeAdapter, Outcome
from dpone_certify.dpone.models import CertificationPlan

PLAN = ["ops", "certification-automation-plan", "--format", "json", "--output-dir"]
_forks_here = 0


def _count_fork() -> None:
    global _forks_here
    _forks_here += 1


os.register_at_fork(before=_count_fork)


def test_calls_from_many_threads_never_fork_this_process(tmp_path: Path) -> None:
    dpone = DponeAdapter(timeout_seconds=120)
    dpone.warm()
    before = _forks_here
    held = threading.Lock()
    held.acquire()  # a lock another thread holds during every call: a fork of this process would copy it held

    def one(i: int) -> tuple[Outcome, int]:
        call = dpone.cli("certification_plan", [*PLAN, str(tmp_path / str(i))])
        return call.outcome, call.parse(CertificationPlan).step_count

    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(one, range(12)))
    finally:
        held.release()
    assert results == [(Outcome.OK, 11)] * 12
    assert all((tmp_path / str(i) / "certification_automation_plan.json").exists() for i in range(12))
    assert _forks_here == before


def test_each_call_gets_the_environment_of_its_own_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    """argparse wraps dpone's --help at $COLUMNS, read when the help is printed: a child that ran with the
    server's start-up environment would wrap both calls alike."""
    dpone = DponeAdapter(timeout_seconds=120)
    dpone.warm()  # the server runs before either value is set
    help_argv = ["ops", "certification-automation-plan", "--help"]
    monkeypatch.setenv("COLUMNS", "50")  # this process's environment, set after the server started
    narrow = dpone.cli("help", help_argv)
    wide = dpone.cli("help", help_argv, env={"COLUMNS": "200"})  # a per-call value
    assert narrow.rc == wide.rc == 0 and narrow.outcome is Outcome.INVALID_JSON  # help text, not JSON
    # (an unbreakable option string may overrun a narrow width a little; wrapped prose never reaches 100)
    assert max(len(line) for line in narrow.stdout.splitlines()) < 100
    assert max(len(line) for line in wide.stdout.splitlines()) > 100


def test_server_dying_mid_call_is_a_crash_and_the_next_call_restarts_it(tmp_path: Path) -> None:
    dpone = DponeAdapter(timeout_seconds=120)
    dpone.warm()
    server = adapter_module._ForkServer.get()
    results: list = []
    worker = threading.Thread(
        target=lambda: results.append(
            dpone.cli("source_sink_matrix", ["ops", "certification-run", "--artifact-dir", str(tmp_path / "m")])
        )
    )
    worker.start()
    time.sleep(0.5)  # the full simulation takes seconds: the call is running
    server._proc.kill()
    worker.join(60)
    assert not worker.is_alive()
    call = results[0]
    assert call.outcome is Outcome.CRASHED and call.blockers == ["gate.crashed:source_sink_matrix"]
    assert "fork server" in call.stderr_tail
    again = dpone.cli("certification_plan", [*PLAN, str(tmp_path / "p")])
    assert again.outcome is Outcome.OK
    assert adapter_module._ForkServer.get() is not server
