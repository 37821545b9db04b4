"""Render one run's certification report from the gate records under `<root>/runs/<run_id>/`.

Input: every `<gate>/gate_record.json` (a `GateRecord`) and the matrix's `source_sink_matrix/matrix_run.json`.
Output: the verdict per gate, the evidence status (UNVERIFIED spelled out), every blocker with its remediation
and reproduce commands, and the artifact paths, as Markdown, JSON and a self-contained HTML page. All text goes
through `dpone_certify.secrets.redact` before it is written.
"""

from __future__ import annotations

import contextlib
import html
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from dpone_certify.certification.keys import ALL_GATES
from dpone_certify.certification.labels import UNVERIFIED_LABEL, evidence_label, reproduce_hint
from dpone_certify.certification.layout import RECORD_FILE, EvidenceLayout
from dpone_certify.certification.records import GateRecord
from dpone_certify.dpone.identity import BuildIdentity
from dpone_certify.evidence.atomic import atomic_write_text
from dpone_certify.matrix.records import EvidenceStatus
from dpone_certify.runbooks import Remediation, remediations_for
from dpone_certify.secrets import redact, redact_obj

# The gates of group `full_certification` in dependency order (tests pin this to the Definitions).
GATE_ORDER: tuple[str, ...] = ALL_GATES
REPORT_STEM = "remediation_report"
MAX_MATRIX_CASES_LISTED = 50

GateStatus = Literal["passed", "failed", "not_run", "no_record", "unreadable"]


class GateSection(BaseModel):
    gate: str
    status: GateStatus
    required: bool = True
    evidence_status: str | None = None
    evidence_label: str = "none"
    summary: str = ""
    blockers: list[str] = Field(default_factory=list)
    remediations: list[Remediation] = Field(default_factory=list)
    reproduce: list[str] = Field(default_factory=list)
    artifacts: dict[str, str] = Field(default_factory=dict)
    output_dir: str | None = None
    dpone_command: str | None = None
    problem: str | None = None  # why there is no usable record

    @property
    def passed(self) -> bool:
        return self.status == "passed"


class MatrixSummary(BaseModel):
    path: str
    total: int
    by_status: dict[str, int]
    by_evidence: dict[str, int]
    not_passed: list[dict[str, Any]]  # the first MAX_MATRIX_CASES_LISTED cases that did not pass
    not_passed_total: int


class RunReport(BaseModel):
    run_id: str
    evidence_root: str
    run_dir: str
    generated_at: str
    verdict: Literal["PASSED", "FAILED", "NO EVIDENCE"]
    profile: str | None = None
    release: str | None = None
    build: str | None = None  # the dpone build under test (BuildIdentity.label of the gate records)
    unverified: bool = False  # some gate judged dpone's mock_contract simulation only
    gates: list[GateSection]
    matrix: MatrixSummary | None = None

    @property
    def failed_gates(self) -> list[str]:
        return [g.gate for g in self.gates if not g.passed]

    @property
    def blockers(self) -> list[str]:
        return [b for g in self.gates for b in g.blockers]


class ReportPaths(BaseModel):
    markdown: Path
    json_path: Path
    html: Path


def _order(gates: Iterable[str]) -> list[str]:
    known = [g for g in GATE_ORDER if g in gates]
    return known + sorted(set(gates) - set(GATE_ORDER))


def _reproduce(gate: str, remediations: list[Remediation], dpone_command: str | None) -> list[str]:
    lines = [reproduce_hint(gate)]
    for remediation in remediations:
        lines += remediation.reproduce
    if dpone_command:
        lines.append(dpone_command)
    return list(dict.fromkeys(lines))


def _status(record: GateRecord) -> GateStatus:
    """A gate that is not required and had nothing to judge (NOT_COVERED, e.g. the self-test under the contract
    profile) did not run: N/A, as the CLI prints it, never "failed"."""
    if record.passed:
        return "passed"
    if not record.required and record.evidence_status is EvidenceStatus.NOT_COVERED:
        return "not_run"
    return "failed"


def _section(path: Path, gate: str, evidence_dir: str) -> GateSection:
    if not path.exists():
        return GateSection(
            gate=gate,
            status="no_record",
            problem="no gate_record.json: the gate was not materialized in this run or crashed before writing",
            reproduce=[reproduce_hint(gate)],
        )
    try:
        record = GateRecord.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError) as exc:
        return GateSection(
            gate=gate,
            status="unreadable",
            problem=f"{path.name} is unreadable: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
            reproduce=[reproduce_hint(gate)],
        )
    remediations = remediations_for(record.blockers, gate=gate, evidence_dir=evidence_dir)
    return GateSection(
        gate=gate,
        status=_status(record),
        required=record.required,
        evidence_status=record.evidence_status.value,
        evidence_label=evidence_label(record.evidence_status),
        summary=record.summary,
        blockers=list(record.blockers),
        remediations=remediations,
        reproduce=_reproduce(gate, remediations, record.dpone_command),
        artifacts=dict(record.artifacts),
        output_dir=record.output_dir,
        dpone_command=record.dpone_command,
    )


def _matrix_section(path: Path, evidence_dir: str) -> GateSection:
    """source_sink_matrix writes `matrix_run.json` (one record per case), not a gate record; judge it as its
    verdict check does: every selected case ran and passed, a not-covered case is never a pass."""
    gate = "source_sink_matrix"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        records = [r for r in raw.get("records", []) if isinstance(r, dict)]
    except (OSError, ValueError, AttributeError) as exc:
        return GateSection(gate=gate, status="unreadable", problem=f"{path.name} is unreadable: {exc}"[:300],
                           reproduce=[reproduce_hint(gate)])  # fmt: skip
    blockers = [
        str(b)
        for r in records
        for b in (
            r.get("blockers") or ([] if r.get("status") == "passed" else [f"matrix_case.failed:{r.get('case_id')}"])
        )
    ]
    statuses = {str(r.get("evidence_status")) for r in records}
    if EvidenceStatus.UNVERIFIED.value in statuses:
        evidence = EvidenceStatus.UNVERIFIED
    elif records and statuses == {EvidenceStatus.PASS.value} and not blockers:
        evidence = EvidenceStatus.PASS
    elif records and statuses == {EvidenceStatus.NOT_COVERED.value}:
        evidence = EvidenceStatus.NOT_COVERED
    else:
        evidence = EvidenceStatus.FAIL
    passed = bool(records) and not blockers
    remediations = remediations_for(blockers[:MAX_MATRIX_CASES_LISTED], gate=gate, evidence_dir=evidence_dir)
    return GateSection(
        gate=gate,
        status="passed" if passed else "failed",
        evidence_status=evidence.value,
        evidence_label=evidence_label(evidence),
        summary=f"{sum(r.get('status') == 'passed' for r in records)}/{len(records)} case(s) passed"
        + (
            f"; remediations for the first {MAX_MATRIX_CASES_LISTED} of {len(blockers)} blockers"
            if len(blockers) > MAX_MATRIX_CASES_LISTED
            else ""
        ),  # fmt: skip
        blockers=blockers,
        remediations=remediations,
        reproduce=_reproduce(gate, remediations, None),
        artifacts={"matrix_run": str(path)},
        output_dir=str(path.parent),
    )


def _matrix(path: Path) -> MatrixSummary | None:
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    records = [r for r in raw.get("records", []) if isinstance(r, dict)]
    not_passed = [
        {
            "case_id": r.get("case_id"),
            "status": r.get("status"),
            "evidence_status": r.get("evidence_status"),
            "blockers": list(r.get("blockers") or []),
            "reason": r.get("reason"),
        }
        for r in records
        if r.get("status") != "passed"
    ]
    return MatrixSummary(
        path=str(path),
        total=len(records),
        by_status=dict(Counter(str(r.get("status")) for r in records)),
        by_evidence=dict(Counter(str(r.get("evidence_status")) for r in records)),
        not_passed=not_passed[:MAX_MATRIX_CASES_LISTED],
        not_passed_total=len(not_passed),
    )


def collect(root: Path, run_id: str, expected_gates: Iterable[str] = ()) -> RunReport:
    """Read the run folder. `expected_gates` (e.g. the run's asset selection) adds a `no_record` section for
    every expected gate that left no record; without it, only the gates that wrote a record are listed."""
    root = Path(root)
    layout = EvidenceLayout(root, run_id)
    run_dir = layout.run_dir
    present = {p.parent.name for p in run_dir.glob(f"*/{RECORD_FILE}")} if run_dir.is_dir() else set()
    matrix_path = layout.matrix_run_path
    if matrix_path.exists():
        present.add("source_sink_matrix")
    gates = _order(present | set(expected_gates))
    sections = [
        _matrix_section(matrix_path, str(root))
        if gate == "source_sink_matrix" and matrix_path.exists() and not layout.record_path(gate).exists()
        else _section(layout.record_path(gate), gate, str(root))
        for gate in gates
    ]
    records = [s for s in sections if s.evidence_status is not None]
    if not records:
        verdict: Literal["PASSED", "FAILED", "NO EVIDENCE"] = "NO EVIDENCE"
    elif any(not s.passed and s.required for s in sections):
        verdict = "FAILED"
    else:
        verdict = "PASSED"
    profile = release = build = None
    for path in (layout.record_path(g) for g in gates):
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            profile = profile or data.get("profile")
            release = release or data.get("release")
            if build is None and isinstance(data.get("build"), dict):
                with contextlib.suppress(ValueError):
                    build = BuildIdentity.model_validate(data["build"]).label
    return RunReport(
        run_id=run_id,
        evidence_root=str(root),
        run_dir=str(run_dir),
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        verdict=verdict,
        profile=profile,
        release=release,
        build=build,
        unverified=any(s.evidence_status == EvidenceStatus.UNVERIFIED.value for s in sections),
        gates=sections,
        matrix=_matrix(matrix_path),
    )


# ---- Markdown -----------------------------------------------------------------------------------------


def _verdict_word(section: GateSection) -> str:
    return {"passed": "PASS", "failed": "FAIL", "not_run": "N/A", "no_record": "NO RECORD", "unreadable": "UNREADABLE"}[
        section.status
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def md_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """The lines of a Markdown table (cells as given: escape free text with `_cell`)."""

    def row(cells: Sequence[object]) -> str:
        return "| " + " | ".join(str(c) for c in cells) + " |"

    return [row(header), "|" + "---|" * len(header), *(row(r) for r in rows)]


def _md_remediation(item: Remediation) -> list[str]:
    source = f"catalogue entry `{item.pattern}`" if item.known else "no catalogue entry: generic triage"
    lines = [f"#### `{item.blocker}`", "", f"{item.meaning} ({source})", ""]
    if item.inspect:
        lines += ["Look at:", "", *[f"- {x}" for x in item.inspect], ""]
    if item.fix:
        lines += ["Fix:", "", *[f"- {x}" for x in item.fix], ""]
    if item.do_not:
        lines += ["Do not:", "", *[f"- {x}" for x in item.do_not], ""]
    return lines


def md_gate_table(
    gates: Iterable[GateSection],
    status_column: str,
    status: Callable[[GateSection], str],
    evidence: Callable[[GateSection], str],
) -> list[str]:
    """The table of gates both reports show, each wording the status and the evidence its own way."""
    header = ("gate", status_column, "required", "evidence", "blockers")
    rows = [(f"`{g.gate}`", status(g), "yes" if g.required else "no", evidence(g), len(g.blockers)) for g in gates]
    return md_table(header, rows)


def _case_row(c: dict[str, Any]) -> tuple[str, ...]:
    detail = ", ".join(c["blockers"]) or (c.get("reason") or "")
    return f"`{c['case_id']}`", c["status"], c["evidence_status"], _cell(detail)[:300]


def render_markdown(report: RunReport) -> str:
    lines = [
        f"# Certification report: run `{report.run_id}`",
        "",
        f"- Verdict: **{report.verdict}**",
        f"- Profile: `{report.profile or 'unknown'}`" + (f", release `{report.release}`" if report.release else ""),
        f"- Build under test: {report.build or 'unknown (records older than build identity)'}",
        f"- Evidence folder: `{report.run_dir}`",
        f"- Generated: {report.generated_at}",
    ]
    if report.failed_gates:
        lines.append(f"- Gates not passed: {', '.join(f'`{g}`' for g in report.failed_gates)}")
    if report.unverified:
        lines += [
            "",
            f"> **Evidence is UNVERIFIED** for some gates: {UNVERIFIED_LABEL}. A pass on such evidence is not "
            "proof that data moved; certify with the `local` or `live` profile for real evidence.",
        ]
    lines += ["", "## Verdict per gate", ""]
    lines += md_gate_table(report.gates, "verdict", _verdict_word, lambda s: _cell(s.evidence_label))
    if report.matrix:
        m = report.matrix
        lines += [
            "",
            "## Matrix",
            "",
            f"{m.total} case(s): "
            + ", ".join(f"{k} {v}" for k, v in sorted(m.by_status.items()))
            + "; evidence "
            + ", ".join(f"{k} {v}" for k, v in sorted(m.by_evidence.items())),
        ]
        if m.not_passed:
            lines += ["", *md_table(("case", "status", "evidence", "blockers / reason"), map(_case_row, m.not_passed))]
            if m.not_passed_total > len(m.not_passed):
                lines.append(f"\n... and {m.not_passed_total - len(m.not_passed)} more in `{m.path}`")
    failing = [s for s in report.gates if not s.passed]
    if failing:
        lines += ["", "## What failed and how to fix it"]
    for s in failing:
        lines += ["", f"### `{s.gate}`: {_verdict_word(s)}", ""]
        if s.problem:
            lines += [s.problem, ""]
        if s.summary:
            lines += [s.summary, ""]
        lines += [f"Evidence status: **{s.evidence_label}**", ""]
        if s.blockers:
            lines += ["Blockers: " + ", ".join(f"`{b}`" for b in s.blockers), ""]
        lines += ["Reproduce:", "", "```bash", *s.reproduce, "```", ""]
        for item in s.remediations:
            lines += _md_remediation(item)
        if s.artifacts or s.output_dir:
            lines += ["Artifacts:", ""]
            lines += [f"- {name}: `{path}`" for name, path in sorted(s.artifacts.items())]
            if s.output_dir:
                lines.append(f"- output folder: `{s.output_dir}`")
            lines.append("")
    passing = [s for s in report.gates if s.passed and s.artifacts]
    if passing:
        lines += ["", "## Artifacts of the gates that passed", ""]
        for s in passing:
            lines += [f"- `{s.gate}`: " + ", ".join(f"{n} `{p}`" for n, p in sorted(s.artifacts.items()))]
    return redact("\n".join(lines).rstrip() + "\n")


# ---- HTML ---------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;
color:#1d2330;line-height:1.45}
h1{font-size:1.5rem}h2{margin-top:2rem;border-bottom:1px solid #d8dce4}code,pre{font-family:ui-monospace,monospace}
pre{background:#f4f6f9;padding:.6rem;overflow-x:auto}table{border-collapse:collapse;width:100%}
th,td{border:1px solid #d8dce4;padding:.3rem .5rem;text-align:left;vertical-align:top}
.PASS{color:#116b2e;font-weight:600}.FAIL,.UNREADABLE,.NO.RECORD{color:#a4161a;font-weight:600}
.banner{background:#fff4d6;border:1px solid #e8b93a;padding:.6rem 1rem}.muted{color:#5b6475}
details{margin:.4rem 0}summary{cursor:pointer}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _html_list(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{_e(x)}</li>" for x in items) + "</ul>" if items else ""


def render_html(report: RunReport) -> str:
    verdict_class = "PASS" if report.verdict == "PASSED" else "FAIL"
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>dpone certification {_e(report.run_id)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Certification report: run <code>{_e(report.run_id)}</code></h1>",
        f'<p>Verdict: <span class="{verdict_class}">{_e(report.verdict)}</span> &middot; profile '
        f"<code>{_e(report.profile or 'unknown')}</code>"
        + (f" &middot; release <code>{_e(report.release)}</code>" if report.release else "")
        + (f" &middot; build <code>{_e(report.build)}</code>" if report.build else "")
        + f'</p><p class="muted">Evidence folder <code>{_e(report.run_dir)}</code> &middot; generated '
        f"{_e(report.generated_at)}</p>",
    ]
    if report.unverified:
        out.append(
            f'<p class="banner"><strong>Evidence is UNVERIFIED</strong> for some gates: {_e(UNVERIFIED_LABEL)}. '
            "A pass on such evidence is not proof that data moved.</p>"
        )
    out.append("<h2>Verdict per gate</h2><table><tr><th>gate</th><th>verdict</th><th>required</th>"
               "<th>evidence</th><th>blockers</th></tr>")  # fmt: skip
    for s in report.gates:
        word = _verdict_word(s)
        out.append(
            f'<tr><td><a href="#{_e(s.gate)}"><code>{_e(s.gate)}</code></a></td><td class="{_e(word)}">{_e(word)}'
            f"</td><td>{'yes' if s.required else 'no'}</td><td>{_e(s.evidence_label)}</td>"
            f"<td>{len(s.blockers)}</td></tr>"
        )
    out.append("</table>")
    if report.matrix:
        m = report.matrix
        counts = ", ".join(f"{k} {v}" for k, v in sorted(m.by_status.items()))
        evidence = ", ".join(f"{k} {v}" for k, v in sorted(m.by_evidence.items()))
        out.append(f"<h2>Matrix</h2><p>{m.total} case(s): {_e(counts)}; evidence {_e(evidence)}</p>")
        if m.not_passed:
            out.append("<table><tr><th>case</th><th>status</th><th>evidence</th><th>blockers / reason</th></tr>")
            for c in m.not_passed:
                detail = ", ".join(c["blockers"]) or (c.get("reason") or "")
                out.append(
                    f"<tr><td><code>{_e(c['case_id'])}</code></td><td>{_e(c['status'])}</td>"
                    f"<td>{_e(c['evidence_status'])}</td><td>{_e(detail)}</td></tr>"
                )
            out.append("</table>")
    out.append("<h2>Gates</h2>")
    for s in report.gates:
        word = _verdict_word(s)
        out.append(
            f'<section id="{_e(s.gate)}"><h3><code>{_e(s.gate)}</code>: <span class="{_e(word)}">{_e(word)}'
            f"</span></h3><p>Evidence status: <strong>{_e(s.evidence_label)}</strong></p>"
        )
        if s.problem:
            out.append(f"<p>{_e(s.problem)}</p>")
        if s.summary:
            out.append(f"<p>{_e(s.summary)}</p>")
        if not s.passed:
            out.append("<p>Reproduce:</p><pre>" + _e("\n".join(s.reproduce)) + "</pre>")
        for item in s.remediations:
            source = f"catalogue entry {item.pattern}" if item.known else "no catalogue entry: generic triage"
            out.append(
                f"<details open><summary><code>{_e(item.blocker)}</code> <span class='muted'>({_e(source)})"
                f"</span></summary><p>{_e(item.meaning)}</p>"
                + (f"<p>Look at:</p>{_html_list(item.inspect)}" if item.inspect else "")
                + (f"<p>Fix:</p>{_html_list(item.fix)}" if item.fix else "")
                + (f"<p>Do not:</p>{_html_list(item.do_not)}" if item.do_not else "")
                + "</details>"
            )
        if s.artifacts:
            out.append(
                "<p>Artifacts:</p><ul>"
                + "".join(f"<li>{_e(n)}: <code>{_e(p)}</code></li>" for n, p in sorted(s.artifacts.items()))
                + "</ul>"
            )
        out.append("</section>")
    out.append("</body></html>")
    return redact("\n".join(out) + "\n")


# ---- files --------------------------------------------------------------------------------------------


def report_json(report: RunReport) -> dict[str, Any]:
    payload = report.model_dump(mode="json")
    payload["failed_gates"] = report.failed_gates
    payload["blockers"] = report.blockers
    scrubbed = redact_obj(payload)
    assert isinstance(scrubbed, dict)
    return scrubbed


def _write_text(path: Path, text: str) -> None:
    atomic_write_text(path, text, durable=False)


def write_report(
    root: Path, run_id: str, expected_gates: Iterable[str] = (), stem: str = REPORT_STEM
) -> tuple[RunReport, ReportPaths]:
    """Write `<root>/runs/<run_id>/<stem>.md|.json|.html` (atomically) and return the report and the paths."""
    report = collect(root, run_id, expected_gates)
    run_dir = Path(report.run_dir)
    paths = ReportPaths(
        markdown=run_dir / f"{stem}.md", json_path=run_dir / f"{stem}.json", html=run_dir / f"{stem}.html"
    )
    _write_text(paths.markdown, render_markdown(report))
    _write_text(paths.json_path, json.dumps(report_json(report), indent=2, sort_keys=True) + "\n")
    _write_text(paths.html, render_html(report))
    return report, paths
