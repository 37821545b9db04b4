"""Content-addressed evidence store.

Layout under the evidence root (`EvidenceStore(root)` takes the evidence root, not the store folder):

    <root>/store/objects/<aa>/<sha256>   zlib-compressed bytes of one artifact, named by the sha256 of the
                                         *raw* bytes; written once, atomically, read-only afterwards
    <root>/store/runs/<run_id>.json      run manifest: artifact name -> digest, size, producer asset, run id
    <root>/store/store.lock              flock serialising manifest updates

An artifact that is byte-identical across runs is stored once: a repeated run adds only its manifest and the
objects whose bytes changed. `materialize` writes a run's artifacts back as plain files (for dpone's
commands and for people); every object is re-hashed on the way out.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, Field

from dpone_certify.certification.layout import EvidenceLayout
from dpone_certify.evidence.atomic import TMP_SUFFIX, atomic_write_json, atomic_writer, locked

CHUNK = 1024 * 1024
MANIFEST_SCHEMA = "dpone_certify.evidence.run_manifest.v1"
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


class StoreError(Exception):
    """An object is missing or does not match its digest, or a name/run id is unusable."""


class StoredArtifact(BaseModel):
    name: str
    digest: str
    size: int = Field(description="raw bytes of the artifact")
    stored_size: int = Field(description="bytes of its compressed object in the store")
    producer: str
    run_id: str
    new: bool = Field(description="true when this put wrote the object; false when it was already stored")

    @property
    def added_bytes(self) -> int:
        """Bytes this put added to the store's objects (0 for a deduplicated artifact)."""
        return self.stored_size if self.new else 0


class ManifestItem(BaseModel):
    digest: str
    size: int
    producer: str
    run_id: str


class RunManifest(BaseModel):
    schema_: str = Field(default=MANIFEST_SCHEMA, alias="schema")
    run_id: str
    updated_at: str
    artifacts: dict[str, ManifestItem]
    artifact_count: int
    raw_bytes: int

    model_config = {"populate_by_name": True}


class StoreStats(BaseModel):
    object_count: int
    stored_bytes: int = Field(description="bytes of all objects on disk (compressed, deduplicated)")
    unique_raw_bytes: int = Field(description="raw bytes of the distinct artifacts the manifests reference")
    logical_raw_bytes: int = Field(description="raw bytes summed over every manifest entry of every run")
    run_count: int

    @property
    def ratio(self) -> float:
        """stored / logical raw: what keeping every run's evidence costs relative to plain copies."""
        return self.stored_bytes / self.logical_raw_bytes if self.logical_raw_bytes else 0.0


class StoreFinding(BaseModel):
    """One problem in the store: `kind` is a verify.BreakClass value."""

    kind: Literal["store_object_corrupt", "store_object_missing", "manifest_mismatch", "manifest_invalid"]
    run_id: str | None = None
    name: str | None = None
    artifact: str = Field(description="the object or manifest file concerned")
    detail: str


class StoreVerification(BaseModel):
    ok: bool
    objects_checked: int
    manifests_checked: int = 0
    entries_checked: int = 0
    findings: list[StoreFinding] = Field(default_factory=list)

    @property
    def blockers(self) -> list[str]:
        return list(dict.fromkeys(f"chain.{f.kind}" for f in self.findings))


INDEX_ARTIFACT_NAME = "artifact_index/artifact_index.json"


def artifact_store_name(path: Path, roots: Iterable[str]) -> str:
    """The manifest name of an artifact an index lists: `<root folder name>/<path under it>` for a path under
    one of the index's roots (a gate's output folder), else `<producer>/<file name>`."""
    for root_dir in roots:
        if path.is_relative_to(root_dir):
            return f"{Path(root_dir).name}/{path.relative_to(root_dir).as_posix()}"
    producer = path.parent.name if path.parent.name != "input" else "matrix_report"
    return f"{producer}/{path.name}"


def sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


_EntryKind = Literal["store_object_missing", "manifest_mismatch"]


def _entry_problem(
    run_id: str, name: str, item: ManifestItem, content: dict[str, tuple[bool, int]], expected: dict[str, str] | None
) -> tuple[_EntryKind, str] | None:
    """What is wrong with one manifest entry, as (finding kind, detail); None when nothing is.

    `content`: digest -> (the object is intact, its raw size); `expected`: see `EvidenceStore._expected_names`."""
    where = f"{run_id}:{name}"
    if not _DIGEST.match(item.digest) or item.digest not in content:
        return "store_object_missing", (
            f"the manifest entry {where} names object {item.digest[:16]}..., which is not in the store"
        )
    ok, size = content[item.digest]
    if ok and size != item.size:
        return "manifest_mismatch", f"the manifest entry {where} records {item.size} bytes; its object holds {size}"
    if expected is not None and expected.get(name, item.digest) != item.digest:
        return "manifest_mismatch", (
            f"the manifest entry {where} points at object {item.digest[:16]}...; the "
            f"run's chained artifact index records {expected[name][:16]}... for it"
        )
    return None


def safe_artifact_name(name: str) -> str:
    """A manifest name is a relative POSIX path without `..`; it becomes a path under `materialize`'s dest."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if not name or pure.is_absolute() or any(part in ("..", "") for part in pure.parts) or str(pure) == ".":
        raise StoreError(f"unusable artifact name {name!r}: use a relative path without '..'")
    return str(pure)


class EvidenceStore:
    def __init__(self, root: Path | str, *, compress_level: int = 6, lock_timeout_s: float = 600.0) -> None:
        self.root = Path(root).absolute()
        layout = EvidenceLayout(self.root)
        self.store_dir = layout.store_dir
        self.objects_dir = layout.store_objects_dir
        self.runs_dir = layout.store_manifests_dir
        self.lock_path = layout.store_lock_path
        self.compress_level = compress_level
        self.lock_timeout_s = lock_timeout_s

    # ---- objects ------------------------------------------------------------------------------------
    def object_path(self, digest: str) -> Path:
        if not _DIGEST.match(digest):
            raise StoreError(f"not a sha256 digest: {digest!r}")
        return self.objects_dir / digest[:2] / digest

    def has(self, digest: str) -> bool:
        return self.object_path(digest).is_file()

    def put_file(self, path: Path | str, *, name: str, producer: str, run_id: str) -> StoredArtifact:
        """Store one file by the sha256 of its bytes; write the object only if it is not there yet."""
        source = Path(path)
        name = safe_artifact_name(name)
        digest, size = sha256_file(source)
        target = self.object_path(digest)
        new = False
        if not target.is_file():
            self._write_object(source, target, digest)
            new = True
        return StoredArtifact(
            name=name,
            digest=digest,
            size=size,
            stored_size=target.stat().st_size,
            producer=producer,
            run_id=run_id,
            new=new,
        )

    def _write_object(self, source: Path, target: Path, digest: str) -> None:
        # Compress and re-hash in one pass; a file that changed since it was hashed is refused, so an object
        # can never hold bytes other than the ones its name promises. Two writers of the same digest write
        # identical bytes, so the later os.replace is harmless.
        check = hashlib.sha256()
        compressor = zlib.compressobj(self.compress_level)
        with atomic_writer(target, mode=0o444) as out, source.open("rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                check.update(chunk)
                out.write(compressor.compress(chunk))
            out.write(compressor.flush())
            if check.hexdigest() != digest:
                raise StoreError(f"{source} changed while it was being stored; store it again")

    def put_tree(self, directory: Path | str, *, producer: str, run_id: str, prefix: str = "") -> list[StoredArtifact]:
        """Store every regular file under `directory` (symlinks and our temp files skipped); each name is
        `prefix` + the file's path relative to `directory`, with `/` separators."""
        base = Path(directory)
        stored: list[StoredArtifact] = []
        for path in sorted(p for p in base.rglob("*") if p.is_file() and not p.is_symlink()):
            if path.name.endswith(TMP_SUFFIX) and path.name.startswith("."):
                continue
            rel = path.relative_to(base).as_posix()
            stored.append(self.put_file(path, name=f"{prefix}{rel}", producer=producer, run_id=run_id))
        return stored

    def read_bytes(self, digest: str) -> bytes:
        """The raw bytes of an object, checked against its digest."""
        target = self.object_path(digest)
        if not target.is_file():
            raise StoreError(f"object {digest} is not in the store")
        data = zlib.decompress(target.read_bytes())
        if hashlib.sha256(data).hexdigest() != digest:
            raise StoreError(f"object {digest} is corrupt: its bytes no longer hash to its name")
        return data

    # ---- run manifests ------------------------------------------------------------------------------
    def manifest_path(self, run_id: str) -> Path:
        if not _RUN_ID.match(run_id):
            raise StoreError(f"unusable run id {run_id!r}: letters, digits, '_', '.', '-' only")
        return self.runs_dir / f"{run_id}.json"

    def write_run_manifest(self, run_id: str, artifacts: Iterable[StoredArtifact]) -> Path:
        """Record (or extend) the manifest of `run_id`. Several assets of one run may call this; entries are
        merged by name under the store lock, and the manifest is replaced atomically."""
        path = self.manifest_path(run_id)
        with locked(self.lock_path, self.lock_timeout_s):
            current = self.load_manifest(run_id).artifacts if path.exists() else {}
            merged = dict(current)
            for item in artifacts:
                if not self.has(item.digest):
                    raise StoreError(f"artifact {item.name} ({item.digest}) is not in the store; put it first")
                merged[item.name] = ManifestItem(
                    digest=item.digest, size=item.size, producer=item.producer, run_id=item.run_id
                )
            manifest = RunManifest(
                run_id=run_id,
                updated_at=datetime.now(UTC).isoformat(),
                artifacts=dict(sorted(merged.items())),
                artifact_count=len(merged),
                raw_bytes=sum(i.size for i in merged.values()),
            )
            atomic_write_json(path, manifest.model_dump(by_alias=True))
        return path

    def load_manifest(self, run_id: str) -> RunManifest:
        path = self.manifest_path(run_id)
        if not path.is_file():
            raise StoreError(f"no manifest for run {run_id}")
        return RunManifest.model_validate(json.loads(path.read_text(encoding="utf-8")))

    def run_ids(self) -> list[str]:
        if not self.runs_dir.is_dir():
            return []
        return sorted(p.stem for p in self.runs_dir.glob("*.json"))

    def materialize(self, run_id: str, dest_dir: Path | str) -> list[Path]:
        """Write every artifact of the run back as a plain file `dest_dir/<name>` (atomically, re-hashed)."""
        dest = Path(dest_dir)
        written: list[Path] = []
        for name, item in self.load_manifest(run_id).artifacts.items():
            target = dest / safe_artifact_name(name)
            source = self.object_path(item.digest)
            if not source.is_file():
                raise StoreError(f"object {item.digest} of {run_id}:{name} is missing from the store")
            check = hashlib.sha256()
            decompressor = zlib.decompressobj()
            with atomic_writer(target) as out, source.open("rb") as handle:
                for chunk in iter(lambda: handle.read(CHUNK), b""):
                    data = decompressor.decompress(chunk)
                    check.update(data)
                    out.write(data)
                tail = decompressor.flush()
                check.update(tail)
                out.write(tail)
                if check.hexdigest() != item.digest:
                    raise StoreError(f"object {item.digest} of {run_id}:{name} is corrupt")
            written.append(target)
        return written

    # ---- integrity and size -------------------------------------------------------------------------
    def _objects(self) -> list[Path]:
        if not self.objects_dir.is_dir():
            return []
        return sorted(p for p in self.objects_dir.glob("??/*") if _DIGEST.match(p.name))

    def object_content(self, obj: Path) -> tuple[bool, int]:
        """(the object decompresses completely and its bytes hash to its name, raw size)."""
        check = hashlib.sha256()
        decompressor = zlib.decompressobj()
        size = 0
        try:
            with obj.open("rb") as handle:
                for chunk in iter(lambda: handle.read(CHUNK), b""):
                    data = decompressor.decompress(chunk)
                    check.update(data)
                    size += len(data)
                tail = decompressor.flush()
                check.update(tail)
                size += len(tail)
            return decompressor.eof and check.hexdigest() == obj.name, size
        except (zlib.error, OSError):
            return False, size

    def verify_objects(self, bound_indexes: Iterable[str] = ()) -> StoreVerification:
        """Re-hash every stored object, and check every manifest entry against its object.

        `bound_indexes` are the sha256 digests of artifact indexes the evidence chain records. A manifest whose
        `artifact_index/artifact_index.json` entry is one of them is checked name by name against that index
        (read from the store, re-hashed): an entry pointing at another object's digest is `manifest_mismatch`."""
        findings: list[StoreFinding] = []
        objects = self._objects()
        content: dict[str, tuple[bool, int]] = {}
        # zlib and hashlib release the GIL on large buffers: a few threads re-hash in parallel.
        with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
            checked = list(pool.map(self.object_content, objects))
        for obj, result in zip(objects, checked, strict=True):
            content[obj.name] = result
            if not result[0]:
                findings.append(
                    StoreFinding(
                        kind="store_object_corrupt",
                        artifact=str(obj),
                        detail="the object's bytes no longer decompress to content that hashes to its name",
                    )
                )
        bound = set(bound_indexes)
        manifests_checked = 0
        entries_checked = 0
        paths = sorted(self.runs_dir.glob("*.json")) if self.runs_dir.is_dir() else []
        for path in paths:
            try:
                manifest = RunManifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, UnicodeError, ValueError) as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                findings.append(
                    StoreFinding(
                        kind="manifest_invalid",
                        run_id=path.stem,
                        artifact=str(path),
                        detail=f"the run manifest cannot be read as a manifest ({first[:200]})",
                    )
                )
                continue
            manifests_checked += 1
            expected = self._expected_names(manifest, bound, content)
            for name, item in manifest.artifacts.items():
                entries_checked += 1
                problem = _entry_problem(manifest.run_id, name, item, content, expected)
                if problem is not None:
                    kind, detail = problem
                    findings.append(
                        StoreFinding(kind=kind, run_id=manifest.run_id, name=name, artifact=str(path), detail=detail)
                    )
        return StoreVerification(
            ok=not findings,
            objects_checked=len(objects),
            manifests_checked=manifests_checked,
            entries_checked=entries_checked,
            findings=findings,
        )

    def _expected_names(
        self, manifest: RunManifest, bound: set[str], content: dict[str, tuple[bool, int]]
    ) -> dict[str, str] | None:
        """name -> sha256 from the run's own artifact index, when the chain records that index; else None."""
        item = manifest.artifacts.get(INDEX_ARTIFACT_NAME)
        if item is None or item.digest not in bound or not content.get(item.digest, (False, 0))[0]:
            return None
        try:
            index = json.loads(self.read_bytes(item.digest))
            items = index["items"]
            roots = [str(r) for r in index.get("roots", [])]
        except (StoreError, ValueError, KeyError, TypeError, zlib.error):
            return None
        expected = {INDEX_ARTIFACT_NAME: item.digest}
        for entry in items if isinstance(items, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("path"), str) and entry.get("sha256"):
                expected[artifact_store_name(Path(entry["path"]), roots)] = str(entry["sha256"])
        return expected

    def stats(self) -> StoreStats:
        objects = self._objects()
        unique: dict[str, int] = {}
        logical = 0
        runs = self.run_ids()
        for run_id in runs:
            for item in self.load_manifest(run_id).artifacts.values():
                unique[item.digest] = item.size
                logical += item.size
        return StoreStats(
            object_count=len(objects),
            stored_bytes=sum(os.stat(p).st_size for p in objects),
            unique_raw_bytes=sum(unique.values()),
            logical_raw_bytes=logical,
            run_count=len(runs),
        )
