"""The candidate-vs-control section of the certification report and of the terminal's verdict.

Read from this run's `release_comparison` record and its JSON report (never from another run's): which cases the
build under test changed against the control build, throughput ratios, and the change-impact coverage (which
changed files the cases exercised). Absent when the run compared nothing (no control build was given).
"""

from __future__ import annotations

import json
from html import escape as _esc
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from dpone_certify.certification.keys import COMPARISON_GATES
from dpone_certify.certification.layout import EvidenceLayout
from dpone_certify.compare.classify import CaseComparison, Verdict
from dpone_certify.compare.impact import ImpactReport
from dpone_certify.report.render import md_table

(GATE,) = COMPARISON_GATES
# How the counts are read out, most urgent first.
COUNT_WORDS = {
    Verdict.REGRESSION.value: "regression",
    "throughput_regression": "throughput regression",
    Verdict.FIXED.value: "fixed",
    Verdict.STILL_FAILING_DIFFERENT.value: "still failing, findings changed",
    Verdict.STILL_FAILING_SAME.value: "still failing, same findings",
    Verdict.STILL_PASSING.value: "still passing",
    Verdict.NOT_COMPARED.value: "not compared",
}


class ControlComparison(BaseModel):
    candidate: str = "unknown"  # BuildIdentity.label of each side
    control: str = "unknown"
    passed: bool
    blockers: list[str] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    cases: list[CaseComparison] = Field(default_factory=list)
    impact: ImpactReport | None = None
    problem: str | None = None  # the comparison could not be made (control unavailable), or its report is unreadable

    @property
    def counts_line(self) -> str:
        # Cases neither build ran for real (no engine here) are coverage, not a failed comparison: said apart.
        uncovered = sum(
            c.verdict is Verdict.NOT_COMPARED and c.candidate_status == c.control_status == "not_covered"
            for c in self.cases
        )
        counts = {**self.counts, Verdict.NOT_COMPARED.value: self.counts.get(Verdict.NOT_COMPARED.value, 0) - uncovered}
        shown = [f"{counts[k]} {w}" for k, w in COUNT_WORDS.items() if counts.get(k)]
        shown += [f"{uncovered} not covered by either build here"] if uncovered else []
        return ", ".join(shown) or "no case compared"

    @property
    def impact_line(self) -> str:
        return self.impact.summary if self.impact else "unavailable (a build could not list its files)"


def _label(identity: object) -> str:
    from dpone_certify.dpone.identity import BuildIdentity

    try:
        return BuildIdentity.model_validate(identity).label
    except ValidationError:
        return "unknown"


def load(root: Path, run_id: str) -> ControlComparison | None:
    """This run's comparison, or None when the run did not compare (no record, or no control build given)."""
    try:
        record = json.loads(EvidenceLayout(Path(root), run_id).record_path(GATE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return ControlComparison(passed=False, problem=f"the release_comparison record cannot be read: {exc}")
    blockers = [str(b) for b in record.get("blockers") or []]
    if blockers == ["comparison.no_control"]:
        return None
    report_path = (record.get("artifacts") or {}).get("report")
    if not report_path:
        return ControlComparison(passed=False, blockers=blockers, problem=str(record.get("summary") or "no report"))
    try:
        data = json.loads(Path(report_path).read_text(encoding="utf-8"))
        return ControlComparison(
            candidate=_label(data.get("candidate")),
            control=_label(data.get("control")),
            passed=bool(record.get("passed")),
            blockers=blockers,
            counts={str(k): int(v) for k, v in (data.get("counts") or {}).items()},
            cases=[CaseComparison.model_validate(c) for c in data.get("cases") or []],
            impact=ImpactReport.model_validate(data["impact"]) if data.get("impact") else None,
        )
    except (OSError, ValueError, TypeError) as exc:  # ValidationError is a ValueError
        return ControlComparison(
            passed=False, blockers=blockers, problem=f"the comparison report {report_path} cannot be read: {_why(exc)}"
        )


def _why(exc: Exception) -> str:
    """One line: pydantic's message runs over several lines with a help URL."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{exc.error_count()} invalid field(s), first {'.'.join(map(str, first['loc']))}: {first['msg']}"
    return str(exc)


def summary_lines(c: ControlComparison) -> list[str]:
    """Two lines for the terminal: what the build changed per case, and what the changed code touches."""
    if c.problem:
        return [f"vs control: not compared ({c.problem})"]
    return [f"vs control {c.control}: {c.counts_line}", f"  change impact: {c.impact_line}"]


def _ratio(c: CaseComparison) -> str:
    if c.throughput_ratio is None:
        return c.throughput_note or "-"
    band = f"±{c.noise_band:.0%}" if c.noise_band is not None else "one run each: not judged"
    return f"{c.throughput_ratio:.2f} ({band}) {c.throughput.value.replace('_', ' ')}"


def _case_rows(c: ControlComparison) -> list[tuple[str, str, str, str, str, str]]:
    """Cases that changed first (regressions, then fixes), then the rest; one tuple per table row."""
    order = {v: i for i, v in enumerate(COUNT_WORDS)}
    rows = sorted(c.cases, key=lambda x: (order.get(x.verdict.value, 99), x.case_id))
    return [
        (
            x.case_id,
            x.verdict.value.replace("_", " "),
            f"{x.candidate_status} / {x.control_status}",
            ", ".join(x.appeared) or "-",
            ", ".join(x.vanished) or "-",
            _ratio(x),
        )
        for x in rows
    ]


HEADERS = ("case", "verdict", "candidate / control", "appeared", "vanished", "throughput ratio")


def render_html(c: ControlComparison) -> str:
    if c.problem:
        return f"<p class='s-failed'>Not compared: {_esc(c.problem)}</p>"
    out = [
        f"<p>Candidate <code>{_esc(c.candidate)}</code> against control <code>{_esc(c.control)}</code>, the same "
        f"cases, seeded data and engines: <strong>{_esc(c.counts_line)}</strong>.</p>",
        f"<p>Change impact: {_esc(c.impact_line)}.</p>",
        "<table><tr>" + "".join(f"<th>{h}</th>" for h in HEADERS) + "</tr>",
    ]
    for row in _case_rows(c):
        cls = " class='s-failed'" if row[1] == "regression" else (" class='s-passed'" if row[1] == "fixed" else "")
        out.append("<tr>" + "".join(f"<td{cls if i == 1 else ''}>{_esc(v)}</td>" for i, v in enumerate(row)) + "</tr>")
    out.append("</table>")
    if c.impact and c.impact.files:
        out.append(
            f"<details><summary>{c.impact.changed_files} changed file(s): {c.impact.exercised} exercised, "
            f"{c.impact.shared} shared code, {c.impact.not_exercised} not exercised here</summary><table>"
            "<tr><th>file</th><th>change</th><th>engines</th><th>strategies</th><th>exercised</th></tr>"
        )
        for f in c.impact.files:
            out.append(
                f"<tr><td><code>{_esc(f.path)}</code></td><td>{_esc(f.change)}</td><td>{_esc(', '.join(f.engines))}"
                f"</td><td>{_esc(', '.join(f.strategies))}</td><td>{_esc(f.exercised)}</td></tr>"
            )
        out.append("</table></details>")
    if c.impact and c.impact.not_covered_engines:
        out.append(
            "<p>Not covered here, and how to enable it:</p><ul>"
            + "".join(
                f"<li><code>{_esc(e)}</code>: {_esc(how)}</li>" for e, how in c.impact.not_covered_engines.items()
            )
            + "</ul>"
        )
    return "\n".join(out)


def render_markdown(c: ControlComparison) -> list[str]:
    """The section's Markdown: the report's, and the comparison gate's own page (release_comparison.md)."""
    if c.problem:
        return [f"Not compared: {c.problem}"]
    lines = [
        f"Candidate `{c.candidate}` against control `{c.control}`: **{c.counts_line}**.",
        "",
        f"Change impact: {c.impact_line}.",
        "",
        *md_table(HEADERS, _case_rows(c)),
    ]
    if c.impact and c.impact.not_covered_engines:
        lines += ["", "Not covered here:", *[f"- `{e}`: {how}" for e, how in c.impact.not_covered_engines.items()]]
    return lines
