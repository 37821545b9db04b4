"""`dpone-certify report [RUN_ID]`, `dpone-certify history`, `dpone-certify diff RUN_A RUN_B`: the report and the
deltas for people who live in CI logs. Read-only on the evidence unless `report --write` is given."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dpone_certify.certification.layout import EvidenceLayout
from dpone_certify.report import certification, history


def _root(args: argparse.Namespace) -> Path:
    from dpone_certify.resources import CertifyResource

    return CertifyResource(evidence_root=args.evidence_root).root()


def _fail(message: str) -> int:
    print(f"dpone-certify: error: {message}", file=sys.stderr)
    return 2


def _latest_run(root: Path) -> str | None:
    runs = history.summarize(history.read_cases(root))
    if runs:
        return runs[-1].run_id
    found = [p for p in EvidenceLayout(root).runs_dir.glob("*") if p.is_dir()]
    folders = sorted(found, key=lambda p: p.stat().st_mtime)
    return folders[-1].name if folders else None


def cmd_report(args: argparse.Namespace) -> int:
    root = _root(args)
    run_id = args.run_id or _latest_run(root)
    runs_dir = EvidenceLayout(root).runs_dir
    if not run_id or not (runs_dir / run_id).is_dir():
        return _fail(f"no run {args.run_id or ''} under {runs_dir}".replace("run  ", "run "))
    run_dir = EvidenceLayout(root, run_id).run_dir
    report = certification.build(root, run_id, compare_with=args.compare_with)
    files = certification.ReportFiles(
        html=run_dir / f"{certification.REPORT_STEM}.html",
        markdown=run_dir / f"{certification.REPORT_STEM}.md",
        json_path=run_dir / f"{certification.REPORT_STEM}.json",
    )
    if args.write:
        files = certification.write(report, run_dir)
    print(f"dpone-certify report {run_id} (profile {report.profile}, release {report.release or 'unknown'})")
    for g in report.gates:
        print(f"  {g.gate:32} {g.status.upper():10} {len(g.blockers)} blocker(s)")
    print()
    print("\n".join(certification.summary_lines(report, files if files.html.exists() else None)))
    if report.log_path:
        print(f"log: {report.log_path}")
    return 0


def _fmt_run(s: history.RunSummary) -> str:
    controls = f" controls {s.positive_controls_passed}/{s.positive_controls}" if s.positive_controls else ""
    return (
        f"{s.run_id}  {s.time:%Y-%m-%d %H:%M}  {s.profile:8} dpone {s.dpone_version or '?':8} "
        f"ran {s.covered:>3}/{s.selected:<3} passed {s.passed:>3} ({s.pass_rate:4.0%}){controls}"
        + (f"  failed gates: {', '.join(s.failed_gates)}" if s.failed_gates else "")
    )


def cmd_history(args: argparse.Namespace) -> int:
    root = _root(args)
    runs = history.summarize(history.read_cases(root), history.read_gates(root))
    if args.profile:
        runs = [s for s in runs if s.profile == args.profile]
    if not runs:
        print(f"no history under {history.history_dir(root)}")
        return 0
    for s in runs[-args.limit :]:
        print(_fmt_run(s))
    for profile in sorted({s.profile for s in runs}):
        pair = history.last_two(root, profile)
        if pair:
            print()
            print(history.render_delta(history.delta(root, *pair)))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    root = _root(args)
    if args.run_a and args.run_b:
        pair: tuple[str, str] | None = (args.run_a, args.run_b)
    elif args.run_a or args.run_b:
        return _fail("give two run ids, or none for the last two runs of --profile")
    else:
        from dpone_certify.settings import env_profile

        profile = args.profile or env_profile().value
        pair = history.last_two(root, profile)
        if pair is None:
            return _fail(f"fewer than two runs of profile {profile} in {history.history_dir(root)}")
    assert pair is not None
    d = history.delta(root, pair[0], pair[1])
    print(history.render_delta(d))
    return 0 if d.comparable else 2


def add_subcommands(sub: Any) -> None:
    report = sub.add_parser("report", help="print the certification report of a run (default: the latest)")
    report.add_argument("run_id", nargs="?")
    report.add_argument("--evidence-root", dest="evidence_root")
    report.add_argument("--compare-with", dest="compare_with", help="run id to compare with (default: previous)")
    report.add_argument("--write", action="store_true", help="(re)write the run's HTML and Markdown report")
    report.set_defaults(func=cmd_report)
    hist = sub.add_parser("history", help="runs in the history dataset and the delta of the last two per profile")
    hist.add_argument("--evidence-root", dest="evidence_root")
    hist.add_argument("--profile")
    hist.add_argument("--limit", type=int, default=20)
    hist.set_defaults(func=cmd_history)
    diff = sub.add_parser("diff", help="what changed between two runs (default: the last two of --profile)")
    diff.add_argument("run_a", nargs="?")
    diff.add_argument("run_b", nargs="?")
    diff.add_argument("--evidence-root", dest="evidence_root")
    diff.add_argument("--profile")
    diff.set_defaults(func=cmd_diff)
