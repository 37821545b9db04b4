"""`dpone-certify`: the full certification from a terminal or CI, with a verdict people can act on.

`dpone-certify run` is `dagster asset materialize -m dpone_certify.definitions --select group:full_certification
--partition-range <first>...<last>` run in-process on the local instance, followed by a verdict table and the
remediation of every blocker.

Exit codes: 0 every selected gate ran and passed; 1 certification failed (a gate failed or did not run);
2 usage error (bad arguments, unknown case or asset key); 3 the run cannot start (settings, evidence root,
dpone interpreter: checked before any gate runs, see dpone_certify/startup.py). `verify` adds 3 for a root
that holds no evidence chain."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from dagster import DagsterInstance

from dpone_certify.settings import Profile

CODE_LOCATION = "dpone_certify"  # workspace.yaml's location_name


def _instance() -> DagsterInstance:
    from dpone_certify.startup import open_instance

    return open_instance()  # under a lock: two first runs on a fresh home both start


def usage_error(message: str) -> NoReturn:
    """Exit 2, like argparse: a usage error is not a gate verdict (1)."""
    print(f"dpone-certify: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _selection(cases: list[str], assets: list[str]) -> tuple[list[str], list[str]]:
    from dpone_certify.matrix.catalogue import case_ids

    known = case_ids()
    unknown = [c for c in cases if c not in known]
    if unknown:
        usage_error(f"unknown case id(s): {', '.join(unknown)} (see `dpone-certify cases`)")
    from dpone_certify.definitions import defs
    from dpone_certify.startup import unknown_assets

    bad = unknown_assets(assets, (k.to_user_string() for k in defs.resolve_all_asset_keys()))
    if bad:
        usage_error(f"unknown asset key(s) for --select: {', '.join(bad)} (the gates are listed in the README)")
    return (cases or known), assets


def cmd_run(args: argparse.Namespace) -> int:
    import dagster as dg
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from dpone_certify.definitions import ASSETS, REPORT_ASSETS, defs
    from dpone_certify.gates.release import RELEASE_ASSETS
    from dpone_certify.startup import (
        EXIT_CANNOT_START,
        StartupError,
        check_run,
        gates_not_run,
        required_not_selected,
    )

    keys, assets = _selection(args.case or [], args.select or [])
    try:
        check_run(args)  # before any gate runs: a run that cannot start says why, in one line
    except StartupError as exc:
        print(f"dpone-certify: cannot start: {exc}", file=sys.stderr)
        return EXIT_CANNOT_START
    config: dict[str, object] = {}
    for name in (
        "profile",
        "evidence_root",
        "release",
        "row_count",
        "max_parallel",
        "dpone_python",
        "dpone_wheel",
        "interpreter_cache",
        "control_python",
        "control_wheel",
        "control_version",
        "upstream_run",
    ):
        value = getattr(args, name, None)
        if value is not None:
            wheel = name in ("dpone_wheel", "control_wheel")
            config[name] = str(Path(value).expanduser().resolve()) if wheel else value
    _check_build(config)
    if not assets:
        gates = ASSETS + REPORT_ASSETS + (RELEASE_ASSETS if args.release_gates else [])
        assets = [a.key.to_user_string() for a in gates]
        if any(config.get(k) for k in ("control_python", "control_wheel", "control_version")):
            assets.append("release_comparison")  # candidate vs control on the same cases
    selection = [dg.AssetKey.from_user_string(a) for a in assets]
    if len(keys) == 1:
        tags = {"dagster/partition": keys[0]}
    else:
        # A contiguous range in catalogue order, or every case; single-run backfill policy: one run.
        from dpone_certify.matrix.catalogue import case_ids

        order = case_ids()
        idx = sorted(order.index(k) for k in keys)
        if idx != list(range(idx[0], idx[-1] + 1)):
            usage_error("--case values must form a contiguous range of the catalogue; run them one by one")
        tags = {ASSET_PARTITION_RANGE_START_TAG: order[idx[0]], ASSET_PARTITION_RANGE_END_TAG: order[idx[-1]]}
    from dpone_certify import console
    from dpone_certify.resources import CertifyResource

    certify = CertifyResource.model_validate({k: v for k, v in config.items() if k in CertifyResource.model_fields})
    root = certify.root()
    job, steps = _job_for(defs, selection)
    tags.update(run_tags(certify))
    outcome = console.execute(
        job,
        asset_selection=selection,
        instance=_instance(),
        tags=tags,
        run_config={"resources": {"certify": {"config": config}}} if config else None,
        root=root,
        total_cases=len(keys),
        total_steps=steps,
        verbose=args.verbose,
    )
    result = outcome.result
    # The gates' verdicts; the per-case verdicts and the report's restatement are shown by the summary below.
    evaluations = [] if result is None else [
        ev for ev in result.get_asset_check_evaluations()
        if ev.check_name == "verdict" and ev.asset_key.path[-1] != "certification_report"
    ]  # fmt: skip
    gates = [a for a in assets if a != "certification_report"]  # the report is no gate: it has no gate verdict
    not_run = gates_not_run(gates, evaluations)
    verdict = render_verdict(
        outcome.run_id, evaluations, str(root), not_run=not_run, not_selected=required_not_selected(assets)
    )
    print(console.final_screen(outcome, verdict))
    return 0 if result is not None and result.success and not not_run else 1


def _check_build(config: dict[str, object]) -> None:
    """Before any gate runs: the build under test can be reached and the release id names its version."""
    from dpone_certify.dpone.identity import IdentityError, ReleaseMismatch
    from dpone_certify.dpone.interpreter import InterpreterError
    from dpone_certify.resources import CertifyResource

    if config.get("dpone_python") and config.get("dpone_wheel"):
        usage_error("--dpone-python and --dpone-wheel name two builds; give one")
    wheel = config.get("dpone_wheel")
    if wheel and not Path(str(wheel)).is_file():
        usage_error(f"--dpone-wheel {wheel}: no such file")
    certify = CertifyResource(**config)  # type: ignore[arg-type]
    try:
        release = certify.release_name()
        identity = certify.build_identity()
    except ReleaseMismatch as exc:
        usage_error(str(exc))
    except (IdentityError, InterpreterError, ValueError) as exc:
        usage_error(f"cannot certify the build under test: {exc}")
    print(f"build under test: {identity.label}; release {release}", file=sys.stderr)
    controls = [k for k in ("control_python", "control_wheel", "control_version") if config.get(k)]
    if len(controls) > 1:
        usage_error(f"{' and '.join('--' + k.replace('_', '-') for k in controls)} name two control builds; give one")
    if controls:
        try:
            control = certify.control_identity()
        except (IdentityError, InterpreterError, ValueError) as exc:
            usage_error(f"cannot run the control build: {exc}")
        print(f"control build: {control.label}", file=sys.stderr)


def _job_for(defs: Any, selection: list[Any]) -> tuple[Any, int]:
    """The `full_certification` job when the selection is inside it (so its runs show on the job's page), else
    the ad-hoc asset job; and the number of steps (assets and their checks) the selection runs."""
    full = defs.resolve_job_def("full_certification")
    graph = defs.resolve_asset_graph()
    keys = set(selection)
    steps = len(keys) + sum(1 for check in graph.asset_check_keys if check.asset_key in keys)
    if keys <= set(full.asset_layer.selected_asset_keys):
        return full, steps
    return defs.resolve_implicit_global_asset_job_def(), steps


def run_tags(certify: Any) -> dict[str, str]:
    """Profile, release and dpone version on every run (the verdict is added by certification_report)."""
    from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

    from dpone_certify.report.asset import TAG_DPONE_VERSION, TAG_PROFILE, TAG_RELEASE, certify_dpone_version

    return {
        TAG_PROFILE: certify.resolved_profile().value,
        TAG_RELEASE: certify.release_name(),
        TAG_DPONE_VERSION: certify_dpone_version(certify) or "unknown",
        # What a run launched from the UI carries: without it, the job's page filters in-process runs out.
        REPOSITORY_LABEL_TAG: f"__repository__@{CODE_LOCATION}",
    }


def render_verdict(
    run_id: str,
    evaluations: Sequence[Any],
    root: str,
    not_run: Sequence[str] = (),
    not_selected: Sequence[str] = (),
) -> str:
    from dpone_certify.certification.keys import ALL_GATES

    order = {gate: i for i, gate in enumerate(ALL_GATES)}
    evaluations = sorted(evaluations, key=lambda ev: order.get(ev.asset_key.path[-1], len(order)))
    lines = [f"\ndpone-certify run {run_id}", "", f"{'gate':32} {'verdict':8} {'severity':8} description", "-" * 100]
    failed = []
    unverified = False
    for ev in evaluations:
        key = ev.asset_key.to_user_string()
        # A WARN check that did not pass is a gate not required here (e.g. the self-test under contract): N/A.
        required = ev.severity.value == "ERROR"
        word = "PASS" if ev.passed else ("FAIL" if required else "N/A")
        lines.append(f"{key:32} {word:8} {ev.severity.value:8} {(ev.description or '')[:160]}")
        unverified |= "UNVERIFIED" in (ev.description or "")
        if not ev.passed and required:
            failed.append(key)
    if not_run:  # never CERTIFIED for work that did not run
        verdict = f"NOT CERTIFIED: {len(not_run)} selected gate(s) left no verdict (did not run): {', '.join(not_run)}"
    elif failed:
        verdict = f"NOT CERTIFIED: {len(failed)} gate(s) failed"
        verdict += "; the evidence includes dpone's UNVERIFIED simulation (contract profile)" if unverified else ""
    elif unverified:
        verdict = (
            "NOT A CERTIFICATION: every selected gate passed, but on dpone's UNVERIFIED simulation "
            "(contract profile); real evidence needs --profile local"
        )
    elif not_selected:  # CERTIFIED only when every required gate ran
        verdict = (
            f"NOT A CERTIFICATION: every selected gate passed on real evidence, but {len(not_selected)} required "
            f"gate(s) were not selected: {', '.join(not_selected)}"
        )
    else:
        verdict = "CERTIFIED: every selected gate passed on real evidence"
    from dpone_certify.certification.layout import EvidenceLayout
    from dpone_certify.report import control

    compared = control.load(Path(root), run_id)  # what the build changed, beside the verdict it earned
    lines += ["", verdict, *(control.summary_lines(compared) if compared else [])]
    lines.append(f"evidence: {EvidenceLayout(Path(root), run_id).run_dir}")
    if failed:
        lines += [
            f"What to fix first: {failed[0]} (later gates often fail because they consume it).",
            "Each blocker's remediation: `dpone-certify explain <blocker>`, "
            "or the check's metadata in the UI (`dagster dev`).",
        ]
    return "\n".join(lines)


def cmd_accept_baseline(args: argparse.Namespace) -> int:
    """Run the accept_benchmark_baseline job: the latest matrix measurement becomes the baseline."""
    from dpone_certify.definitions import defs

    config = {"evidence_root": args.evidence_root} if args.evidence_root else {}
    if args.run:
        config["upstream_run"] = args.run
    result = defs.get_job_def("accept_benchmark_baseline").execute_in_process(
        instance=_instance(),
        run_config={"resources": {"certify": {"config": config}}} if config else None,
        raise_on_error=False,
    )
    print("baseline accepted" if result.success else "baseline NOT accepted: see the run's log above")
    return 0 if result.success else 1


def cmd_explain(args: argparse.Namespace) -> int:
    from dpone_certify.runbooks import remediation_for, render_markdown

    print(render_markdown([remediation_for(b) for b in args.blocker]))
    return 0


def cmd_cases(args: argparse.Namespace) -> int:
    from dpone_certify.matrix.catalogue import default_cases

    for case in default_cases():
        if args.json:
            print(json.dumps(case.model_dump()))
        else:
            print(case.case_id)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from dpone_certify.evidence.__main__ import run_verify

    return run_verify(args, prog="dpone-certify")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dpone-certify", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="materialize the full certification graph (or a selection)")
    run.add_argument(
        "--profile", choices=[p.value for p in Profile], help="default: $DPONE_CERTIFY_PROFILE or contract"
    )
    run.add_argument("--case", action="append", help="matrix case id(s); default: all (repeatable)")
    run.add_argument("--select", action="append", help="asset key(s) to materialize; default: all gates")
    run.add_argument(
        "--release-gates",
        action="store_true",
        help="also produce the release domains and run production-maturity and industrial-readiness",
    )
    run.add_argument("--evidence-root", dest="evidence_root")
    run.add_argument("--release")
    run.add_argument("--row-count", dest="row_count", type=int)
    run.add_argument("--max-parallel", dest="max_parallel", type=int)
    run.add_argument("--dpone-python", dest="dpone_python", help="python of another dpone build to certify")
    run.add_argument(
        "--dpone-wheel",
        dest="dpone_wheel",
        help="a dpone wheel to certify: its venv (with the local profile's extras) is built once per wheel digest",
    )
    run.add_argument("--control-python", dest="control_python", help="python of the control build to compare with")
    run.add_argument("--control-wheel", dest="control_wheel", help="a wheel of the control build")
    run.add_argument(
        "--control-version", dest="control_version", help="a released dpone version as control (installed in the cache)"
    )
    run.add_argument(
        "--interpreter-cache",
        dest="interpreter_cache",
        help="where wheel venvs are built (default: $DPONE_CERTIFY_INTERPRETER_CACHE or "
        "<user cache dir>/dpone-certify/interpreters)",
    )
    run.add_argument(
        "--upstream-run",
        dest="upstream_run",
        help="run id whose records feed the gates this selection does not materialize (default: each upstream's "
        "latest materialization in the Dagster instance)",
    )
    run.add_argument("--verbose", action="store_true", help="stream Dagster's event stream (it is always in the log)")
    run.set_defaults(func=cmd_run)
    from dpone_certify.report.commands import add_subcommands

    add_subcommands(sub)
    accept = sub.add_parser("accept-baseline", help="accept the latest matrix measurement as benchmark baseline")
    accept.add_argument("--evidence-root", dest="evidence_root")
    accept.add_argument("--run", help="run id whose matrix measurement to accept (default: the instance's latest)")
    accept.set_defaults(func=cmd_accept_baseline)
    explain = sub.add_parser("explain", help="print the remediation of blocker(s)")
    explain.add_argument("blocker", nargs="+")
    explain.set_defaults(func=cmd_explain)
    cases = sub.add_parser("cases", help="list dpone's matrix case ids (the partitions)")
    cases.add_argument("--json", action="store_true")
    cases.set_defaults(func=cmd_cases)
    verify = sub.add_parser("verify", help="verify an evidence root offline (same as python -m dpone_certify.evidence)")
    from dpone_certify.chain_cli import add_chain_parser
    from dpone_certify.evidence.__main__ import add_verify_arguments

    add_verify_arguments(verify)
    verify.set_defaults(func=cmd_verify)
    add_chain_parser(sub, _instance)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
