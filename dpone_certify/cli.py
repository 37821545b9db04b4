"""`dpone-certify`: the full certification from a terminal or CI, with a verdict people can act on.

`dpone-certify run` is `dagster asset materialize -m dpone_certify.definitions --select group:full_certification
--partition-range <first>...<last>` run in-process on the local instance, followed by a verdict table and the
remediation of every blocker. Exit 0 when every required gate passed, 1 when one failed, 2 on usage errors."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import dagster as dg
from dagster import DagsterInstance

from dpone_certify.settings import Profile


def _instance() -> DagsterInstance:

    from dpone_certify import settings

    if settings.dagster_home():
        return dg.DagsterInstance.get()
    if Path("dagster.yaml").exists():
        return dg.DagsterInstance.from_config(".")
    return dg.DagsterInstance.ephemeral()


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
    return (cases or known), assets


def cmd_run(args: argparse.Namespace) -> int:
    import dagster as dg
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from dpone_certify.certification.keys import FULL_CERTIFICATION_GATES, RELEASE_GATES
    from dpone_certify.definitions import defs

    keys, assets = _selection(args.case or [], args.select or [])
    config: dict[str, object] = {}
    for name in ("profile", "evidence_root", "release", "row_count", "max_parallel", "dpone_python", "upstream_run"):
        value = getattr(args, name)
        if value is not None:
            config[name] = value
    if not assets:
        assets = [*FULL_CERTIFICATION_GATES, *(RELEASE_GATES if args.release_gates else ())]
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
    job = defs.resolve_implicit_global_asset_job_def()
    instance = _instance()
    result = job.execute_in_process(
        asset_selection=selection,
        instance=instance,
        tags=tags,
        run_config={"resources": {"certify": {"config": config}}} if config else None,
        raise_on_error=False,
    )
    evaluations = result.get_asset_check_evaluations()
    from dpone_certify.resources import CertifyResource

    root = CertifyResource(evidence_root=args.evidence_root).root()
    print(render_verdict(result.run_id, evaluations, str(root)))
    return 0 if result.success else 1


def render_verdict(run_id: str, evaluations: Sequence[Any], root: str) -> str:
    from dpone_certify.certification.keys import ALL_GATES

    order = {gate: i for i, gate in enumerate(ALL_GATES)}
    evaluations = sorted(evaluations, key=lambda ev: order.get(ev.asset_key.path[-1], len(order)))
    lines = [f"\ndpone-certify run {run_id}", "", f"{'gate':32} {'verdict':8} {'severity':8} description", "-" * 100]
    failed = []
    unverified = False
    for ev in evaluations:
        key = ev.asset_key.to_user_string()
        lines.append(
            f"{key:32} {'PASS' if ev.passed else 'FAIL':8} {ev.severity.value:8} {(ev.description or '')[:160]}"
        )
        unverified |= "UNVERIFIED" in (ev.description or "")
        if not ev.passed:
            failed.append(key)
    if failed:
        verdict = f"NOT CERTIFIED: {len(failed)} gate(s) failed"
        verdict += "; the evidence includes dpone's UNVERIFIED simulation (contract profile)" if unverified else ""
    elif unverified:
        verdict = (
            "NOT A CERTIFICATION: every selected gate passed, but on dpone's UNVERIFIED simulation "
            "(contract profile); real evidence needs --profile local"
        )
    else:
        verdict = "CERTIFIED: every selected gate passed on real evidence"
    from dpone_certify.certification.layout import EvidenceLayout

    lines += ["", verdict, f"evidence: {EvidenceLayout(Path(root), run_id).run_dir}"]
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
    from dpone_certify.evidence.__main__ import main as verify_main

    return verify_main(["verify", args.root, *(["--json"] if args.json else [])])


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
        "--upstream-run",
        dest="upstream_run",
        help="run id whose records feed the gates this selection does not materialize (default: each upstream's "
        "latest materialization in the Dagster instance)",
    )
    run.set_defaults(func=cmd_run)
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
    verify.add_argument("root")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(func=cmd_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
