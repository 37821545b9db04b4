"""The adapter against the real dpone (fork-server mode) and a deliberately broken dpone build
(isolated-interpreter mode): a crash, a hang or garbage output is never read as a verdict."""

from __future__ import annotations

import stat
import sys
import textwrap
from pathlib import Path

import pytest

from dpone_certify.dpone.adapter import DponeAdapter, DponeCallError, Outcome
from dpone_certify.dpone.models import CertificationPlan, MatrixReport


def test_real_gate_answers_typed_json(tmp_path: Path) -> None:
    call = DponeAdapter().cli(
        "certification_plan",
        ["ops", "certification-automation-plan", "--output-dir", str(tmp_path), "--format", "json"],
    )
    assert call.outcome is Outcome.OK and call.rc == 0 and call.blockers == []
    plan = call.parse(CertificationPlan)
    assert plan.step_count == len(plan.steps) == 11
    assert (tmp_path / "certification_automation_plan.json").exists()


def test_real_dpone_crash_is_gate_crashed_not_a_verdict(tmp_path: Path) -> None:
    # dpone 0.88: --require-benchmark without a path reads Path("") and raises IsADirectoryError (rc 1, no JSON).
    argv = [
        "ops",
        "certification-suite",
        "--output-dir",
        str(tmp_path),
        "--suite-id",
        "s",
        "--certification-report",
        str(tmp_path / "none.json"),
        "--require-benchmark",
        "--format",
        "json",
    ]
    call = DponeAdapter().cli("certification_suite", argv)
    assert call.outcome is Outcome.CRASHED and call.rc == 1
    assert call.blockers == ["gate.crashed:certification_suite"]
    assert "IsADirectoryError" in call.stderr_tail
    with pytest.raises(DponeCallError) as err:
        call.parse(MatrixReport)
    assert err.value.blocker == "gate.crashed:certification_suite"


def test_real_dpone_non_json_output_is_invalid_json() -> None:
    call = DponeAdapter().cli("version", ["--version"])
    assert call.rc == 0 and call.outcome is Outcome.INVALID_JSON
    assert call.blockers == ["artifact.invalid_json"]


def test_in_process_hang_is_killed_at_the_timeout(tmp_path: Path) -> None:
    # The full simulation takes seconds; a 0.2 s budget must end in a kill, not a verdict.
    call = DponeAdapter(timeout_seconds=0.2).cli(
        "source_sink_matrix", ["ops", "certification-run", "--artifact-dir", str(tmp_path), "--format", "json"]
    )
    assert call.outcome is Outcome.TIMEOUT and call.rc is None
    assert call.blockers == ["gate.timeout:source_sink_matrix"]
    assert call.duration_seconds < 5


def test_wrong_shape_is_invalid_shape(tmp_path: Path) -> None:
    call = DponeAdapter().cli(
        "certification_plan",
        ["ops", "certification-automation-plan", "--output-dir", str(tmp_path), "--format", "json"],
    )
    with pytest.raises(DponeCallError) as err:
        call.parse(MatrixReport)  # a plan is not a matrix report
    assert err.value.blocker == "artifact.invalid_shape:certification_plan"


def test_secrets_are_scrubbed_from_captured_output(tmp_path: Path) -> None:
    secret = "s3cr3t-Pa55word"
    call = DponeAdapter(secrets=[secret]).cli(
        "run", ["run", str(tmp_path / "missing.yaml"), "--run-id", secret, "--format", "json"]
    )
    assert secret not in call.model_dump_json()


# ---- a deliberately broken dpone build, run through its own interpreter ---------------------------------
BROKEN_MAIN = textwrap.dedent(
    """
    import os, sys, time

    def main(argv=None):
        mode = os.environ["BROKEN_DPONE_MODE"]
        if mode == "hang":
            time.sleep(600)
        if mode == "garbage":
            print("this is not json")
            sys.exit(0)
        if mode == "crash":
            raise RuntimeError("broken build")
        if mode == "ok":
            print('{"passed": true, "blockers": []}')
            sys.exit(0)
    """
)


@pytest.fixture(scope="module")
def broken_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("broken_dpone")
    pkg = base / "site" / "dpone" / "cli"
    pkg.mkdir(parents=True)
    (base / "site" / "dpone" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "main.py").write_text(BROKEN_MAIN)
    wrapper = base / "python"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{base / "site"}" exec "{sys.executable}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return wrapper


@pytest.mark.parametrize(
    ("mode", "outcome", "blocker"),
    [
        ("crash", Outcome.CRASHED, "gate.crashed:lineage_report"),
        ("garbage", Outcome.INVALID_JSON, "artifact.invalid_json"),
        ("hang", Outcome.TIMEOUT, "gate.timeout:lineage_report"),
        ("ok", Outcome.OK, None),
    ],
)
def test_isolated_broken_build(
    broken_python: Path, monkeypatch: pytest.MonkeyPatch, mode: str, outcome: Outcome, blocker: str | None
) -> None:
    monkeypatch.setenv("BROKEN_DPONE_MODE", mode)
    call = DponeAdapter(python=str(broken_python), timeout_seconds=2).cli("lineage_report", ["ops", "lineage-export"])
    assert call.mode == "isolated"
    assert call.outcome is outcome
    assert call.blockers == ([blocker] if blocker else [])
    if mode == "crash":
        assert "RuntimeError: broken build" in call.stderr_tail
    if mode == "hang":
        assert call.duration_seconds < 10


def test_an_interpreter_that_cannot_start_is_a_crash_not_a_traceback(tmp_path: Path) -> None:
    for python in (tmp_path / "missing" / "python", tmp_path):  # no such file; a folder
        call = DponeAdapter(python=str(python), timeout_seconds=30).cli("g", ["ops", "certification-plan"])
        assert call.outcome is Outcome.CRASHED and call.rc == 127 and call.payload is None
        assert f"cannot start the interpreter {python}" in call.stderr_tail
