"""The terminal of `dpone-certify run`: one screen, no traceback; the event stream is in the run's log."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dpone_certify import console

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
SCREEN_LINES = 40  # a laptop terminal; the end screen must not scroll


@pytest.mark.slow
def test_contract_run_fits_one_screen_without_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "DPONE_CERTIFY_EVIDENCE_ROOT": str(tmp_path / "evidence"), "COLUMNS": "120"}
    env.pop("DAGSTER_HOME", None)
    env.pop("DPONE_CERTIFY_PROFILE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [str(BIN / "dpone-certify"), "run", "--case", "postgres_to_postgres__full_refresh", "--row-count", "200"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    terminal = done.stdout + done.stderr
    lines = terminal.strip().splitlines()
    assert done.returncode == 1, terminal[-3000:]  # gates failed: a verdict, exit 1
    assert len(lines) <= SCREEN_LINES, f"{len(lines)} lines:\n{terminal}"
    assert "Traceback" not in terminal and "Stack Trace" not in terminal and " DEBUG " not in terminal
    assert "GateFailed" not in terminal
    assert "NOT CERTIFIED" in terminal and "top remediations:" in terminal
    rows = [line for line in lines if re.match(r"^\S+\s+(PASS|FAIL|N/A)\s", line)]
    assert any(" N/A " in row for row in rows)  # the self-test under the contract profile
    assert all(len(row) <= console.SCREEN_WIDTH for row in rows), rows  # a row is cut, the report has it whole
    report = re.search(r"^report: (\S+\.html)$", terminal, re.M)
    log = re.search(r"^log: (\S+)$", terminal, re.M)
    assert report and log, terminal
    assert Path(report.group(1)).is_file()
    text = Path(log.group(1)).read_text(encoding="utf-8")
    assert "STEP_START" in text and "GateFailed" in text  # the event stream and the failures' details
    assert "certification_report" in text


def test_our_own_crash_is_one_line_and_its_traceback_is_in_the_log(tmp_path: Path) -> None:
    class Broken:
        def with_logger_defs(self, loggers: object) -> Broken:
            return self

        def execute_in_process(self, **kwargs: object) -> None:
            raise KeyError("nowhere")

    outcome = console.execute(
        Broken(), asset_selection=[], instance=None, tags={}, run_config=None,  # type: ignore[arg-type]
        root=tmp_path, total_cases=0, total_steps=0,
    )  # fmt: skip
    screen = console.final_screen(outcome, "verdict table")
    assert "dpone-certify crashed: KeyError: 'nowhere'" in screen and "Traceback" not in screen
    assert str(outcome.log_path) in screen
    log = outcome.log_path.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in log and "KeyError: 'nowhere'" in log
