"""`python -m dpone_certify.evidence verify <evidence-root>` (console script `dpone-certify-verify`).

Exit codes: 0 the evidence is intact; 1 it is not (each break is printed with its class, release, position
and artifact); 2 usage error (bad arguments, the root does not exist, an unreadable --expected-head);
3 there is no evidence chain at the root (nothing to verify: no chain, no head, no store manifest).
Verification writes nothing into the root. No Dagster needed: an auditor runs this on a copy of the root.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from dpone_certify.certification.layout import CHAIN_DIRNAME, HEAD_FILENAME, RUNS_DIRNAME, STORE_DIRNAME
from dpone_certify.evidence.verify import REMEDIATION, verify_evidence

PROG = "python -m dpone_certify.evidence"
EXIT_INTACT, EXIT_BROKEN, EXIT_USAGE, EXIT_NO_CHAIN = 0, 1, 2, 3


def add_verify_arguments(verify: argparse.ArgumentParser) -> None:
    holds = f"{CHAIN_DIRNAME}/, {HEAD_FILENAME}, {RUNS_DIRNAME}/, {STORE_DIRNAME}/"
    verify.add_argument("root", help=f"the evidence root (holds {holds})")
    verify.add_argument("--json", action="store_true", help="print the full report as JSON")
    verify.add_argument("--no-dpone", action="store_true", help="skip dpone's own evidence-chain-verify")
    verify.add_argument(
        "--expected-head",
        metavar="FILE|JSON|HASH",
        help="a head anchored elsewhere: a file from `dpone-certify chain export-head` (or a "
        f"{HEAD_FILENAME} copy), its JSON text, or just the latest chain hash",
    )
    verify.add_argument(
        "--public-key",
        metavar="PEM",
        help="verify the expected head's signature with this Ed25519 key (a break when it does not verify)",
    )
    verify.add_argument("--no-store", action="store_true", help="skip re-hashing the content-addressed store")
    verify.add_argument("--store", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for scripts


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Verify a dpone-certify evidence root offline.")
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser(
        "verify",
        help="verify the evidence chain, every artifact index, every artifact they list and the store",
        description="Verify <evidence-root>: dpone's evidence-chain-verify plus our strict checks.",
    )
    add_verify_arguments(verify)
    return parser


def run_verify(args: argparse.Namespace, prog: str = PROG) -> int:
    from dpone_certify.evidence.signing import SignatureError, load_expected

    root = Path(args.root)
    if not root.is_dir():
        print(f"{prog} verify: evidence root {root} does not exist or is not a folder", file=sys.stderr)
        return EXIT_USAGE
    expected = None
    if args.expected_head:
        try:
            expected = load_expected(args.expected_head, public_key=Path(args.public_key) if args.public_key else None)
        except (ValueError, SignatureError) as exc:
            print(f"{prog} verify: cannot use --expected-head: {exc}", file=sys.stderr)
            return EXIT_USAGE
    elif args.public_key:
        print(f"{prog} verify: --public-key needs --expected-head (the signed head file)", file=sys.stderr)
        return EXIT_USAGE
    report = verify_evidence(
        root,
        run_dpone=not args.no_dpone,
        expected_head=expected.head if expected else None,
        expected_hash=expected.latest_hash if expected else None,
        head_signature_ok=expected.signature_ok if expected else None,
        check_store=not args.no_store,
    )
    if expected is not None:
        report.notes.insert(0, expected.note)
    if args.json:
        print(json.dumps(report.model_dump(mode="json"), indent=2, sort_keys=True))
    else:
        print(report.summary())
        for item in report.breaks:
            print(f"BREAK {item.describe()}")
            print(f"      remediation: {REMEDIATION[item.break_class]}")
        for item in report.acknowledged:
            print(f"ACKNOWLEDGED {item.describe()}")
        if report.dpone_broken_entries:
            print(f"dpone broken_entries: {', '.join(report.dpone_broken_entries)}")
        extra = [b for b in report.blockers if not any(b == x.blocker for x in report.breaks)]
        if extra and not report.empty:
            print(f"other blockers: {', '.join(extra)}")
        for note in report.notes:
            print(f"note: {note}")
    if report.empty:
        return EXIT_NO_CHAIN
    return EXIT_INTACT if report.intact else EXIT_BROKEN


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help, 2 for usage errors
        return exc.code if isinstance(exc.code, int) else 2
    return run_verify(args)


if __name__ == "__main__":
    sys.exit(main())
