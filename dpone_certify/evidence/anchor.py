"""The head (and halt) the Dagster instance keeps for an evidence root: an anchor outside the evidence folder.

Every evidence_chain materialization carries `evidence_root`, `chain_head` (the last head that verified) and,
while the chain is halted, `chain_halted` (the halt record). The newest materialization for a root is the
state of that root; an acknowledgment records one too (runless), without `chain_halted`.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import dagster as dg

from dpone_certify import settings
from dpone_certify.evidence.chain import ChainHead, coerce_head

ASSET = "evidence_chain"
HEAD_METADATA_KEY = "chain_head"
ROOT_METADATA_KEY = "evidence_root"
HALT_METADATA_KEY = "chain_halted"
ACK_METADATA_KEY = "chain_acknowledged"


def _value(entry: Any) -> Any:
    return getattr(entry, "value", entry)


def instance_state(instance: dg.DagsterInstance, root: Path) -> tuple[ChainHead | None, dict[str, Any] | None]:
    """(head, halt) of the newest evidence_chain materialization recorded for `root`."""
    records = instance.fetch_materializations(dg.AssetKey(ASSET), limit=100).records
    for rec in records:  # newest first
        materialization = rec.asset_materialization
        if materialization is None:
            continue
        meta = materialization.metadata
        if str(_value(meta.get(ROOT_METADATA_KEY))) != str(root):
            continue
        head_value = _value(meta.get(HEAD_METADATA_KEY))
        halt_value = _value(meta.get(HALT_METADATA_KEY))
        try:
            head = coerce_head(head_value) if isinstance(head_value, dict) else None
        except ValueError:
            head = None
        halt = halt_value if isinstance(halt_value, dict) else None
        if head is None and halt is None:
            continue
        return head, halt
    return None, None


def state_metadata(root: Path, head: ChainHead | None, halt: dict[str, Any] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {ROOT_METADATA_KEY: str(root)}
    if head is not None:
        meta[HEAD_METADATA_KEY] = dg.MetadataValue.json(head.to_metadata())
    if halt is not None:
        meta[HALT_METADATA_KEY] = dg.MetadataValue.json(halt)
    return meta


def record_acknowledgment(instance: dg.DagsterInstance, root: Path, head: ChainHead, ack: dict[str, Any]) -> None:
    """A runless evidence_chain materialization: the acknowledged head becomes the instance's anchor."""
    meta = state_metadata(root, head, None)
    meta[ACK_METADATA_KEY] = dg.MetadataValue.json(
        {k: ack[k] for k in ("ack_id", "acknowledged_by", "reason", "acknowledged_at") if k in ack}
    )
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key=ASSET, description=f"chain acknowledged: {ack.get('reason')}", metadata=meta)
    )


def default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return settings.env("USER") or "unknown"
