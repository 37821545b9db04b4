"""The certification report of one run: the page a release manager opens.

Built only from evidence the run produced (gate records, the matrix's case records, the chain head) and the
history dataset (for the comparison and the trends, runs of the same profile only). Rendered as one
self-contained HTML page (inline CSS and SVG; no script, font or network) and as Markdown. All text goes
through `dpone_certify.secrets.redact`.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from dpone_certify.certification.keys import FULL_CERTIFICATION_GATES
from dpone_certify.certification.labels import UNVERIFIED_LABEL
from dpone_certify.certification.layout import EvidenceLayout
from dpone_certify.report import control as control_section
from dpone_certify.report import history
from dpone_certify.report.render import GateSection, _write_text, collect, md_gate_table, md_table
from dpone_certify.report.svg import line_chart
from dpone_certify.runbooks import remediation_for
from dpone_certify.secrets import redact

REPORT_STEM = "certification_report"
LOG_FILE = "certify.log"
MAX_CASES_PER_FINDING = 25
TREND_RUNS = 30

Verdict = Literal["CERTIFIED", "NOT CERTIFIED", "NOT A CERTIFICATION", "NO EVIDENCE"]
Outcome = Literal["passed", "failed", "not_covered", "error", "unverified", "not_selected"]


class Cell(BaseModel):
    case_id: str
    outcome: Outcome
    change: Literal["regression", "fixed"] | None = None
    title: str = ""


class StrategyGrid(BaseModel):
    strategy: str
    sources: list[str]
    sinks: list[str]
    cells: dict[str, Cell]  # "source|sink" -> cell; absent: the catalogue has no such case


class FindingGroup(BaseModel):
    pattern: str  # the runbook entry that matched ("*": no entry, generic triage)
    known: bool
    meaning: str
    fix: list[str]
    reproduce: list[str]
    blockers: list[str]
    cases: list[str]
    details: list[str] = Field(default_factory=list)  # per case: the columns of per-column findings


def _column_details(r: dict[str, Any]) -> list[str]:
    """`<case>: timestamptz -> timestamp in updated_at, ...` from the case's reconciliation report."""
    path = (r.get("artifacts") or {}).get("reconciliation_report")
    if not path:
        return []
    try:
        fidelity = json.loads(Path(path).read_text(encoding="utf-8")).get("type_fidelity") or {}
    except (OSError, ValueError, AttributeError):
        return []
    out = []
    for f in fidelity.get("findings") or []:
        if isinstance(f, dict) and f.get("columns"):
            cols = list(f["columns"])
            shown = ", ".join(cols[:8]) + (f" and {len(cols) - 8} more" if len(cols) > 8 else "")
            out.append(f"{r.get('case_id')}: {f.get('from')} -> {f.get('to')} in {shown}")
    return out


class Coverage(BaseModel):
    catalogue: int
    selected: int
    covered: int
    passed: int
    failed: int
    not_covered: int
    errors: int
    unverified: int
    positive_controls: int = 0
    positive_controls_passed: int = 0
    not_covered_reasons: dict[str, int] = Field(default_factory=dict)


class Chain(BaseModel):
    head: str | None = None
    entries: int | None = None
    run_hash: str | None = None
    verify: list[str] = Field(default_factory=list)


class CertificationReport(BaseModel):
    run_id: str
    profile: str
    release: str | None
    dpone_version: str
    generated_at: str
    verdict: Verdict
    sentence: str
    why: list[str]
    unverified: bool
    gates: list[GateSection]
    coverage: Coverage | None
    grids: list[StrategyGrid]
    findings: list[FindingGroup]
    chain: Chain
    comparison: history.Delta | None = None
    build: str | None = None  # BuildIdentity.label of the build under test, from its records
    control: control_section.ControlComparison | None = None  # candidate vs control, when this run compared two builds
    trends: list[history.RunSummary] = Field(default_factory=list)
    log_path: str | None = None

    @property
    def failed_required(self) -> list[GateSection]:
        return [g for g in self.gates if not g.passed and g.required]


# ---- building ------------------------------------------------------------------------------------------


def _records(run_dir: Path) -> list[dict[str, Any]]:
    path = EvidenceLayout(run_dir.parent.parent, run_dir.name).matrix_run_path
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [r for r in raw.get("records", []) if isinstance(r, dict)]


def _outcome(r: dict[str, Any]) -> Outcome:
    status = str(r.get("status"))
    if status == "passed" and r.get("evidence_status") == "UNVERIFIED":
        return "unverified"
    return status if status in ("passed", "failed", "not_covered", "error") else "error"  # type: ignore[return-value]


def _catalogue() -> list[dict[str, str]]:
    try:
        from dpone_certify.matrix.catalogue import default_cases

        return [
            {"case_id": c.case_id, "source": c.source, "sink": c.sink, "strategy": c.strategy} for c in default_cases()
        ]
    except Exception:  # noqa: BLE001 - dpone not importable: the grids show the run's own cases only
        return []


def build_grids(records: list[dict[str, Any]], previous: dict[str, str] | None = None) -> list[StrategyGrid]:
    """Per strategy a source x sink grid over the catalogue; cases this run did not select are `not_selected`.
    `previous` (case_id -> outcome of the comparison run) marks regressions and fixes."""
    by_id = {str(r.get("case_id")): r for r in records}
    catalogue = _catalogue() or [
        {
            "case_id": str(r.get("case_id")),
            "source": str(r.get("source")),
            "sink": str(r.get("sink")),
            "strategy": str(r.get("strategy")),
        }
        for r in records
    ]
    grids = []
    for strategy in sorted({c["strategy"] for c in catalogue}):
        cases = [c for c in catalogue if c["strategy"] == strategy]
        cells = {}
        for c in cases:
            r = by_id.get(c["case_id"])
            if r is None:
                cells[f"{c['source']}|{c['sink']}"] = Cell(
                    case_id=c["case_id"], outcome="not_selected", title=f"{c['case_id']}: not selected in this run"
                )
                continue
            outcome = _outcome(r)
            change: Literal["regression", "fixed"] | None = None
            before = (previous or {}).get(c["case_id"])
            if before is not None:
                if before == "passed" and r.get("status") != "passed":
                    change = "regression"
                elif before != "passed" and r.get("status") == "passed":
                    change = "fixed"
            # a case not covered says why (its blocker only restates that it was not covered)
            blockers, reason = ", ".join(r.get("blockers") or []), str(r.get("reason") or "")
            detail = (reason or blockers) if outcome == "not_covered" else (blockers or reason)
            title = (
                f"{c['case_id']}: {outcome}" + (f" ({change})" if change else "") + (f": {detail}" if detail else "")
            )
            cells[f"{c['source']}|{c['sink']}"] = Cell(
                case_id=c["case_id"], outcome=outcome, change=change, title=title[:600]
            )
        grids.append(
            StrategyGrid(
                strategy=strategy,
                sources=sorted({c["source"] for c in cases}),
                sinks=sorted({c["sink"] for c in cases}),
                cells=cells,
            )
        )
    return grids


def build_coverage(records: list[dict[str, Any]], catalogue: int) -> Coverage:
    status = Counter(str(r.get("status")) for r in records)
    controls = [v for r in records for v in history.variants_of(r) if v["name"] == history.REFERENCE_VARIANT]
    reasons = Counter(
        str(r.get("reason") or "no reason recorded").split(";")[0][:160]
        for r in records
        if r.get("status") == "not_covered"
    )
    return Coverage(
        catalogue=catalogue,
        selected=len(records),
        covered=status["passed"] + status["failed"],
        passed=status["passed"],
        failed=status["failed"],
        not_covered=status["not_covered"],
        errors=status["error"],
        unverified=sum(r.get("evidence_status") == "UNVERIFIED" for r in records),
        positive_controls=len(controls),
        positive_controls_passed=sum(
            str(v.get("status") or ("passed" if v.get("passed") else "")) == "passed" for v in controls
        ),
        not_covered_reasons=dict(reasons.most_common()),
    )


def build_findings(records: list[dict[str, Any]], evidence_dir: str) -> list[FindingGroup]:
    """The blockers of the cases that did not pass, grouped by the runbook entry that remediates them."""
    groups: dict[str, FindingGroup] = {}
    for r in records:
        if r.get("status") in ("passed", "not_covered"):
            continue  # not covered: counted under coverage with its reason (its blocker says only that), no finding
        case_id = str(r.get("case_id"))
        profile = str(r.get("profile") or "contract")
        blockers = [str(b) for b in r.get("blockers") or []] or [f"matrix_case.failed:{case_id}"]
        for blocker in blockers:
            rem = remediation_for(blocker, gate="source_sink_matrix", evidence_dir=evidence_dir)
            key = rem.pattern if rem.known else f"*:{blocker.split(':')[0]}"
            group = groups.get(key)
            if group is None:
                group = groups[key] = FindingGroup(
                    pattern=rem.pattern,
                    known=rem.known,
                    meaning=rem.meaning,
                    fix=rem.fix[:3],
                    reproduce=list(rem.reproduce[:2]),
                    blockers=[],
                    cases=[],
                )
            if blocker not in group.blockers:
                group.blockers.append(blocker)
            if blocker.startswith("type_fidelity.") and len(group.details) < MAX_CASES_PER_FINDING:
                group.details += [d for d in _column_details(r) if d not in group.details]
            if case_id not in group.cases:
                group.cases.append(case_id)
                command = f"dpone-certify run --profile {profile} --case {case_id}"
                if len(group.reproduce) < 6 and command not in group.reproduce:
                    group.reproduce.append(command)
    return sorted(groups.values(), key=lambda g: (-len(g.cases), g.pattern))


def build_chain(root: Path, run_dir: Path) -> Chain:
    chain = Chain(verify=[f"dpone-certify verify {root}", f"python -m dpone_certify.evidence verify {root}"])
    layout = EvidenceLayout(root, run_dir.name)
    try:
        head = json.loads(layout.head_path.read_text(encoding="utf-8"))
        chain.head = head.get("latest_chain_hash")
        chain.entries = head.get("entry_count")
    except (OSError, ValueError):
        pass
    try:
        record = json.loads(layout.record_path("evidence_chain").read_text(encoding="utf-8"))
        chain.run_hash = ((record.get("extra") or {}).get("append") or {}).get("chain_hash")
    except (OSError, ValueError, AttributeError):
        pass
    return chain


def _is_coverage(blocker: str) -> bool:
    """A case that could not run here (said by the coverage line), as opposed to a finding, which is a fix to make."""
    return blocker.split(":", 1)[0].endswith(".not_covered")


def verdict_of(gates: list[GateSection], unverified: bool, profile: str) -> tuple[Verdict, str, list[str]]:
    """Never CERTIFIED unless every required gate ran and passed on real evidence."""
    ran = [g for g in gates if g.status in ("passed", "failed")]
    failing = [g for g in gates if not g.passed and g.required]
    why = []
    for g in failing:
        if g.status in ("no_record", "unreadable"):
            why.append(f"{g.gate}: {g.problem or g.status}")
        else:
            blockers = sorted(g.blockers, key=_is_coverage)  # what failed before what could not run here
            why.append(
                f"{g.gate}: "
                + (", ".join(blockers[:3]) or g.summary or "failed")
                + (f" (+{len(g.blockers) - 3} more)" if len(g.blockers) > 3 else "")
            )
    unverified_note = (
        f"the evidence is UNVERIFIED: the {profile} profile judged {UNVERIFIED_LABEL}" if unverified else ""
    )
    if not ran:
        return "NO EVIDENCE", "NO EVIDENCE: no gate left a record in this run.", why
    if failing:
        names = ", ".join(g.gate for g in failing)
        sentence = (
            f"NOT CERTIFIED: {len(failing)} required gate(s) did not pass ({names}); fix {failing[0].gate} first, "
            "later gates often fail because they consume it."
        )
        if unverified:
            sentence += f" Besides, {unverified_note}."
        return "NOT CERTIFIED", sentence, why
    if unverified:
        return (
            "NOT A CERTIFICATION",
            f"NOT A CERTIFICATION: every required gate passed, but {unverified_note}; "
            "certify with --profile local or live for real evidence.",
            why,
        )
    return "CERTIFIED", f"CERTIFIED: every required gate ran and passed on real evidence (profile {profile}).", why


def _short(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[:limit] + " … (cut here; the full command is in the gate record)"


def build(
    root: Path,
    run_id: str,
    *,
    expected_gates: Iterable[str] = FULL_CERTIFICATION_GATES,
    dpone_version: str = "",
    compare_with: str | None = None,
    log_path: Path | None = None,
) -> CertificationReport:
    root = Path(root)
    base = collect(root, run_id, expected_gates)
    base.gates = [g for g in base.gates if g.gate != REPORT_STEM]  # the report's own record is no gate
    for g in base.gates:  # some dpone commands carry their input inline (100 kB of rows): the record has it all
        g.reproduce = [_short(cmd) for cmd in g.reproduce]
        g.dpone_command = _short(g.dpone_command) if g.dpone_command else None
    run_dir = Path(base.run_dir)
    records = _records(run_dir)
    profiles = sorted({str(r.get("profile")) for r in records if r.get("profile")})
    profile = profiles[0] if len(profiles) == 1 else (base.profile or "unknown")
    catalogue = len(_catalogue()) or len(records)
    cases = history.read_cases(root)
    runs = [s for s in history.summarize(cases, history.read_gates(root)) if s.profile == profile]
    comparison = None
    compare_with = compare_with or history.previous_run(root, run_id, profile)
    previous: dict[str, str] = {}
    if compare_with and compare_with != run_id and any(s.run_id == run_id for s in runs):
        comparison = history.delta(root, compare_with, run_id)
        if comparison.comparable:
            previous = {r["case_id"]: r["outcome"] for r in cases if r["run_id"] == compare_with and not r["variant"]}
    verdict, sentence, why = verdict_of(base.gates, base.unverified, profile)
    return CertificationReport(
        run_id=run_id,
        profile=profile,
        release=base.release,
        dpone_version=dpone_version or next((s.dpone_version for s in runs if s.run_id == run_id), ""),
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        verdict=verdict,
        sentence=sentence,
        why=why,
        unverified=base.unverified,
        gates=base.gates,
        coverage=build_coverage(records, catalogue) if records else None,
        grids=build_grids(records, previous) if records else [],
        findings=build_findings(records, str(root)),
        chain=build_chain(root, run_dir),
        comparison=comparison,
        build=base.build,
        control=control_section.load(root, run_id),
        trends=runs[-TREND_RUNS:],
        log_path=str(log_path) if log_path else (str(run_dir / LOG_FILE) if (run_dir / LOG_FILE).exists() else None),
    )


# ---- HTML ---------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:1.5rem auto;max-width:78rem;
padding:0 1rem;color:#1d2330;line-height:1.45}
h1{font-size:1.45rem;margin-bottom:.3rem}h2{margin-top:2rem;border-bottom:1px solid #d8dce4;font-size:1.15rem}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em}
pre{background:#f4f6f9;padding:.6rem;overflow-x:auto;white-space:pre-wrap}
table{border-collapse:collapse}th,td{border:1px solid #d8dce4;padding:.25rem .5rem;text-align:left;vertical-align:top}
.verdict{font-size:1.1rem;padding:.8rem 1rem;border-radius:6px;border:2px solid}
.v-CERTIFIED{background:#e7f6ec;border-color:#1a7f37}.v-NOT-CERTIFIED{background:#fdecec;border-color:#b42318}
.v-NOT-A-CERTIFICATION{background:#fff6da;border-color:#c98a00}.v-NO-EVIDENCE{background:#eef0f3;border-color:#5b6475}
.muted,.s-not_run{color:#5b6475}.s-passed{color:#116b2e;font-weight:600}.s-failed,.s-no_record,.s-unreadable{color:#a4161a;
font-weight:600}
.grids{display:flex;flex-wrap:wrap;gap:1rem}.grid{border:1px solid #d8dce4;padding:.4rem .6rem;border-radius:4px}
.grid h3{margin:.1rem 0 .3rem;font-size:.95rem}.grid td,.grid th{padding:0;border:1px solid #fff;font-size:.75rem}
.grid th{padding:0 .3rem;font-weight:500;color:#5b6475}.grid td{width:1.9rem;height:1.5rem;text-align:center}
.c-passed{background:#2da44e;color:#fff}.c-failed{background:#cf222e;color:#fff}.c-error{background:#6e0b12;color:#fff}
.c-not_covered{background:repeating-linear-gradient(45deg,#d0d4db,#d0d4db 3px,#eef0f3 3px,#eef0f3 6px)}
.c-unverified{background:#f2c744}.c-not_selected{background:#f6f8fa;color:#9aa1ad}.c-none{background:#fff}
.ch-regression{outline:3px solid #6e0b12;outline-offset:-3px}.ch-fixed{outline:3px solid #0b4f2a;outline-offset:-3px}
.legend span{display:inline-block;margin-right:1rem}.legend i{display:inline-block;width:1rem;height:1rem;
vertical-align:middle;margin-right:.3rem;border:1px solid #c8ccd4}
.fig{display:inline-block;margin:.5rem 1rem .5rem 0}.fig figcaption{font-size:.75rem;max-width:520px}
.lg{margin-right:.6rem;white-space:nowrap}.lg i{display:inline-block;width:.7rem;height:.7rem;margin-right:.2rem}
.chart .ct{font-size:12px;font-weight:600;fill:#1d2330}.chart .tk{font-size:10px;fill:#5b6475}
.chart .ax{stroke:#8a92a0}.chart .gr{stroke:#eceef2}
details{margin:.4rem 0}summary{cursor:pointer}.kv td:first-child{color:#5b6475}
"""

_OUTCOME_LABEL = {
    "passed": "passed",
    "failed": "failed",
    "error": "error (harness or dpone broke)",
    "not_covered": "not covered (reason on hover)",
    "unverified": "UNVERIFIED (simulated pass)",
    "not_selected": "not selected in this run",
}
_CELL_TEXT = {"passed": "", "failed": "✗", "error": "!", "not_covered": "–", "unverified": "~", "not_selected": ""}


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _ul(items: Iterable[str], code: bool = False) -> str:
    wrap = (lambda x: f"<code>{_e(x)}</code>") if code else _e
    items = list(items)
    return "<ul>" + "".join(f"<li>{wrap(x)}</li>" for x in items) + "</ul>" if items else ""


def _grid_html(grid: StrategyGrid) -> str:
    out = [f'<div class="grid"><h3>{_e(grid.strategy)}</h3><table><tr><th>source \\ sink</th>']
    out += [f"<th>{_e(s)}</th>" for s in grid.sinks]
    out.append("</tr>")
    for source in grid.sources:
        out.append(f"<tr><th>{_e(source)}</th>")
        for sink in grid.sinks:
            cell = grid.cells.get(f"{source}|{sink}")
            if cell is None:
                out.append('<td class="c-none" title="no such case in dpone\'s matrix"></td>')
                continue
            classes = f"c-{cell.outcome}" + (f" ch-{cell.change}" if cell.change else "")
            text = {"regression": "▼", "fixed": "▲"}.get(cell.change or "", _CELL_TEXT[cell.outcome])
            out.append(f'<td class="{classes}" title="{_e(cell.title)}" data-case="{_e(cell.case_id)}">{text}</td>')
        out.append("</tr>")
    out.append("</table></div>")
    return "".join(out)


def _trend_html(report: CertificationReport) -> str:
    runs = report.trends
    if len(runs) < 2:
        return (
            f"<p class='muted'>{len(runs)} run(s) of profile <code>{_e(report.profile)}</code> in the history: "
            "trends appear from the second run on.</p>"
        )
    labels = [s.time.strftime("%m-%d %H:%M") for s in runs]
    charts = [
        line_chart(
            "pass rate and coverage (share of selected cases)",
            labels,
            {"pass rate": [s.pass_rate for s in runs], "coverage (really ran)": [s.coverage for s in runs]},
            percent=True,
        ),
        line_chart(
            "rows/s per strategy (rows moved / load seconds)",
            labels,
            {
                st: [s.rows_per_second.get(st) for s in runs]
                for st in sorted({k for s in runs for k in s.rows_per_second})
            },
        ),
        line_chart(
            "durations (seconds)",
            labels,
            {
                "gates (sum of steps)": [s.gate_seconds for s in runs],
                "case loads (sum)": [s.load_seconds for s in runs],
            },
        ),
    ]
    versions = sorted({s.dpone_version for s in runs if s.dpone_version})
    return (
        f"<p class='muted'>The last {len(runs)} run(s) of profile <code>{_e(report.profile)}</code> (other profiles "
        f"are never mixed in); dpone {', '.join(versions) or 'version unknown'}; oldest left.</p>" + "".join(charts)
    )


def _comparison_html(d: history.Delta | None) -> str:
    if d is None:
        return "<p class='muted'>No earlier run of this profile in the history: nothing to compare with.</p>"
    if not d.comparable:
        return f"<p class='muted'>Not compared with {_e(d.run_a)}: {_e(d.reason)}</p>"
    rows = [
        ("compared with run", f"<code>{_e(d.run_a)}</code>"),
        (
            "coverage",
            f"{d.coverage_a[0]}/{d.coverage_a[1]} → {d.coverage_b[0]}/{d.coverage_b[1]} "
            f"({d.coverage_change:+d} cases really ran)",
        ),
        ("newly failing", f"{len(d.newly_failing)}: " + (", ".join(d.newly_failing[:30]) or "none")),
        ("newly passing", f"{len(d.newly_passing)}: " + (", ".join(d.newly_passing[:30]) or "none")),
    ]
    moved = [t for t in d.throughput if t.beyond_noise]
    unknown = [t for t in d.throughput if t.beyond_noise is None]
    rows.append(
        (
            "throughput beyond noise",
            ", ".join(
                f"{t.strategy} {t.relative_change:+.0%} (noise {t.noise:.0%})" for t in moved if t.noise is not None
            )
            or "none",
        )
    )
    if unknown:
        rows.append(
            (
                "throughput, noise not yet measured",
                ", ".join(f"{t.strategy} {t.relative_change:+.0%}" for t in unknown)
                + " (needs 3 earlier runs of this build)",
            )
        )
    return "<table class='kv'>" + "".join(f"<tr><td>{_e(k)}</td><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _build_html(report: CertificationReport) -> str:
    return f" &middot; build <code>{_e(report.build)}</code>" if report.build else ""


def render_html(report: CertificationReport) -> str:
    vclass = "v-" + report.verdict.replace(" ", "-")
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>dpone certification: {_e(report.verdict)} ({_e(report.run_id)})</title><style>{_CSS}</style>",
        "</head><body>",
        f"<h1>dpone certification report: run <code>{_e(report.run_id)}</code></h1>",
        f"<p class='muted'>profile <code>{_e(report.profile)}</code> &middot; release "
        f"<code>{_e(report.release or 'unknown')}</code> &middot; dpone <code>{_e(report.dpone_version or 'unknown')}"
        f"</code>{_build_html(report)} &middot; generated {_e(report.generated_at)}</p>",
        f'<p class="verdict {vclass}" id="verdict"><strong>{_e(report.verdict)}</strong>: '
        f"{_e(report.sentence.split(': ', 1)[-1])}</p>",
    ]
    if report.why:
        out.append("<p>Why:</p>" + _ul(report.why))
    if report.unverified:
        out.append(
            f"<p><strong>UNVERIFIED</strong> means {_e(UNVERIFIED_LABEL)}. A pass on such evidence shows that a "
            "contract exists, not that data moved; the local and live profiles move real data.</p>"
        )
    out.append(
        "<h2 id='gates'>Gates, in graph order</h2><table><tr><th>gate</th><th>status</th><th>required</th>"
        "<th>evidence</th><th>blockers</th><th>summary</th></tr>"
    )
    for g in report.gates:
        out.append(
            f"<tr><td><code>{_e(g.gate)}</code></td><td class='s-{_e(g.status)}'>{_e(g.status.replace('_', ' '))}</td>"
            f"<td>{'yes' if g.required else 'no'}</td><td>{_e(g.evidence_status or 'none')}</td>"
            f"<td>{len(g.blockers)}</td>"
            f"<td>{_e((g.problem or g.summary)[:300])}</td></tr>"
        )
    out.append("</table>")
    if report.coverage:
        c = report.coverage
        controls = (
            f"{c.positive_controls_passed}/{c.positive_controls} positive controls (reference variants) passed"
            if c.positive_controls
            else "no positive controls (reference variants) in these records"
        )
        out.append(
            f"<h2 id='coverage'>Coverage</h2><p>{c.covered}/{c.selected} selected cases really ran "
            f"({c.selected}/{c.catalogue} of dpone's matrix selected): {c.passed} passed, {c.failed} failed, "
            f"{c.errors} errors, {c.not_covered} not covered; {c.unverified} on UNVERIFIED evidence; "
            f"{_e(controls)}.</p>"
        )
        if c.not_covered_reasons:
            out.append("<p>Not covered, by reason:</p>" + _ul(f"{n} × {r}" for r, n in c.not_covered_reasons.items()))
    if report.control is not None:
        out.append(
            "<h2 id='control'>What this build changed: candidate vs control</h2>"
            + control_section.render_html(report.control)
        )
    if report.grids:
        out.append("<h2 id='matrix'>Matrix: source × sink per strategy</h2><p class='legend'>")
        out += [f'<span><i class="c-{k}"></i>{_e(v)}</span>' for k, v in _OUTCOME_LABEL.items()]
        out.append(
            '<span><i class="c-failed ch-regression"></i>▼ regression</span>'
            '<span><i class="c-passed ch-fixed"></i>▲ fixed (vs the compared run)</span></p>'
        )
        out.append("<div class='grids'>" + "".join(_grid_html(g) for g in report.grids) + "</div>")
    out.append("<h2 id='findings'>Findings per case, grouped by remediation</h2>")
    if not report.findings:
        out.append("<p>No case finding.</p>")
    for f in report.findings:
        source = f"runbook entry <code>{_e(f.pattern)}</code>" if f.known else "no runbook entry: generic triage"
        shown = f.cases[:MAX_CASES_PER_FINDING]
        more = f" and {len(f.cases) - len(shown)} more" if len(f.cases) > len(shown) else ""
        out.append(
            f"<details open><summary><strong>{len(f.cases)} case(s)</strong>: {_e(f.meaning)} "
            f"<span class='muted'>({source})</span></summary>"
            f"<p>Cases: {', '.join(f'<code>{_e(x)}</code>' for x in shown)}{_e(more)}</p>"
            f"<p>Blockers: {', '.join(f'<code>{_e(b)}</code>' for b in f.blockers[:10])}</p>"
            + (f"<p>Columns:</p>{_ul(f.details)}" if f.details else "")
            + (f"<p>Fix first:</p>{_ul(f.fix)}" if f.fix else "")
            + "<p>Reproduce:</p><pre>"
            + _e("\n".join(f.reproduce))
            + "</pre></details>"
        )
    failing = [g for g in report.gates if not g.passed and g.status != "not_run"]
    if failing:
        out.append("<h2 id='gate-remediation'>Failing gates: what to do</h2>")
    for g in failing:
        out.append(f"<details><summary><code>{_e(g.gate)}</code>: {len(g.blockers)} blocker(s)</summary>")
        for rem in g.remediations[:8]:
            out.append(f"<p><code>{_e(rem.blocker)}</code>: {_e(rem.meaning)}</p>" + _ul(rem.fix[:2]))
        out.append("<p>Reproduce:</p><pre>" + _e("\n".join(g.reproduce[:6])) + "</pre></details>")
    out.append(
        "<h2 id='comparison'>Compared with the previous run of this profile</h2>" + _comparison_html(report.comparison)
    )
    out.append("<h2 id='trends'>Trends</h2>" + _trend_html(report))
    ch = report.chain
    out.append(
        "<h2 id='chain'>Evidence chain</h2>"
        f"<p>Head <code>{_e(ch.head or 'none')}</code> ({_e(ch.entries if ch.entries is not None else '?')} entries); "
        f"this run's entry <code>{_e(ch.run_hash or 'not appended')}</code>.</p>"
        "<p>Verify offline (no network, no Dagster): </p><pre>" + _e("\n".join(ch.verify)) + "</pre>"
    )
    if report.log_path:
        out.append(f"<p class='muted'>Run log: <code>{_e(report.log_path)}</code></p>")
    out.append("</body></html>")
    return redact("\n".join(out) + "\n")


# ---- Markdown -----------------------------------------------------------------------------------------


def _grid_row(grid: StrategyGrid) -> tuple[object, ...]:
    n = Counter(c.outcome for c in grid.cells.values())
    changes = Counter(c.change for c in grid.cells.values() if c.change)
    return (
        grid.strategy,
        n["passed"],
        n["unverified"],
        n["failed"],
        n["not_covered"],
        n["error"],
        changes["regression"],
        changes["fixed"],
    )


def _trend_row(s: history.RunSummary) -> tuple[str, ...]:
    gs = f"{s.gate_seconds:.1f}" if s.gate_seconds is not None else ""
    return f"`{s.run_id[:8]}`", f"{s.time:%Y-%m-%d %H:%M}", f"{s.pass_rate:.0%}", f"{s.coverage:.0%}", gs


def render_markdown(report: CertificationReport) -> str:
    lines = [
        f"# dpone certification report: run `{report.run_id}`",
        "",
        f"Profile `{report.profile}`, release `{report.release or 'unknown'}`, "
        f"dpone `{report.dpone_version or 'unknown'}`,"
        + (f" build `{report.build}`," if report.build else "")
        + f" generated {report.generated_at}.",
        "",
        f"**{report.sentence}**",
    ]
    if report.why:
        lines += ["", "Why:", "", *[f"- {w}" for w in report.why]]
    lines += ["", "## Gates, in graph order", ""]
    lines += md_gate_table(report.gates, "status", lambda g: g.status, lambda g: g.evidence_status or "none")
    if report.coverage:
        c = report.coverage
        lines += [
            "",
            "## Coverage",
            "",
            f"{c.covered}/{c.selected} selected cases really ran "
            f"({c.selected}/{c.catalogue} of dpone's matrix selected): "
            f"{c.passed} passed, {c.failed} failed, {c.errors} errors, {c.not_covered} not covered; "
            f"{c.unverified} on UNVERIFIED evidence; "
            f"positive controls {c.positive_controls_passed}/{c.positive_controls}.",
        ]
    if report.control is not None:
        lines += [
            "",
            "## What this build changed: candidate vs control",
            "",
            *control_section.render_markdown(report.control),
        ]
    if report.grids:
        lines += ["", "## Matrix per strategy", ""]
        lines += md_table(
            ("strategy", "passed", "UNVERIFIED", "failed", "not covered", "error", "regressions", "fixed"),
            map(_grid_row, report.grids),
        )
    lines += ["", "## Findings per case, grouped by remediation", ""]
    if not report.findings:
        lines.append("No case finding.")
    for f in report.findings:
        shown = f.cases[:MAX_CASES_PER_FINDING]
        lines += [
            f"### {len(f.cases)} case(s): {f.meaning}",
            "",
            f"Runbook entry `{f.pattern}`" if f.known else "No runbook entry: generic triage",
            "",
            "Cases: "
            + ", ".join(f"`{x}`" for x in shown)
            + (f" and {len(f.cases) - len(shown)} more" if len(f.cases) > len(shown) else ""),
            "",
            *[f"- columns: {x}" for x in f.details],
            *[f"- fix: {x}" for x in f.fix],
            "",
            "```bash",
            *f.reproduce,
            "```",
            "",
        ]
    d = report.comparison
    lines += ["## Compared with the previous run of this profile", ""]
    if d is None:
        lines.append("No earlier run of this profile in the history.")
    else:
        lines += ["```", history.render_delta(d), "```"]
    if len(report.trends) >= 2:
        lines += ["", "## Trends (this profile only, oldest first)", ""]
        lines += md_table(("run", "time", "pass rate", "coverage", "gate s"), map(_trend_row, report.trends))
    chain = report.chain
    lines += [
        "",
        "## Evidence chain",
        "",
        f"Head `{chain.head or 'none'}` ({chain.entries} entries); this run's entry "
        f"`{chain.run_hash or 'not appended'}`. Verify offline:",
        "",
        "```bash",
        *chain.verify,
        "```",
    ]
    return redact("\n".join(lines).rstrip() + "\n")


# ---- files and the terminal summary ----------------------------------------------------------------------


class ReportFiles(BaseModel):
    html: Path
    markdown: Path
    json_path: Path


def write(report: CertificationReport, run_dir: Path) -> ReportFiles:
    files = ReportFiles(
        html=run_dir / f"{REPORT_STEM}.html",
        markdown=run_dir / f"{REPORT_STEM}.md",
        json_path=run_dir / f"{REPORT_STEM}.json",
    )
    _write_text(files.html, render_html(report))
    _write_text(files.markdown, render_markdown(report))
    _write_text(files.json_path, redact(report.model_dump_json(indent=2)) + "\n")
    return files


def load(run_dir: Path) -> CertificationReport | None:
    path = run_dir / f"{REPORT_STEM}.json"
    try:
        return CertificationReport.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


_CONSEQUENCE = ("gate.input_missing:", "artifact.", "artifact_index.item_failed:")


def _is_consequence(blocker: str) -> bool:
    """A blocker that only says an upstream gate failed (fixed by fixing that gate)."""
    head = blocker.split(":", 1)[0]
    return blocker.startswith(_CONSEQUENCE) or head.endswith(".not_passed") or ".not_passed:" in blocker


def top_remediations(report: CertificationReport, limit: int = 3) -> list[str]:
    """The first fixes to make: the first failing required gate's remediations (root cause first), then the
    largest finding groups of the matrix."""
    out: list[str] = []
    for i, g in enumerate(report.failed_required):
        for rem in sorted(g.remediations, key=lambda r: _is_coverage(r.blocker)):
            if rem.blocker.startswith("evidence.unverified") or (i > 0 and _is_consequence(rem.blocker)):
                continue
            if any(f": {rem.blocker}: " in line for line in out):
                continue  # the same blocker reported again downstream
            first = rem.fix[0] if rem.fix else rem.meaning
            out.append(f"{g.gate}: {rem.blocker}: {first}")
            break
        if len(out) >= limit:
            return out
    for f in report.findings:
        if len(out) >= limit:
            break
        if any(f": {b}: " in line for line in out for b in f.blockers):
            continue
        out.append(f"{len(f.cases)} case(s) {f.blockers[0]}: {f.fix[0] if f.fix else f.meaning}")
    return out[:limit]


def summary_lines(
    report: CertificationReport, files: ReportFiles | None, width: int = 110, *, verdict: bool = True, why: bool = True
) -> list[str]:
    """The end screen: verdict, failing gates, top remediations, comparison, paths."""

    def cut(text: str) -> str:
        return text if len(text) <= width else text[: width - 1] + "…"

    c = report.coverage
    lines = [cut(report.sentence)] if verdict else []
    if c:
        lines.append(
            cut(
                f"cases: {c.covered}/{c.selected} really ran, {c.passed} passed, {c.failed} failed, "
                f"{c.not_covered} not covered, {c.unverified} UNVERIFIED (profile {report.profile})"
            )
        )
    if report.control is not None and verdict:  # without the verdict, the caller put them under its own
        lines += [cut(line) for line in control_section.summary_lines(report.control)]
    for w in report.why[:6] if why else []:
        lines.append(cut(f"  failed: {w}"))
    if why and len(report.why) > 6:
        lines.append(f"  ... and {len(report.why) - 6} more failing gate(s)")
    tops = top_remediations(report)
    if tops:
        lines.append("top remediations:")
        lines += [cut(f"  {i}. {t}") for i, t in enumerate(tops, 1)]
    d = report.comparison
    if d is not None and d.comparable:
        lines.append(
            cut(
                f"vs {d.run_a[:8]}: {len(d.newly_failing)} newly failing, {len(d.newly_passing)} newly "
                f"passing, coverage {d.coverage_change:+d}"
            )
        )
    if files:
        lines.append(f"report: {files.html}")
        lines.append(f"        {files.markdown}")
    return [redact(line) for line in lines]
