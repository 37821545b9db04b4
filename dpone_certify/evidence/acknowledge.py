"""`dpone-certify chain acknowledge`: a person's decision about a halted chain, recorded as a chain entry.

The acknowledgment is a file `<root>/acknowledgments/<ack_id>/chain_acknowledgment.json` (who, why, when, the
halt, every break verification finds now, the head anchored outside the root), indexed by dpone's
artifact-index and appended to the chain like any release, so it is itself tamper-evident. Verification
then reports the listed breaks as acknowledged (not as breaks), and the halt is lifted. Breaks found later
halt the chain again.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from dpone_certify.certification.layout import ARTIFACT_INDEX_FILE, EvidenceLayout
from dpone_certify.dpone.adapter import DponeAdapter, Outcome
from dpone_certify.evidence.atomic import atomic_write_json, locked
from dpone_certify.evidence.chain import (
    ChainError,
    ChainHead,
    _recover,
    append_release,
    read_halt,
)
from dpone_certify.evidence.guard import break_records
from dpone_certify.evidence.verify import BreakClass, VerificationReport, verify_evidence

ACK_SCHEMA = "dpone_certify.evidence.chain_acknowledgment.v1"


class AcknowledgeResult(BaseModel):
    acknowledged: bool
    ack_id: str | None = None
    head: ChainHead | None = None
    record: dict[str, Any] | None = None
    breaks: int = 0
    blockers: list[str] = Field(default_factory=list)
    detail: str
    after: VerificationReport | None = None


def acknowledge(
    root: Path | str,
    *,
    reason: str,
    by: str,
    adapter: DponeAdapter,
    anchor: ChainHead | None = None,
    instance_halt: dict[str, Any] | None = None,
    lock_timeout_s: float = 600.0,
) -> AcknowledgeResult:
    root = Path(root).absolute()
    layout = EvidenceLayout(root)
    if not reason.strip():
        raise ValueError("an acknowledgment needs a reason")
    with locked(layout.chain_lock_path, lock_timeout_s):
        _recover(root)
        try:
            halt = read_halt(root) or instance_halt
        except ChainError as exc:
            halt = {"found_at": "?", "detail": str(exc), "breaks": []}
        report = verify_evidence(root, run_dpone=True, expected_head=anchor, adapter=adapter, lock=False)
        breaks = [b for b in report.breaks if b.break_class is not BreakClass.CHAIN_HALTED]
        dpone_failed = report.dpone_verified is False and not report.dpone_acknowledged
        if halt is None and not breaks and not dpone_failed:
            return AcknowledgeResult(acknowledged=False, detail="nothing to acknowledge: the chain is not halted")
        now = datetime.now(UTC)
        ack_id = (
            "acknowledgment-"
            + now.strftime("%Y%m%dT%H%M%S")
            + "-"
            + hashlib.sha256(f"{now.isoformat()}:{by}:{reason}".encode()).hexdigest()[:8]
        )
        ack_dir = layout.acknowledgment_dir(ack_id)
        record = {
            "schema": ACK_SCHEMA,
            "ack_id": ack_id,
            "acknowledged_by": by,
            "reason": reason,
            "acknowledged_at": now.isoformat(),
            "halt_id": (halt or {}).get("halt_id"),
            "halt": halt,
            "breaks": break_records(root, breaks),
            "dpone_broken_entries": report.dpone_broken_entries if dpone_failed else [],
            "anchor_head": anchor.to_metadata() if anchor is not None else None,
        }
        atomic_write_json(layout.acknowledgment_path(ack_id), record)
        index_dir = ack_dir / "artifact_index"
        call = adapter.cli(
            "evidence_chain",
            ["ops", "artifact-index", "--root", str(ack_dir), "--release", _safe(ack_id)]
            + ["--output-dir", str(index_dir), "--format", "json"],
        )
        index_path = index_dir / ARTIFACT_INDEX_FILE
        if call.outcome is not Outcome.OK or not index_path.is_file():
            return AcknowledgeResult(
                acknowledged=False,
                blockers=list(call.blockers) or ["chain.append_failed"],
                detail=f"dpone's artifact-index over the acknowledgment failed: {call.describe()}",
            )
        appended = append_release(
            root,
            release_id=ack_id,
            artifact_index_path=index_path,
            adapter=adapter,
            lock=False,
            allow_head_mismatch=True,
        )
        if not appended.ok or appended.head is None:
            return AcknowledgeResult(
                acknowledged=False,
                blockers=appended.blockers,
                detail=f"the acknowledgment was not appended: {appended.detail}",
            )
        layout.halt_path.unlink(missing_ok=True)
        after = verify_evidence(root, run_dpone=False, expected_head=anchor, adapter=adapter, lock=False)
        return AcknowledgeResult(
            acknowledged=True,
            ack_id=ack_id,
            head=appended.head,
            record=record,
            breaks=len(breaks),
            detail=f"acknowledged {len(breaks)} break(s) as chain entry {appended.position} ({ack_id})",
            after=after,
        )


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)
