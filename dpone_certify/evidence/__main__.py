"""`python -m dpone_certify.evidence verify <evidence-root>` (console script `dpone-certify-verify`).

Exit codes: 0 the evidence is intact; 1 it is not (each break is printed with its class, release, position
and artifact); 2 usage error (bad arguments, the root does not exist, an unreadable --expected-head).
No Dagster needed: an auditor runs this on a copy of the evidence root.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from dpone_certify.evidence.chain import ChainHead, coerce_head
from dpone_certify.evidence.verify import REMEDIATION, verify_evidence

PROG = "python -m dpone_certify.evidence"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Verify a dpone-certify evidence root offline.")
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser(
        "verify",
        help="verify the evidence chain, every artifact index and every artifact they list",
        description="Verify <evidence-root>: dpone's evidence-chain-verify plus our strict checks.",
    )
    verify.add_argument("root", help="the evidence root (holds chain/, chain_head.json, runs/, store/)")
    verify.add_argument("--json", action="store_true", help="print the full report as JSON")
    verify.add_argument("--no-dpone", action="store_true", help="skip dpone's own evidence-chain-verify")
    verify.add_argument(
        "--expected-head",
        metavar="FILE",
        help="a head anchored elsewhere (JSON of chain_head.json, e.g. copied from Dagster metadata)",
    )
    verify.add_argument("--store", action="store_true", help="also re-hash every object in the store")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help, 2 for usage errors
        return exc.code if isinstance(exc.code, int) else 2
    root = Path(args.root)
    if not root.is_dir():
        print(f"{PROG} verify: evidence root {root} does not exist or is not a folder", file=sys.stderr)
        return 2
    expected: ChainHead | None = None
    if args.expected_head:
        try:
            expected = coerce_head(Path(args.expected_head).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"{PROG} verify: cannot read --expected-head {args.expected_head}: {exc}", file=sys.stderr)
            return 2
    report = verify_evidence(root, run_dpone=not args.no_dpone, expected_head=expected, check_store=args.store)
    if args.json:
        print(json.dumps(report.model_dump(mode="json"), indent=2, sort_keys=True))
    else:
        print(report.summary())
        for item in report.breaks:
            print(f"BREAK {item.describe()}")
            print(f"      remediation: {REMEDIATION[item.break_class]}")
        if report.dpone_broken_entries:
            print(f"dpone broken_entries: {', '.join(report.dpone_broken_entries)}")
        extra = [b for b in report.blockers if not any(b == x.blocker for x in report.breaks)]
        if extra:
            print(f"other blockers: {', '.join(extra)}")
        for note in report.notes:
            print(f"note: {note}")
    return 0 if report.intact else 1


if __name__ == "__main__":
    sys.exit(main())
