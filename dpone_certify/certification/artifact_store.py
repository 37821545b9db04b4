"""Keep every artifact an artifact index lists in the content-addressed evidence store."""

from __future__ import annotations

from pathlib import Path

from dpone_certify.dpone.models import ArtifactIndex


def store_indexed_artifacts(root: Path, index_path: Path, run_id: str) -> dict[str, float]:
    """Every artifact the index lists (and the index), once per content, with this run's manifest
    (name -> digest, size, producer gate, run id)."""
    from dpone_certify.evidence.store import EvidenceStore

    # zlib level 1: half the time of level 6 on behavior JSON, 10% of raw size instead of 6% (measured).
    store = EvidenceStore(root, compress_level=1)
    index = ArtifactIndex.model_validate_json(index_path.read_text(encoding="utf-8"))
    stored = [
        store.put_file(index_path, name="artifact_index/artifact_index.json", producer="artifact_index", run_id=run_id)
    ]
    for item in index.items:
        path = Path(item.path)
        producer = path.parent.name if path.parent.name != "input" else "matrix_report"
        for root_dir in index.roots:
            if path.is_relative_to(root_dir):
                producer = Path(root_dir).name
                name = f"{producer}/{path.relative_to(root_dir)}"
                break
        else:
            name = f"{producer}/{path.name}"
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
