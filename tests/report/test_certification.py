"""The certification report page, the history dataset and the deltas: built from run folders as the gates
leave them, rendered in a real headless Chromium with networking off."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from dpone_certify.certification.layout import EvidenceLayout
from dpone_certify.gates.keys import FULL_CERTIFICATION_GATES
from dpone_certify.gates.records import GateRecord
from dpone_certify.matrix.records import EvidenceStatus
from dpone_certify.report import certification, history
from dpone_certify.settings import Profile

SECRET = "tok-" + "8e1f00c4d2"
FAILED_CASE = "postgres_to_postgres__incremental_merge"
PASSED_CASE = "postgres_to_postgres__full_refresh"
NOT_COVERED = "mysql_to_postgres__full_refresh"


def _case(case_id: str, status: str, *, run_id: str, evidence: str = "PASS", **kw: Any) -> dict[str, Any]:
    source, rest = case_id.split("_to_")
    sink, strategy = rest.split("__")
    return {
        "case_id": case_id, "source": source, "sink": sink, "strategy": strategy, "profile": "local",
        "status": status, "evidence_status": evidence, "run_id": run_id,
        "settings": {"row_count": 200, "change_ratio": 0.2, "delete_ratio": 0.05},
        "rows_moved": 200 if status in ("passed", "failed") else 0, "load_seconds": 2.0, "blockers": [], **kw,
    }  # fmt: skip


def _run(root: Path, run_id: str, cases: list[dict[str, Any]], *, failing: dict[str, list[str]] | None = None,
         time: datetime | None = None) -> None:  # fmt: skip
    """A run folder as the gates leave it, and its history rows."""
    run_dir = root / "runs" / run_id
    for gate in FULL_CERTIFICATION_GATES:
        if gate == "source_sink_matrix":
            continue
        out = run_dir / gate
        out.mkdir(parents=True, exist_ok=True)
        blockers = (failing or {}).get(gate, [])
        record = GateRecord(
            gate=gate, run_id=run_id, profile=Profile.LOCAL, evidence_status=EvidenceStatus.PASS, passed=not blockers,
            blockers=blockers, output_dir=str(out), release="dpone-0.88.0",
            summary=f"connection postgresql://certify:{SECRET}@db:5432/x" if blockers else "",
        )  # fmt: skip
        (out / "gate_record.json").write_text(record.model_dump_json(), encoding="utf-8")
    matrix_run = EvidenceLayout(root, run_id).matrix_run_path
    matrix_run.parent.mkdir(parents=True, exist_ok=True)
    matrix_run.write_text(json.dumps({"run_id": run_id, "records": cases}), encoding="utf-8")
    rows = history.case_rows(cases, run_id=run_id, time=time or datetime.now(UTC), dpone_version="0.88.0")
    history.append_run(root, run_id, rows, [])


@pytest.fixture
def two_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DPONE_IT_PG_PASSWORD", SECRET)
    root = tmp_path / "evidence"
    t0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    _run(root, "run-a", [
        _case(PASSED_CASE, "passed", run_id="run-a"),
        _case(FAILED_CASE, "passed", run_id="run-a", variants=[{"name": "reference", "status": "passed"}]),
        _case(NOT_COVERED, "not_covered", run_id="run-a", evidence="NOT_COVERED", reason="mysql is not configured"),
    ], time=t0)  # fmt: skip
    _run(root, "run-b", [
        _case(PASSED_CASE, "passed", run_id="run-b"),
        _case(FAILED_CASE, "failed", run_id="run-b", blockers=["type_fidelity.timestamptz_to_timestamp"],
              variants=[{"name": "reference", "status": "passed"}]),
        _case(NOT_COVERED, "not_covered", run_id="run-b", evidence="NOT_COVERED", reason="mysql is not configured",
              blockers=[f"matrix_case.not_covered:{NOT_COVERED}"]),  # sorts first, as in a real run
    ], failing={"benchmark_baseline": ["benchmark.regression:rows_per_second"],
                "run_registry": ["artifact.benchmark_baseline.not_passed"]}, time=t0 + timedelta(hours=1))  # fmt: skip
    return root


def test_verdict_gates_grid_findings_and_comparison(two_runs: Path) -> None:
    report = certification.build(two_runs, "run-b", dpone_version="0.88.0")
    assert report.verdict == "NOT CERTIFIED" and report.profile == "local"
    assert report.sentence.startswith("NOT CERTIFIED: 3 required gate(s) did not pass (source_sink_matrix")
    assert "fix source_sink_matrix first" in report.sentence
    assert [g.gate for g in report.gates] == list(FULL_CERTIFICATION_GATES)
    assert report.coverage is not None
    assert (report.coverage.selected, report.coverage.covered, report.coverage.failed) == (3, 2, 1)
    assert (report.coverage.positive_controls, report.coverage.positive_controls_passed) == (1, 1)
    assert report.coverage.not_covered_reasons == {"mysql is not configured": 1}
    cells = {c.case_id: c for g in report.grids for c in g.cells.values()}
    assert cells[FAILED_CASE].outcome == "failed" and cells[FAILED_CASE].change == "regression"
    assert cells[PASSED_CASE].outcome == "passed" and cells[PASSED_CASE].change is None
    assert cells[NOT_COVERED].outcome == "not_covered" and "mysql is not configured" in cells[NOT_COVERED].title
    assert sum(c.outcome == "not_selected" for c in cells.values()) == 237 - 3
    (finding,) = report.findings
    assert finding.cases == [FAILED_CASE] and finding.blockers == ["type_fidelity.timestamptz_to_timestamp"]
    assert f"dpone-certify run --profile local --case {FAILED_CASE}" in finding.reproduce
    assert report.comparison and report.comparison.newly_failing == [FAILED_CASE]
    tops = certification.top_remediations(report)
    assert tops[0].startswith("source_sink_matrix: type_fidelity.timestamptz_to_timestamp")
    assert not any("not_passed" in t for t in tops)  # consequences of the root cause are not "top"
    assert not any("not_covered" in t for t in tops)  # coverage is said by the coverage line, not a fix to make
    assert report.why[0].startswith("source_sink_matrix: type_fidelity.timestamptz_to_timestamp")
    assert report.chain.verify[0] == f"dpone-certify verify {two_runs}"


def test_unverified_is_never_a_certification(tmp_path: Path) -> None:
    root = tmp_path / "evidence"
    _run(root, "run-c", [_case(PASSED_CASE, "passed", run_id="run-c", evidence="UNVERIFIED", profile="contract")])
    for path in (root / "runs" / "run-c").glob("*/gate_record.json"):
        data = json.loads(path.read_text())
        data["evidence_status"] = "UNVERIFIED"
        path.write_text(json.dumps(data))
    report = certification.build(root, "run-c")
    assert report.verdict == "NOT A CERTIFICATION" and report.unverified
    assert "UNVERIFIED (dpone mock_contract simulation" in report.sentence
    assert "CERTIFIED:" not in report.sentence.replace("NOT A CERTIFICATION:", "")
    page = certification.render_html(report)
    assert 'class="c-unverified"' in page


def test_markdown_and_files(two_runs: Path) -> None:
    report = certification.build(two_runs, "run-b")
    files = certification.write(report, two_runs / "runs" / "run-b")
    md = files.markdown.read_text(encoding="utf-8")
    assert md.startswith("# dpone certification report: run `run-b`")
    assert "**NOT CERTIFIED:" in md and "newly failing (1): " + FAILED_CASE in md
    for path in (files.html, files.markdown, files.json_path):
        text = path.read_text(encoding="utf-8")
        assert SECRET not in text
    loaded = certification.load(two_runs / "runs" / "run-b")
    assert loaded is not None and (loaded.verdict, loaded.sentence, loaded.gates[0]) == (
        report.verdict,
        report.sentence,
        report.gates[0],
    )
    assert SECRET not in loaded.model_dump_json()  # what is stored is redacted


def _static_refs(page: str) -> tuple[list[str], list[str]]:
    refs: list[str] = []
    tags: list[str] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            tags.append(tag)
            refs.extend(v or "" for k, v in attrs if k in ("src", "href", "xlink:href"))

    Parser().feed(page)
    return refs, tags


def test_page_is_self_contained(two_runs: Path) -> None:
    page = certification.render_html(certification.build(two_runs, "run-b"))
    refs, tags = _static_refs(page)
    assert not [r for r in refs if not r.startswith("#")], refs
    assert "script" not in tags and "link" not in tags and "img" not in tags and "iframe" not in tags
    assert "url(" not in page and "@import" not in page and "@font-face" not in page


def test_trends_are_svg_of_one_profile(two_runs: Path) -> None:
    _run(two_runs, "run-contract", [_case(PASSED_CASE, "passed", run_id="run-contract", profile="contract",
                                          evidence="UNVERIFIED")])  # fmt: skip
    report = certification.build(two_runs, "run-b")
    assert [s.run_id for s in report.trends] == ["run-a", "run-b"]  # the contract run is not mixed in
    page = certification.render_html(report)
    assert page.count("<svg") == 3 and "rows/s per strategy" in page and "pass rate" in page


# ---- history ---------------------------------------------------------------------------------------------


def test_history_round_trip_and_rewrite(two_runs: Path) -> None:
    rows = history.read_cases(two_runs)
    assert len(rows) == 8  # 3 cases + 1 reference variant, per run
    b = {(r["case_id"], r["variant"]): r for r in rows if r["run_id"] == "run-b"}
    failed = b[(FAILED_CASE, "")]
    assert failed["outcome"] == "failed" and failed["blockers"] == ["type_fidelity.timestamptz_to_timestamp"]
    assert failed["profile"] == "local" and failed["dpone_version"] == "0.88.0" and failed["distribution_digest"] == ""
    assert failed["rows"] == 200 and failed["rows_per_second"] == 100.0 and json.loads(failed["checksums"]) == {}
    assert b[(FAILED_CASE, "reference")]["outcome"] == "passed"
    assert b[(NOT_COVERED, "")]["covered"] is False and b[(NOT_COVERED, "")]["rows_per_second"] is None
    # re-writing a run replaces its file whole (no duplicate rows)
    history.append_run(two_runs, "run-b", [r for r in rows if r["run_id"] == "run-b"][:1], [])
    assert len([r for r in history.read_cases(two_runs) if r["run_id"] == "run-b"]) == 1
    assert not [p for p in history.history_dir(two_runs).iterdir() if p.name.startswith(".")]  # no temp left


def test_concurrent_appends_lose_nothing(tmp_path: Path) -> None:
    now = datetime.now(UTC)

    def write(i: int) -> None:
        rows = history.case_rows([_case(PASSED_CASE, "passed", run_id=f"r{i}")], run_id=f"r{i}", time=now)
        history.append_run(tmp_path, f"r{i}", rows, [])

    threads = [threading.Thread(target=write, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["run_id"] for r in history.read_cases(tmp_path)) == sorted(f"r{i}" for i in range(12))


def test_delta_noise_and_profiles(tmp_path: Path) -> None:
    """Throughput changes count only beyond the noise of earlier repeated runs of the same build."""
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    for i, seconds in enumerate((2.0, 2.1, 1.9, 2.0, 4.0)):  # the last run is twice as slow
        rid = f"n{i}"
        rows = history.case_rows([_case(PASSED_CASE, "passed", run_id=rid, load_seconds=seconds)], run_id=rid,
                                 time=t0 + timedelta(minutes=i), dpone_version="0.88.0")  # fmt: skip
        history.append_run(tmp_path, rid, rows, [])
    d = history.delta(tmp_path, "n3", "n4")
    (change,) = d.throughput
    assert change.noise is not None and 0.04 < change.noise < 0.1
    assert change.beyond_noise is True and round(change.relative_change, 2) == -0.5
    quiet = history.delta(tmp_path, "n2", "n3")
    assert quiet.throughput[0].beyond_noise is False
    rows = history.case_rows([_case(PASSED_CASE, "passed", run_id="c", profile="contract")], run_id="c", time=t0)
    history.append_run(tmp_path, "c", rows, [])
    mixed = history.delta(tmp_path, "n4", "c")
    assert not mixed.comparable and "different profiles" in mixed.reason
    assert history.last_two(tmp_path, "local") == ("n3", "n4")
    assert "beyond noise: full_refresh -50%" in history.render_delta(d)


# ---- in a real browser -----------------------------------------------------------------------------------


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("chromium is not installed (CI installs Debian's chromium in .ci/run)")


OFFLINE_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # networking off: every host resolves to nothing and any connection would go to a dead proxy
    "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
]  # fmt: skip


def _browser(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    env = {**os.environ, "HOME": str(tmp_path)}
    return subprocess.run(
        [_chromium(), *OFFLINE_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def test_page_renders_in_chromium_offline(two_runs: Path, tmp_path: Path) -> None:
    cases = [_case(PASSED_CASE, "passed", run_id="run-c"), _case(FAILED_CASE, "passed", run_id="run-c")]
    _run(two_runs, "run-c", cases, time=datetime(2026, 12, 1, 12, tzinfo=UTC))
    files = certification.write(certification.build(two_runs, "run-b"), two_runs / "runs" / "run-b")
    url = files.html.as_uri()
    dom = _browser(["--dump-dom", url], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout
    assert "NOT CERTIFIED" in text and "Gates, in graph order" in text
    assert f'data-case="{FAILED_CASE}"' in text and "ch-regression" in text
    assert "<svg" in text and "Verify offline" in text
    shot = tmp_path / "report.png"
    done = _browser(["--window-size=1280,2000", f"--screenshot={shot}", url], tmp_path)
    assert done.returncode == 0 and shot.stat().st_size > 10_000, done.stderr[-2000:]


# ---- for CI logs -----------------------------------------------------------------------------------------


def test_report_history_and_diff_commands(two_runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dpone_certify.cli import main

    root = ["--evidence-root", str(two_runs)]
    assert main(["report", *root]) == 0  # default: the latest run
    out = capsys.readouterr().out
    assert out.startswith("dpone-certify report run-b (profile local") and "NOT CERTIFIED" in out
    assert "vs run-a: 1 newly failing" in out
    assert main(["report", "run-a", "--write", *root]) == 0
    assert "report: " in capsys.readouterr().out
    assert (two_runs / "runs" / "run-a" / "certification_report.html").is_file()
    assert main(["history", *root]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("run-a") and f"newly failing (1): {FAILED_CASE}" in out
    assert main(["diff", "run-a", "run-b", *root]) == 0
    out = capsys.readouterr().out
    assert "coverage: 2/3 -> 2/3" in out and f"newly failing (1): {FAILED_CASE}" in out
    assert main(["diff", "run-a", *root]) == 2  # one run id is a usage error
    assert main(["report", "no-such-run", *root]) == 2


def test_per_column_findings_name_their_columns(tmp_path: Path) -> None:
    from dpone_certify.matrix.records import CaseRecord
    from dpone_certify.report import partitions

    recon = tmp_path / "reconciliation.json"
    finding = {"from": "timestamptz", "to": "timestamp", "columns": ["updated_at", "wide_009_timestamptz"]}
    recon.write_text(json.dumps({"type_fidelity": {"findings": [finding]}}), encoding="utf-8")
    raw = _case(FAILED_CASE, "failed", run_id="r", blockers=[f"type_fidelity.timestamptz_to_timestamp:{FAILED_CASE}"],
                artifacts={"reconciliation_report": str(recon)})  # fmt: skip
    record = CaseRecord.model_validate(raw)
    assert partitions.column_findings(record) == [
        "type_fidelity.timestamptz_to_timestamp: columns updated_at, wide_009_timestamptz"
    ]
    assert "columns updated_at" in partitions.case_metadata(record)["case_column_findings"].value
    (group,) = certification.build_findings([raw], str(tmp_path))
    assert group.details == [f"{FAILED_CASE}: timestamptz -> timestamp in updated_at, wide_009_timestamptz"]
    assert partitions.case_metadata(record)["evidence/reconciliation_report"].value == str(recon)
