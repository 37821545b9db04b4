"""`dpone-certify chain ...`: the person's side of the evidence chain.

- `chain acknowledge --reason TEXT [--by WHO]`: lift a halt (a break stops the chain) by recording who and
  why as its own chain entry; the acknowledged head becomes the Dagster instance's anchor.
- `chain export-head [--output FILE] [--sign-key PEM]`: export the head the Dagster instance keeps for the
  evidence root (the last head that verified), optionally signed with an Ed25519 key, for
  `dpone-certify verify <root> --expected-head FILE [--public-key PEM]`.

Exit codes: 0 done (or nothing to acknowledge), 1 refused (the acknowledgment could not be appended; no
verified head to export), 2 usage error, 3 cannot start (the evidence root is not a folder, an unusable key).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from dpone_certify.startup import EXIT_CANNOT_START, EXIT_FAILED, EXIT_OK


def _root(args: argparse.Namespace, command: str) -> Path | None:
    """The evidence root; None, said on stderr, when it is not a folder (exit EXIT_CANNOT_START)."""
    from dpone_certify.resources import CertifyResource

    root = CertifyResource(evidence_root=args.evidence_root).root()
    if root.is_dir():
        return root
    print(f"dpone-certify chain {command}: evidence root {root} is not a folder", file=sys.stderr)
    return None


def cmd_acknowledge(args: argparse.Namespace, instance_factory: Callable[[], dg.DagsterInstance]) -> int:
    from dpone_certify.dpone.adapter import DponeAdapter
    from dpone_certify.evidence.acknowledge import acknowledge
    from dpone_certify.evidence.anchor import default_user, instance_state, record_acknowledgment

    root = _root(args, "acknowledge")
    if root is None:
        return EXIT_CANNOT_START
    if not args.reason.strip():
        print("dpone-certify chain acknowledge: --reason must say why", file=sys.stderr)
        return 2
    instance = instance_factory()
    anchor, halt = instance_state(instance, root)
    by = args.by or default_user()
    result = acknowledge(root, reason=args.reason, by=by, adapter=DponeAdapter(), anchor=anchor, instance_halt=halt)
    if not result.acknowledged:
        print(result.detail)
        return EXIT_OK if not result.blockers else EXIT_FAILED
    assert result.head is not None and result.record is not None
    record_acknowledgment(instance, root, result.head, result.record)
    print(f"{result.detail}; acknowledged by {by}: {args.reason}")
    if result.after is not None:
        print(result.after.summary())
        for item in result.after.breaks:
            print(f"BREAK {item.describe()}")
    return EXIT_OK


def cmd_export_head(args: argparse.Namespace, instance_factory: Callable[[], dg.DagsterInstance]) -> int:
    from dpone_certify.certification.layout import HEAD_FILENAME
    from dpone_certify.evidence.anchor import instance_state
    from dpone_certify.evidence.chain import read_head
    from dpone_certify.evidence.signing import SIGNERS, SignatureError, export_document
    from dpone_certify.evidence.verify import verify_evidence

    root = _root(args, "export-head")
    if root is None:
        return EXIT_CANNOT_START
    signer = None
    if args.sign_key:
        try:
            signer = SIGNERS[args.alg](Path(args.sign_key))
        except SignatureError as exc:
            print(f"dpone-certify chain export-head: {exc}", file=sys.stderr)
            return EXIT_CANNOT_START
    head, halt = instance_state(instance_factory(), root)
    source = "dagster-instance"
    if head is None:
        # No anchor in the instance (e.g. an ephemeral one): export the head file only if the root verifies.
        report = verify_evidence(root, run_dpone=False)
        head = read_head(root) if report.intact else None
        source = f"{HEAD_FILENAME} (verified at export)"
        if head is None:
            print(
                f"dpone-certify chain export-head: no verified head for {root} ({report.summary()})",
                file=sys.stderr,
            )
            return EXIT_FAILED
    document = export_document(root, head, source=source, signer=signer)
    if halt is not None:
        document["halted"] = {k: halt.get(k) for k in ("halt_id", "found_at", "found_by")}
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if args.output:
        from dpone_certify.evidence.atomic import atomic_write_text

        atomic_write_text(Path(args.output), text)
        print(f"head of {head.entry_count} entries ({source}) written to {args.output}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def add_chain_parser(sub: argparse._SubParsersAction, instance_factory: Callable[[], dg.DagsterInstance]) -> None:
    chain = sub.add_parser("chain", help="acknowledge a halted evidence chain, export its head")
    chain_sub = chain.add_subparsers(dest="chain_command", required=True)
    ack = chain_sub.add_parser(
        "acknowledge", help="lift a halt: record who and why as a chain entry (the breaks stay on record)"
    )
    ack.add_argument("--reason", required=True, help="why the breaks are accepted (what was found, what was done)")
    ack.add_argument("--by", help="who acknowledges (default: the OS user)")
    ack.add_argument("--evidence-root", dest="evidence_root")
    ack.set_defaults(func=lambda args: cmd_acknowledge(args, instance_factory))
    export = chain_sub.add_parser("export-head", help="export the head the Dagster instance keeps (optionally signed)")
    export.add_argument("--evidence-root", dest="evidence_root")
    export.add_argument("--output", help="write the head file here (default: stdout)")
    export.add_argument("--sign-key", dest="sign_key", help="PEM private key to sign the head with")
    export.add_argument("--alg", default="ed25519", choices=["ed25519"], help="signature algorithm")
    export.set_defaults(func=lambda args: cmd_export_head(args, instance_factory))
