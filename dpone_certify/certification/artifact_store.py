"""Keep every artifact an artifact index lists in the content-addressed evidence store."""

from __future__ import annotations

from pathlib import Path

from dpone_certify.dpone.models import ArtifactIndex


def store_indexed_artifacts(root: Path, index_path: Path, run_id: str) -> dict[str, float]:
    """Every artifact the index lists (and the index), once per content, with this run's manifest
    (name -> digest, size, producer gate, run id)."""
    from dpone_certify.evidence.store import INDEX_ARTIFACT_NAME, EvidenceStore, artifact_store_name

    # zlib level 1: half the time of level 6 on behavior JSON, 10% of raw size instead of 6% (measured).
    store = EvidenceStore(root, compress_level=1)
    index = ArtifactIndex.model_validate_json(index_path.read_text(encoding="utf-8"))
    stored = [store.put_file(index_path, name=INDEX_ARTIFACT_NAME, producer="artifact_index", run_id=run_id)]
    for item in index.items:
        path = Path(item.path)
        # The same name verify.py derives to check each manifest entry against the chained index.
        name = artifact_store_name(path, index.roots)
        producer = name.split("/", 1)[0]
        if path.exists():
            stored.append(store.put_file(path, name=name, producer=producer, run_id=run_id))
    store.write_run_manifest(run_id, stored)
    raw = sum(a.size for a in stored)
    added = sum(a.added_bytes for a in stored)
    return {
        "store_raw_bytes": float(raw),
        "store_added_bytes": float(added),
        "store_added_ratio": added / raw if raw else 0.0,
    }
