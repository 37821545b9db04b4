"""Evidence you can trust: content-addressed store, safe appends to dpone's evidence chain, strict
verification (also offline: `python -m dpone_certify.evidence verify <root>`), in-toto envelopes.

Evidence root layout:
    <root>/runs/<run_id>/<asset_key>/...   files each gate wrote (absolute paths)
    <root>/chain/                          dpone's evidence chain folder
    <root>/chain_head.json                 head anchor outside the chain folder (chain.ChainHead)
    <root>/chain.lock                      lock serialising appends (verification waits on it, read-only)
    <root>/chain_halt.json                 present while the chain is halted by a break (guard.py)
    <root>/acknowledgments/<ack_id>/       a person's acknowledgment of a halt, itself a chain entry
    <root>/store/                          content-addressed store (store.EvidenceStore)

A break stops the chain: guard.guarded_append verifies before and after each append and halts on any break
until acknowledge.acknowledge (`dpone-certify chain acknowledge`) records who and why.
"""

from dpone_certify.evidence.chain import (
    AppendResult,
    ChainHead,
    append_release,
    compute_chain_hash,
    read_head,
    unique_release_id,
)
from dpone_certify.evidence.store import EvidenceStore, StoredArtifact, StoreStats
from dpone_certify.evidence.verify import Break, BreakClass, VerificationReport, verify_evidence

__all__ = [
    "AppendResult",
    "Break",
    "BreakClass",
    "ChainHead",
    "EvidenceStore",
    "StoreStats",
    "StoredArtifact",
    "VerificationReport",
    "append_release",
    "compute_chain_hash",
    "read_head",
    "unique_release_id",
    "verify_evidence",
]
