"""evidence_chain: appends this run's artifact index to the tamper-evident chain and verifies the whole chain
(hand-written: it anchors on the Dagster instance and is not one dpone call)."""

from pathlib import Path
from typing import Any

import dagster as dg

from dpone_certify.certification.artifact_store import store_indexed_artifacts
from dpone_certify.certification.records import GateRecord
from dpone_certify.evidence.anchor import HEAD_METADATA_KEY, ROOT_METADATA_KEY
from dpone_certify.evidence.atomic import atomic_write_json
from dpone_certify.gates.common import GROUP, finish, first_missing
from dpone_certify.matrix.records import EvidenceStatus
from dpone_certify.resources import CertifyResource, DponeResource

__all__ = ["HEAD_METADATA_KEY", "ROOT_METADATA_KEY", "evidence_chain", "previous_head", "store_indexed_artifacts"]


def previous_head(context: dg.AssetExecutionContext, root: Path) -> dict[str, Any] | None:
    """The chain head the Dagster instance recorded for this evidence root (evidence.anchor.instance_state)."""
    from dpone_certify.evidence.anchor import instance_state

    head, _halt = instance_state(context.instance, root)
    return head.to_metadata() if head is not None else None


@dg.asset(group_name=GROUP, backfill_policy=dg.BackfillPolicy.single_run(), kinds={"dpone"})
def evidence_chain(
    context: dg.AssetExecutionContext, certify: CertifyResource, dpone: DponeResource, artifact_index: GateRecord | None
) -> dg.Output[GateRecord]:
    """Appends this run's artifact index to the tamper-evident chain (one release id per append, so a retried
    step never appends twice), then verifies the whole chain twice: dpone's evidence-chain-verify, and our strict
    verification that also re-hashes every artifact every index lists and compares against the recorded head.
    A break stops the chain: verified before and after the append (evidence.guard), nothing appended while
    halted, and the head kept in the instance is only advanced from a verified chain."""
    from dpone_certify.evidence.anchor import instance_state, state_metadata
    from dpone_certify.evidence.chain import unique_release_id
    from dpone_certify.evidence.guard import guarded_append
    from dpone_certify.evidence.verify import verify_evidence

    if early := first_missing(context, certify, "evidence_chain", {"artifact_index": artifact_index}):
        return early
    assert artifact_index
    out = certify.gate_dir(context.run_id, "evidence_chain")
    root = certify.root()
    adapter = dpone.adapter(certify)
    anchor, instance_halt = instance_state(context.instance, root)
    release_id = unique_release_id(certify.release_name(), context.run_id)
    index_path = artifact_index.artifacts.get("report")
    blockers: list[str] = []
    store_metrics: dict[str, float] = {}
    guarded = None
    if index_path is None:
        blockers.append("gate.input_missing:artifact_index")
        report = verify_evidence(root, run_dpone=True, expected_head=anchor, adapter=adapter)
        blockers += [b for b in report.blockers if b not in blockers]
    else:
        store_metrics = store_indexed_artifacts(root, Path(index_path), context.run_id)
        guarded = guarded_append(
            root,
            release_id=release_id,
            artifact_index_path=index_path,
            adapter=adapter,
            anchor=anchor,
            instance_halt=instance_halt,
        )
        report = guarded.report
        blockers += guarded.blockers
    appended = guarded.appended if guarded else None
    report_path = out / "verification.json"
    atomic_write_json(report_path, report.model_dump(mode="json"), durable=False)
    record = GateRecord(
        gate="evidence_chain",
        run_id=context.run_id,
        profile=artifact_index.profile,
        # The chain's integrity is its own evidence: it does not inherit the certification's status.
        evidence_status=EvidenceStatus.PASS if not blockers else EvidenceStatus.FAIL,
        passed=not blockers,
        blockers=blockers,
        artifacts={
            "report": str(report_path),
            "chain_index": str(certify.layout().chain_index_path),
        },
        metrics={
            "entry_count": float(report.entry_count),
            "artifacts_rehashed": float(report.artifacts_checked),
            "verify_seconds": report.duration_seconds,
            **store_metrics,
        },
        dpone_command=(
            f"dpone ops evidence-chain --chain-dir {certify.layout().chain_dir} --release {release_id} "
            f"--artifact-index {index_path}"
        ),
        summary=(
            f"Release `{release_id}`: {appended.reason if appended else 'not appended'}"
            f"{'; ' + guarded.detail if guarded and guarded.halted else ''}. {report.summary()}. "
            f"Breaks: {'; '.join(b.describe() for b in report.breaks) or 'none'}."
        ),
        output_dir=str(out),
        release=release_id,
        extra={
            "append": appended.model_dump(mode="json") if appended else None,
            "halt": guarded.halt if guarded else None,
        },
    )
    # The instance keeps the last head that verified (never one from a broken chain) and the halt, if any.
    head = guarded.publish_head if guarded else anchor
    extra_md: dict[str, Any] = {
        "dpone_verified": str(report.dpone_verified),
        **state_metadata(root, head, guarded.halt if guarded else instance_halt),
    }
    return finish(certify, record, extra_md)
