"""The run report from gate records: verdicts, UNVERIFIED spelled out, remediations, artifacts, no secrets."""

from __future__ import annotations

import json
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path

import pytest

from dpone_certify.certification.layout import EvidenceLayout
from dpone_certify.certification.records import GateRecord
from dpone_certify.matrix.records import EvidenceStatus
from dpone_certify.report import GATE_ORDER, collect, render_html, render_markdown, write_report
from dpone_certify.settings import Profile

RUN = "run-0001"
SECRET = "tok-" + "51c2e0d9aa"


def _record(
    root: Path, gate: str, *, passed: bool, status: EvidenceStatus, blockers: Sequence[str] = (), **kw: object
) -> None:
    out = root / "runs" / RUN / gate
    out.mkdir(parents=True, exist_ok=True)
    record = GateRecord(
        gate=gate, run_id=RUN, profile=Profile.CONTRACT, evidence_status=status, passed=passed,
        blockers=list(blockers), output_dir=str(out), artifacts={"report": str(out / f"{gate}.json")},
        release="dpone-0.88.0", **kw,  # type: ignore[arg-type]
    )  # fmt: skip
    (out / "gate_record.json").write_text(record.model_dump_json(), encoding="utf-8")


def _matrix(root: Path, records: list[dict[str, object]]) -> None:
    path = EvidenceLayout(root, RUN).matrix_run_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"run_id": RUN, "records": records}), encoding="utf-8")


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DPONE_IT_PG_PASSWORD", SECRET)
    root = tmp_path / "evidence"
    _record(root, "certification_plan", passed=True, status=EvidenceStatus.PASS)
    _matrix(
        root,
        [
            {"case_id": "postgres_to_postgres__full_refresh", "status": "passed", "evidence_status": "UNVERIFIED",
             "blockers": []},
            {"case_id": "mysql_to_postgres__full_refresh", "status": "not_covered", "evidence_status": "NOT_COVERED",
             "blockers": [], "reason": "mysql is not configured"},
        ],
    )  # fmt: skip
    _record(
        root, "certification_suite", passed=False, status=EvidenceStatus.UNVERIFIED,
        blockers=["certification_report.not_passed", "evidence.unverified:certification_suite", "brand.new:thing"],
        dpone_command="dpone ops certification-suite --format json",
        summary=f"connection postgresql://certify:{SECRET}@db:5432/x failed",
    )  # fmt: skip
    _record(root, "evidence_chain", passed=True, status=EvidenceStatus.PASS, required=False)
    bad = root / "runs" / RUN / "artifact_index"
    bad.mkdir(parents=True)
    (bad / "gate_record.json").write_text("{not json", encoding="utf-8")
    return root


def test_gate_order_is_the_graph() -> None:
    from dpone_certify.definitions import ASSETS
    from dpone_certify.gates.release import RELEASE_ASSETS

    assert list(GATE_ORDER) == [a.key.path[-1] for a in ASSETS] + sorted(
        (a.key.path[-1] for a in RELEASE_ASSETS), key=GATE_ORDER.index
    ) + ["release_comparison"]


def test_collect(root: Path) -> None:
    report = collect(root, RUN, expected_gates=["lineage_report"])
    by_gate = {g.gate: g for g in report.gates}
    assert [g.gate for g in report.gates] == [g for g in GATE_ORDER if g in by_gate]
    assert report.verdict == "FAILED" and report.unverified
    assert report.profile == "contract" and report.release == "dpone-0.88.0"
    assert by_gate["certification_plan"].status == "passed"
    assert by_gate["lineage_report"].status == "no_record"  # expected, never wrote a record
    assert by_gate["artifact_index"].status == "unreadable"
    matrix = by_gate["source_sink_matrix"]
    assert matrix.status == "failed" and matrix.evidence_status == "UNVERIFIED"
    assert matrix.blockers == ["matrix_case.failed:mysql_to_postgres__full_refresh"]
    assert report.matrix and report.matrix.total == 2 and report.matrix.not_passed_total == 1
    suite = by_gate["certification_suite"]
    assert [r.blocker for r in suite.remediations] == suite.blockers
    assert [r.known for r in suite.remediations][-1] is False  # unknown blocker: generic triage, still listed
    assert suite.reproduce[0] == "dagster asset materialize -m dpone_certify.definitions --select certification_suite"
    assert suite.reproduce[-1] == "dpone ops certification-suite --format json"
    assert report.failed_gates == ["source_sink_matrix", "lineage_report", "certification_suite", "artifact_index"]


def test_markdown(root: Path) -> None:
    text = render_markdown(collect(root, RUN))
    assert "- Verdict: **FAILED**" in text
    assert "| `certification_suite` | FAIL | yes | UNVERIFIED (dpone mock_contract simulation" in text
    assert "| `evidence_chain` | PASS | no | PASS | 0 |" in text
    assert "**Evidence is UNVERIFIED**" in text
    assert "#### `brand.new:thing`" in text and "no catalogue entry" in text
    assert "`mysql_to_postgres__full_refresh` | not_covered" in text
    assert SECRET not in text and "postgresql://certify:***@db" in text


def test_html_is_self_contained_and_escaped(root: Path, tmp_path: Path) -> None:
    _record(root, "matrix_report", passed=False, status=EvidenceStatus.FAIL, blockers=["x"],
            summary="<script>alert(1)</script>")  # fmt: skip
    page = render_html(collect(root, RUN))
    assert SECRET not in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    refs: list[str] = []

    class Links(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            refs.extend(v or "" for k, v in attrs if k in ("src", "href"))

    Links().feed(page)
    assert refs and all(r.startswith("#") for r in refs), refs  # in-page anchors only, nothing fetched
    assert 'id="certification_suite"' in page


def test_write_report(root: Path) -> None:
    report, paths = write_report(root, RUN)
    assert paths.markdown == root / "runs" / RUN / "remediation_report.md"
    payload = json.loads(paths.json_path.read_text(encoding="utf-8"))
    assert payload["failed_gates"] == report.failed_gates
    assert payload["blockers"][:1] == ["matrix_case.failed:mysql_to_postgres__full_refresh"]
    assert SECRET not in paths.json_path.read_text(encoding="utf-8")
    assert paths.html.read_text(encoding="utf-8").startswith("<!doctype html>")


def test_no_evidence(tmp_path: Path) -> None:
    report = collect(tmp_path, "nope", expected_gates=["certification_plan"])
    assert report.verdict == "NO EVIDENCE" and report.failed_gates == ["certification_plan"]
    assert "NO RECORD" in render_markdown(report)


def test_a_gate_with_nothing_to_judge_is_not_run_never_failed(tmp_path: Path) -> None:
    """The self-test under the contract profile: not required, NOT_COVERED. N/A, as the CLI says; a required
    gate with the same evidence is still a failure."""
    root = tmp_path / "evidence"
    _record(root, "reconciliation_selftest", passed=False, status=EvidenceStatus.NOT_COVERED,
            blockers=["selftest.not_applicable"], required=False)  # fmt: skip
    _record(root, "matrix_report", passed=False, status=EvidenceStatus.NOT_COVERED, blockers=["x.y"])
    sections = {g.gate: g for g in collect(root, RUN).gates}
    assert sections["reconciliation_selftest"].status == "not_run"
    assert sections["matrix_report"].status == "failed"
    assert "N/A" in render_markdown(collect(root, RUN))
