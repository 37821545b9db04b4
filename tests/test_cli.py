"""`dpone-certify`: the verdict people read, and its exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from dpone_certify.cli import main


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no dagster.yaml here: an ephemeral instance
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("DPONE_CERTIFY_PROFILE", raising=False)
    monkeypatch.setenv("DPONE_CERTIFY_EVIDENCE_ROOT", str(tmp_path / "evidence"))
    return tmp_path


def test_passing_selection_on_simulation_is_not_called_a_certification(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "run",
            "--case",
            "postgres_to_postgres__full_refresh",
            "--select",
            "source_sink_matrix",
            "--select",
            "matrix_report",
            "--row-count",
            "200",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "NOT A CERTIFICATION" in out and "CERTIFIED: every" not in out
    assert str(workdir / "evidence" / "runs") in out


def test_failing_gate_exits_one_and_names_what_to_fix_first(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--case", "postgres_to_postgres__full_refresh", "--row-count", "200"])
    out = capsys.readouterr().out
    assert code == 1
    assert "NOT CERTIFIED" in out
    lines = [line for line in out.splitlines() if line.split(" ")[0] in ("certification_plan", "evidence_chain")]
    assert lines[0].startswith("certification_plan") and lines[-1].startswith("evidence_chain")  # graph order
    assert "What to fix first: benchmark_baseline" in out  # the shipped baseline covers the full matrix only
    (selftest,) = [line for line in out.splitlines() if line.startswith("reconciliation_selftest ")]
    assert selftest.split()[1:3] == ["N/A", "WARN"]  # not run under contract, not required, not a failure


def test_explain_and_cases(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "gate.timeout:lineage_report"]) == 0
    assert "DPONE_CERTIFY_GATE_TIMEOUT_SECONDS" in capsys.readouterr().out
    assert main(["cases"]) == 0
    assert len(capsys.readouterr().out.split()) == 237


def test_usage_errors_exit_two(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--case", "nosuch_to_nowhere__x"])
    assert exc.value.code == 2 and "unknown case" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["run", "--case", "postgres_to_mssql__full_refresh", "--case", "kafka_to_kafka__snapshot_diff"])
    assert exc.value.code == 2 and "contiguous" in capsys.readouterr().err
