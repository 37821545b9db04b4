"""The candidate-vs-control section reads this run's release_comparison evidence and says plainly when it cannot:
no record is no section, a run without a control build is no section, an unreadable record or report is a
'not compared' line (never a comparison that did not happen). The real comparison is in
tests/compare/test_comparison_real.py."""

from __future__ import annotations

import json
from pathlib import Path

from dpone_certify.certification.layout import EvidenceLayout
from dpone_certify.compare.classify import CaseComparison, Verdict, summarize
from dpone_certify.compare.impact import impact
from dpone_certify.report import control

RUN = "run-1"


def _write(root: Path, record: dict[str, object], report: dict[str, object] | str | None) -> Path:
    layout = EvidenceLayout(root, RUN)
    folder = layout.gate_dir(control.GATE)
    path = folder / "release_comparison.json"
    if report is not None:
        path.write_text(report if isinstance(report, str) else json.dumps(report), encoding="utf-8")
    layout.record_path(control.GATE).write_text(
        json.dumps({**record, "artifacts": {"report": str(path)}}), encoding="utf-8"
    )
    return path


def test_no_record_and_no_control_are_no_section(tmp_path: Path) -> None:
    assert control.load(tmp_path, RUN) is None
    _write(tmp_path, {"passed": False, "blockers": ["comparison.no_control"]}, None)
    assert control.load(tmp_path, RUN) is None


def test_unreadable_evidence_is_not_compared(tmp_path: Path) -> None:
    EvidenceLayout(tmp_path, RUN).gate_dir(control.GATE)
    EvidenceLayout(tmp_path, RUN).record_path(control.GATE).write_text("{not json", encoding="utf-8")
    broken = control.load(tmp_path, RUN)
    assert broken is not None and broken.problem and "cannot be read" in broken.problem
    assert control.summary_lines(broken) == [f"vs control: not compared ({broken.problem})"]

    _write(tmp_path, {"passed": True, "blockers": []}, '{"cases": [{"case_id": 1}]}')
    invalid = control.load(tmp_path, RUN)
    assert invalid is not None and not invalid.passed and invalid.problem
    assert "4 invalid field(s), first case_id: Input should be a valid string" in invalid.problem
    assert "Not compared: " in control.render_html(invalid)

    report = _write(tmp_path, {"passed": True, "blockers": []}, None)
    report.unlink(missing_ok=True)
    missing = control.load(tmp_path, RUN)
    assert missing is not None and missing.problem and str(report) in missing.problem


def test_a_comparison_reads_out_regressions_first(tmp_path: Path) -> None:
    cases = [
        CaseComparison(
            case_id="a__x", verdict=Verdict.STILL_PASSING, candidate_status="passed", control_status="passed"
        ),
        CaseComparison(
            case_id="c__x", verdict=Verdict.NOT_COMPARED, candidate_status="not_covered", control_status="not_covered"
        ),
        CaseComparison(
            case_id="d__x", verdict=Verdict.NOT_COMPARED, candidate_status="passed", control_status="absent_in_build"
        ),
        CaseComparison(
            case_id="b__x",
            verdict=Verdict.REGRESSION,
            candidate_status="failed",
            control_status="passed",
            appeared=["correctness.rows_mismatch"],
        ),
    ]
    change = impact(
        {"dpone/mssql/bcp.py": "1", "dpone/core.py": "2"},
        {"dpone/mssql/bcp.py": "0", "dpone/core.py": "2"},
        covered_engines={"postgres"},
        covered_strategies={"full_refresh"},
        how_to_enable={"mssql": "set DPONE_IT_MSSQL_HOST"},
    )
    _write(
        tmp_path,
        {"passed": False, "blockers": ["comparison.regression:b__x"]},
        {
            "candidate": None,
            "control": {"dpone_version": "0.87.4"},  # not a full identity: shown as unknown, not guessed
            "counts": summarize(cases),
            "cases": [c.model_dump(mode="json") for c in cases],
            "impact": change.model_dump(mode="json"),
        },
    )
    c = control.load(tmp_path, RUN)
    assert c is not None and c.problem is None and c.control == "unknown"
    counts = "1 regression, 1 still passing, 1 not compared, 1 not covered by either build here"
    assert c.counts_line == counts
    first, second = control.summary_lines(c)
    assert first == f"vs control unknown: {counts}"
    assert second == f"  change impact: {change.summary}" and "mssql" in second
    md = "\n".join(control.render_markdown(c))
    assert md.index("b__x") < md.index("a__x")  # the regression heads the table
    assert "`mssql`: set DPONE_IT_MSSQL_HOST" in md
    html = control.render_html(c)
    assert "<td class='s-failed'>regression</td>" in html and "dpone/mssql/bcp.py" in html
