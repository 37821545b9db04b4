"""Honest starts and exits (issue 12, item 4 and the "Also" list): a run that cannot start says why in one line
and exits 3, before any gate runs; the verdict never says CERTIFIED for gates that did not run; two first runs
on a fresh Dagster home both start; a refused database login is engine.auth_failed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from dpone_certify.cli import main, render_verdict
from dpone_certify.startup import gates_not_run, required_not_selected

CASE = "postgres_to_postgres__full_refresh"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no dagster.yaml here: an ephemeral instance
    for name in ("DAGSTER_HOME", "DPONE_CERTIFY_PROFILE", "DPONE_CERTIFY_GATE_TIMEOUT_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DPONE_CERTIFY_EVIDENCE_ROOT", str(tmp_path / "evidence"))
    return tmp_path


def _bad_starts(tmp: Path) -> list[tuple[dict[str, str], list[str], str]]:
    a_file = tmp / "a-file"
    a_file.write_text("not a folder")
    fake_python = tmp / "fake-python"
    fake_python.write_text("#!/bin/sh\nexit 0\n")
    fake_python.chmod(0o755)
    return [
        ({"DPONE_CERTIFY_PROFILE": "bogus"}, [], "is not a profile"),
        ({"DPONE_CERTIFY_GATE_TIMEOUT_SECONDS": "abc"}, [], "is not a number of seconds"),
        ({"DPONE_CERTIFY_GATE_TIMEOUT_SECONDS": "0"}, [], "must be a positive number"),
        ({}, ["--row-count", "0"], "--row-count 0 is out of range"),
        ({}, ["--evidence-root", str(a_file)], "is a file, not a folder"),
        ({}, ["--evidence-root", str(a_file / "below")], "cannot be created"),
        ({}, ["--dpone-python", str(tmp / "nonexistent" / "python")], "does not exist"),
        ({}, ["--dpone-python", str(fake_python)], "does not import dpone"),
        ({}, ["--control-python", str(tmp / "nonexistent" / "python")], "--control-python"),
        ({}, ["--max-parallel", "0"], "--max-parallel 0"),
    ]


def test_every_bad_start_exits_3_in_one_line_and_runs_nothing(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for env, argv, message in _bad_starts(workdir):
        with monkeypatch.context() as m:
            for key, value in env.items():
                m.setenv(key, value)
            code = main(["run", "--case", CASE, *argv])
        out, err = capsys.readouterr()
        assert code == 3, (env, argv, out, err)
        assert err.count("\n") == 1 and err.startswith("dpone-certify: cannot start:") and message in err, err
        assert "CERTIFIED" not in out + err
        assert not (workdir / "evidence" / "runs").exists()  # no gate ran


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_evidence_root_exits_3(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = workdir / "ro"
    root.mkdir()
    root.chmod(0o555)
    try:
        assert main(["run", "--case", CASE, "--evidence-root", str(root)]) == 3
    finally:
        root.chmod(0o755)
    assert "is not writable" in capsys.readouterr().err


def test_unknown_asset_is_a_usage_error(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--select", "no_such_asset"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown asset key(s) for --select: no_such_asset" in err


def test_verdict_is_never_certified_for_a_gate_that_left_no_verdict() -> None:
    passed = SimpleNamespace(
        asset_key=SimpleNamespace(to_user_string=lambda: "certification_plan", path=["certification_plan"]),
        passed=True,
        severity=SimpleNamespace(value="ERROR"),
        description="certification_plan passed; evidence PASS",
    )
    selected = ["certification_plan", "evidence_chain"]
    assert gates_not_run(selected, [passed]) == ["evidence_chain"]
    text = render_verdict("r1", [passed], "/evidence", not_run=gates_not_run(selected, [passed]))
    assert "CERTIFIED: every" not in text and "NOT CERTIFIED" in text and "evidence_chain" in text
    assert "CERTIFIED: every" in render_verdict("r1", [passed], "/evidence", not_run=[])
    partial = render_verdict("r1", [passed], "/evidence", not_selected=required_not_selected(["certification_plan"]))
    assert "NOT A CERTIFICATION" in partial and "evidence_chain" in partial


@pytest.mark.slow
def test_two_first_runs_on_a_fresh_dagster_home_both_start(tmp_path: Path) -> None:
    home = tmp_path / "dagster-home"
    home.mkdir()
    cli = Path(sys.executable).parent / "dpone-certify"
    procs = []
    for k in range(2):
        env = {**os.environ, "DAGSTER_HOME": str(home), "DPONE_CERTIFY_EVIDENCE_ROOT": str(tmp_path / f"ev{k}")}
        env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
        argv = [str(cli), "run", "--select", "certification_plan", "--case", CASE]
        procs.append(subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    outputs = [p.communicate(timeout=600)[0].decode() for p in procs]
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, output[-3000:]
        assert "IntegrityError" not in output and "already exists" not in output
        assert "dpone-certify run" in output


@pytest.mark.mysql
def test_wrong_mysql_password_is_auth_failed_not_unreachable() -> None:
    from dpone_certify.matrix.local.engines import EngineUnavailable, mysql_engine

    env = {
        "DPONE_IT_MYSQL_HOST": "127.0.0.1",
        "DPONE_IT_MYSQL_PORT": "3306",
        "DPONE_IT_MYSQL_DATABASE": "mysql",
        "DPONE_IT_MYSQL_USER": "root",
        "DPONE_IT_MYSQL_PASSWORD": "Wrong-pw-evidence-9d1",
    }
    try:
        import pymysql

        pymysql.connect(host="127.0.0.1", port=3306, user="root", connect_timeout=3).close()
    except Exception:  # noqa: BLE001
        pytest.skip("the machine's MariaDB at 127.0.0.1:3306 is not reachable")
    with pytest.raises(EngineUnavailable) as exc:
        mysql_engine(env)
    assert exc.value.code == "engine.auth_failed"
    assert "not reachable" not in exc.value.reason and env["DPONE_IT_MYSQL_PASSWORD"] not in exc.value.reason
    with pytest.raises(EngineUnavailable) as exc:
        mysql_engine({**env, "DPONE_IT_MYSQL_PORT": "1"})  # nothing listens there
    assert exc.value.code == "engine.unavailable" and "not reachable" in exc.value.reason
