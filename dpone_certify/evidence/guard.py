"""A break stops the chain: verify, then append, then verify again, under one chain lock.

`guarded_append` is what the evidence_chain asset calls:

1. under the chain lock, finish or roll back an append a killed process left (chain._recover);
2. verify the whole root strictly (chain, every artifact, the head file, the head anchored outside the root,
   the store). A break found here, a halt record in the root (`chain_halt.json`) or a halt the Dagster
   instance recorded stops everything: nothing is appended, the halt is (re)written, and the head to keep
   is the old anchor;
3. append, then verify again (with dpone's own evidence-chain-verify). A break found after the append halts
   the chain too, and the head is not advanced.

The halt stays until a person acknowledges it (`acknowledge.acknowledge`, CLI `dpone-certify chain
acknowledge`), which records who and why as its own chain entry. The head the caller keeps elsewhere
(`publish_head`) only ever comes from a verified chain.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from dpone_certify.certification.layout import HALT_FILENAME, EvidenceLayout
from dpone_certify.dpone.adapter import DponeAdapter
from dpone_certify.evidence.atomic import locked
from dpone_certify.evidence.chain import (
    AppendResult,
    ChainError,
    ChainHead,
    _recover,
    append_release,
    read_halt,
    write_halt,
)
from dpone_certify.evidence.verify import Break, BreakClass, VerificationReport, verify_evidence

HALTED_BLOCKER = "chain.halted"


class GuardedAppend(BaseModel):
    appended: AppendResult | None = None
    report: VerificationReport = Field(description="the last verification that ran")
    halted: bool = False
    halt: dict[str, Any] | None = Field(default=None, description="the halt record, when the chain is halted")
    blockers: list[str] = Field(default_factory=list)
    publish_head: ChainHead | None = Field(
        default=None, description="the head to anchor outside the root: advanced only from a verified chain"
    )
    detail: str = ""

    @property
    def ok(self) -> bool:
        return not self.blockers


def break_records(root: Path, breaks: list[Break]) -> list[dict[str, Any]]:
    """Breaks as they are recorded in a halt or an acknowledgment (artifact paths relative to the root)."""
    out = []
    for item in breaks:
        artifact = item.artifact
        if artifact is not None:
            with contextlib.suppress(ValueError):
                artifact = Path(artifact).relative_to(root).as_posix()
        out.append(
            {
                "break_class": item.break_class.value,
                "release": item.release,
                "position": item.position,
                "artifact": artifact,
                "detail": item.detail,
            }
        )
    return out


def _chain_breaks(report: VerificationReport) -> list[Break]:
    return [b for b in report.breaks if b.break_class is not BreakClass.CHAIN_HALTED]


def guarded_append(
    root: Path | str,
    *,
    release_id: str,
    artifact_index_path: Path | str,
    adapter: DponeAdapter,
    anchor: ChainHead | None,
    instance_halt: dict[str, Any] | None = None,
    lock_timeout_s: float = 600.0,
) -> GuardedAppend:
    root = Path(root).absolute()
    root.mkdir(parents=True, exist_ok=True)
    with locked(EvidenceLayout(root).chain_lock_path, lock_timeout_s):
        _recover(root)
        try:
            halt = read_halt(root)
        except ChainError as exc:
            halt = {"found_at": "?", "found_by": "-", "breaks": [], "detail": str(exc)}
        pre = verify_evidence(root, run_dpone=False, expected_head=anchor, adapter=adapter, lock=False)
        if halt is None and instance_halt is not None:
            # The Dagster instance recorded a halt that the root no longer shows: the halt file was removed.
            halt = write_halt(
                root,
                breaks=list(instance_halt.get("breaks", [])),
                found_by=str(instance_halt.get("found_by", "-")),
                detail=f"restored from the Dagster instance: {HALT_FILENAME} had been removed",
            )
        breaks = _chain_breaks(pre)
        if halt is None and breaks:
            halt = write_halt(root, breaks=break_records(root, breaks), found_by=release_id)
        if halt is not None:
            return GuardedAppend(
                report=pre,
                halted=True,
                halt=halt,
                blockers=list(dict.fromkeys([HALTED_BLOCKER, *pre.blockers])),
                publish_head=anchor,
                detail=f"the chain is halted since {halt.get('found_at')}: nothing appended",
            )

        appended = append_release(
            root, release_id=release_id, artifact_index_path=artifact_index_path, adapter=adapter, lock=False
        )
        # The store was re-hashed just before (nothing but this append changed since): chain and dpone only.
        post = verify_evidence(
            root, run_dpone=True, expected_head=anchor, adapter=adapter, lock=False, check_store=False
        )
        blockers = list(appended.blockers)
        blockers += [b for b in post.blockers if b not in blockers]
        dpone_failed = post.dpone_verified is False and not post.dpone_acknowledged
        if dpone_failed and "chain.dpone_verify_failed" not in blockers:
            blockers.append("chain.dpone_verify_failed")
        breaks = _chain_breaks(post)
        if breaks or dpone_failed:
            records = break_records(root, breaks)
            if dpone_failed:
                records.append(
                    {
                        "break_class": "dpone_verify_failed",
                        "release": None,
                        "position": None,
                        "artifact": None,
                        "detail": f"dpone's evidence-chain-verify: broken {post.dpone_broken_entries}",
                    }
                )
            halt = write_halt(root, breaks=records, found_by=release_id, detail="found right after an append")
            return GuardedAppend(
                appended=appended,
                report=post,
                halted=True,
                halt=halt,
                blockers=list(dict.fromkeys([HALTED_BLOCKER, *blockers])),
                publish_head=anchor,
                detail="verification after the append found a break: the head is not advanced",
            )
        return GuardedAppend(
            appended=appended,
            report=post,
            blockers=blockers,
            publish_head=appended.head if appended.ok and appended.head is not None else anchor,
            detail=appended.detail,
        )
