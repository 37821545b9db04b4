"""Strict verification of an evidence root, beyond dpone's `evidence-chain-verify`.

`verify_evidence(root)` runs dpone's verify (its verdict is reported as is) and, independently:

- re-reads `chain/evidence_chain_index.json` and every entry file, recomputes every chain hash, checks the
  links, the index's entry_count/latest_chain_hash, and looks for entry files the index does not list;
- re-hashes every artifact index file an entry names, and every artifact every index lists (existence and
  sha256) -- dpone's CLI never does the latter, so an edited artifact passes there (contracts doc §2.8);
- compares the chain with the head anchor `chain_head.json` (exact: detects truncation and appended,
  re-ordered or rewritten entries) and with an optional `expected_head` anchored elsewhere, e.g. Dagster
  metadata (a lower bound: the chain must still start with exactly those entries; later entries are allowed,
  since other runs may have appended since).

Each break names its class, release, 0-based position in the chain index and the artifact path concerned.

Path rule (so a root can be verified from any cwd, and after the whole root was moved or copied): an entry's
`entry_path` tells where the evidence root was when the entry was written (`<recorded root>/chain/<file>`).
Every absolute path recorded under that recorded root is read from the same relative place under the root
being verified; absolute paths outside it are read as they are; relative paths are taken relative to the
root being verified (then, for artifact index items, relative to the index's folder).
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from dpone_certify.certification.layout import ACK_FILENAME, CHAIN_DIRNAME, CHAIN_INDEX, HEAD_FILENAME, EvidenceLayout
from dpone_certify.dpone.adapter import DponeAdapter, Outcome
from dpone_certify.evidence.atomic import LockTimeout, locked
from dpone_certify.evidence.chain import (
    ENTRY_SUFFIX,
    ChainError,
    ChainHead,
    coerce_head,
    compute_chain_hash,
    head_from_entries,
    read_halt,
    read_head,
    sha256_path,
)
from dpone_certify.evidence.store import EvidenceStore

VERIFY_GATE = "evidence_chain_verify"
_ENTRY_KEYS = (
    "release",
    "artifact_index_path",
    "artifact_index_hash",
    "chain_hash",
    "created_at",
    "entry_path",
)


class BreakClass(StrEnum):
    ARTIFACT_EDITED = "artifact_edited"  # a file an artifact index lists no longer has its sha256
    ARTIFACT_DELETED = "artifact_deleted"  # a file an artifact index lists is gone
    INDEX_EDITED = "index_edited"  # an artifact index file differs from the hash its entry recorded, or is gone
    ENTRY_EDITED = "entry_edited"  # an entry's content no longer matches its hash / its index record / the head
    ENTRIES_REORDERED = "entries_reordered"  # the chain index lists entries out of their linked order
    ENTRY_INSERTED = "entry_inserted"  # an entry that the head anchor does not know, or a stray entry file
    ENTRY_DELETED = "entry_deleted"  # an entry removed from the middle (its successor links to a missing hash)
    TRUNCATED = "truncated"  # tail entries the head anchor records are gone (or the head itself is gone)
    STORE_OBJECT_CORRUPT = "store_object_corrupt"  # a stored object's bytes no longer hash to its name
    STORE_OBJECT_MISSING = "store_object_missing"  # a run manifest names an object the store does not hold
    MANIFEST_MISMATCH = "manifest_mismatch"  # a manifest entry points at another object than the chained index says
    MANIFEST_INVALID = "manifest_invalid"  # a run manifest cannot be parsed
    HEAD_SIGNATURE_INVALID = "head_signature_invalid"  # a signed expected head whose signature does not verify
    CHAIN_HALTED = "chain_halted"  # an earlier verification found a break; nothing is appended until acknowledged


REMEDIATION: dict[BreakClass, str] = {
    BreakClass.ARTIFACT_EDITED: "Restore the artifact from the store (materialize the run) and diff it "
    "with the edited copy; treat the edit as an audit event. Never re-index to make it pass.",
    BreakClass.ARTIFACT_DELETED: "Restore the artifact from the store (materialize the run); find who removed it.",
    BreakClass.INDEX_EDITED: "Restore the artifact index file from the store or a backup; "
    "compare it with the edited one.",
    BreakClass.ENTRY_EDITED: "Restore the entry file and chain index from a backup; the recorded hashes show "
    "which field changed. Never recompute hashes to make it pass.",
    BreakClass.ENTRIES_REORDERED: f"Restore {CHAIN_INDEX} from a backup (entries in linked order).",
    BreakClass.ENTRY_INSERTED: "Remove the forged entry (file and index record) after review; if it is "
    "a real append that never reached the head (interrupted), run the next append, which rolls it back.",
    BreakClass.ENTRY_DELETED: "Restore the removed entry file and its index record from a backup.",
    BreakClass.TRUNCATED: "Restore the missing tail entries (files and index records) from a backup; compare "
    f"{HEAD_FILENAME} with the head in Dagster metadata.",
    BreakClass.STORE_OBJECT_CORRUPT: "Restore the object from a backup of the store (its name is the sha256 of "
    "the bytes it must hold); find who wrote to a read-only object.",
    BreakClass.STORE_OBJECT_MISSING: "Restore the object from a backup of the store; a run manifest must never "
    "name an object that was not stored first.",
    BreakClass.MANIFEST_MISMATCH: "Restore the run manifest from a backup; the chained artifact index says which "
    "object each name must point at. Never edit a manifest by hand.",
    BreakClass.MANIFEST_INVALID: "Restore the run manifest from a backup (it is written atomically, so a "
    "damaged one was edited or its disk failed).",
    BreakClass.HEAD_SIGNATURE_INVALID: "Re-export the head from the Dagster instance with `dpone-certify chain "
    "export-head --sign-key ...`; a head whose signature fails is not an anchor.",
    BreakClass.CHAIN_HALTED: "Investigate the recorded breaks, restore what you can, then record the decision "
    "with `dpone-certify chain acknowledge --reason ...`.",
}

# Classes found in the store rather than in the chain.
STORE_CLASSES = frozenset(
    {
        BreakClass.STORE_OBJECT_CORRUPT,
        BreakClass.STORE_OBJECT_MISSING,
        BreakClass.MANIFEST_MISMATCH,
        BreakClass.MANIFEST_INVALID,
    }
)


class Break(BaseModel):
    break_class: BreakClass
    release: str | None = None
    position: int | None = Field(default=None, description="0-based position in the chain index")
    artifact: str | None = Field(default=None, description="path of the file concerned")
    artifact_name: str | None = None
    detail: str = ""

    @property
    def blocker(self) -> str:
        return f"chain.{self.break_class.value}:{self.release}" if self.release else f"chain.{self.break_class.value}"

    def describe(self) -> str:
        where = [
            f"release={self.release or '-'}",
            f"position={'-' if self.position is None else self.position}",
        ]
        if self.artifact:
            where.append(f"artifact={self.artifact}")
        return f"{self.break_class.value} {' '.join(where)}: {self.detail}"

    def key(self) -> tuple[str, int | None, str | None, str | None]:
        return (self.break_class.value, self.position, self.release, self.artifact)


class VerificationReport(BaseModel):
    root: str
    intact: bool = Field(description="our verdict: no break found and there is a chain to verify")
    empty: bool = Field(default=False, description="there is no evidence chain at the root at all")
    dpone_verified: bool | None = Field(description="dpone's evidence-chain-verify verdict; None if not run / crashed")
    dpone_broken_entries: list[str] = Field(default_factory=list)
    dpone_outcome: str | None = None
    breaks: list[Break] = Field(default_factory=list)
    acknowledged: list[Break] = Field(
        default_factory=list, description="breaks a person acknowledged with a chain entry after they were found"
    )
    dpone_acknowledged: bool = Field(
        default=False, description="dpone's broken entries are all releases whose breaks were acknowledged"
    )
    entry_count: int = 0
    indexes_checked: int = 0
    artifacts_checked: int = 0
    store_objects_checked: int = 0
    store_entries_checked: int = 0
    head_checked: list[str] = Field(default_factory=list, description="'file' and/or 'expected'")
    duration_seconds: float = 0.0
    blockers: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def summary(self) -> str:
        if self.empty:
            return f"evidence root {self.root}: NO CHAIN: no evidence chain, head or store manifest is there"
        ours = "INTACT" if self.intact else f"BROKEN ({len(self.breaks)} break(s))"
        if self.acknowledged:
            ours += f", {len(self.acknowledged)} acknowledged break(s)"
        dpone = {True: "verified", False: "NOT verified", None: "not run"}[self.dpone_verified]
        if self.dpone_verified is False and self.dpone_acknowledged:
            dpone += " (acknowledged entries only)"
        return (
            f"evidence root {self.root}: {ours}; dpone evidence-chain-verify: {dpone}; "
            f"{self.entry_count} entries, {self.indexes_checked} artifact indexes, "
            f"{self.artifacts_checked} artifacts, {self.store_objects_checked} store objects and "
            f"{self.store_entries_checked} manifest entries re-hashed in {self.duration_seconds:.2f} s"
        )


def normalize_dpone_broken(entries: list[str]) -> list[str]:
    """dpone reports a broken entry as its bare release id; make that `chain.broken_entry:<release>`."""
    return [e if e.startswith("chain.") else f"chain.broken_entry:{e}" for e in entries]


class _Checker:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.layout = EvidenceLayout(root)
        self.chain_dir = self.layout.chain_dir
        self.breaks: list[Break] = []
        self._seen: set[tuple[str, int | None, str | None, str | None]] = set()
        self._hash_cache: dict[Path, str | None] = {}
        self.artifacts_checked = 0
        self.indexes_checked = 0
        self.notes: list[str] = []
        self.ack_files: list[tuple[int, Path]] = []
        self.index_hashes: set[str] = set()

    def rel_artifact(self, artifact: str | None) -> str | None:
        """An artifact path relative to the root when it lies under it (acknowledgments survive a moved root)."""
        if artifact is None:
            return None
        with contextlib.suppress(ValueError):
            return Path(artifact).relative_to(self.root).as_posix()
        return artifact

    def ack_key(self, item: Break) -> tuple[str, str | None, int | None, str | None]:
        return (item.break_class.value, item.release, item.position, self.rel_artifact(item.artifact))

    def acknowledgments(self) -> list[tuple[int, dict[str, Any]]]:
        """(chain position, content) of every acknowledgment entry whose file hashes as its index recorded."""
        found = []
        for position, path in self.ack_files:
            if any(b.position == position and b.break_class is BreakClass.ARTIFACT_EDITED for b in self.breaks):
                continue  # an edited acknowledgment acknowledges nothing
            with contextlib.suppress(OSError, UnicodeError, ValueError):
                doc = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(doc, dict) and isinstance(doc.get("breaks"), list):
                    found.append((position, doc))
        return found

    # ---- helpers ------------------------------------------------------------------------------------
    def add(self, cls: BreakClass, detail: str, **kw: Any) -> None:
        item = Break(break_class=cls, detail=detail, **kw)
        if item.key() not in self._seen:
            self._seen.add(item.key())
            self.breaks.append(item)

    def at(
        self, release: str | None, position: int | None, path: Path | None = None, name: str | None = None
    ) -> Callable[[BreakClass, str], None]:
        """`add` bound to one place (an entry, or a file it names), so each break found there is one line."""
        artifact = None if path is None else str(path)
        return functools.partial(self.add, release=release, position=position, artifact=artifact, artifact_name=name)

    def flagged(self, cls: BreakClass, position: int | None) -> bool:
        return any(b.break_class is cls and b.position == position for b in self.breaks)

    def hash_of(self, path: Path) -> str | None:
        if path not in self._hash_cache:
            try:
                self._hash_cache[path] = sha256_path(path) if path.is_file() else None
            except OSError:
                self._hash_cache[path] = None
        return self._hash_cache[path]

    @staticmethod
    def recorded_root(entry_path: str) -> Path | None:
        path = Path(entry_path)
        if path.is_absolute() and path.parent.name == CHAIN_DIRNAME:
            return path.parent.parent
        return None

    def resolve(self, recorded: str, recorded_root: Path | None) -> Path:
        path = Path(recorded)
        if not path.is_absolute():
            return self.root / path
        if recorded_root is not None:
            with contextlib.suppress(ValueError):
                return self.root / path.relative_to(recorded_root)
        return path

    # ---- chain index and entries --------------------------------------------------------------------
    def load_records(self) -> list[dict[str, Any]]:
        index_path = self.layout.chain_index_path
        entry_files = sorted(self.chain_dir.glob(f"*{ENTRY_SUFFIX}")) if self.chain_dir.is_dir() else []
        problem = None
        payload: Any = None
        if index_path.exists():
            try:
                payload = json.loads(index_path.read_text(encoding="utf-8"))
            except (OSError, UnicodeError, ValueError) as exc:
                problem = f"the chain index is not readable JSON ({exc})"
            if problem is None and not (
                isinstance(payload, dict)
                and isinstance(payload.get("entries"), list)
                and all(isinstance(e, dict) for e in payload["entries"])
            ):
                problem = "the chain index has no list of entry objects"
        elif entry_files:
            problem = "the chain index is missing while entry files exist"
        if problem is None and isinstance(payload, dict):
            records: list[dict[str, Any]] = list(payload["entries"])
            latest = records[-1].get("chain_hash") if records else None
            if payload.get("entry_count") != len(records) or payload.get("latest_chain_hash") != latest:
                self.add(
                    BreakClass.ENTRY_EDITED,
                    f"the chain index says entry_count={payload.get('entry_count')!r}, "
                    f"latest_chain_hash={payload.get('latest_chain_hash')!r}, but lists "
                    f"{len(records)} entries ending in {latest!r}",
                    artifact=str(index_path),
                )
            return records
        if problem is None:
            return []
        # Fall back to the entry files, in their linked order as far as it goes, so the rest is still checked.
        self.add(BreakClass.ENTRY_EDITED, problem, artifact=str(index_path))
        records = []
        for path in entry_files:
            with contextlib.suppress(OSError, UnicodeError, ValueError):
                item = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(item, dict):
                    records.append(item)
        return _linked_order(records)

    def check_entry(self, i: int, rec: dict[str, Any]) -> Path | None:
        """Entry-level checks; returns the entry file it read (for the stray-file check)."""
        release = str(rec.get("release")) if rec.get("release") is not None else None
        entry = self.at(release, i)
        missing = [k for k in _ENTRY_KEYS if k not in rec]
        if missing:
            entry(BreakClass.ENTRY_EDITED, f"the index record lacks {missing}")
            return None
        recorded_root = self.recorded_root(str(rec["entry_path"]))
        entry_file = self.resolve(str(rec["entry_path"]), recorded_root)
        in_file = self.at(release, i, entry_file)
        if recompute(rec) != rec.get("chain_hash"):
            in_file(
                BreakClass.ENTRY_EDITED,
                "its chain_hash is not the hash of its release/created_at/artifact_index_hash/previous_chain_hash",
            )
        if rec.get("verified") is not True:
            entry(BreakClass.ENTRY_EDITED, "its 'verified' flag is not true")
        if entry_file.parent.absolute() != self.chain_dir.absolute():
            in_file(BreakClass.ENTRY_EDITED, "its entry_path points outside the chain folder")
            entry_file_read = None
        else:
            entry_file_read = entry_file
            try:
                on_disk = json.loads(entry_file.read_text(encoding="utf-8"))
            except FileNotFoundError:
                on_disk = None
                in_file(BreakClass.ENTRY_EDITED, "its entry file is missing (the index still lists it)")
            except (OSError, UnicodeError, ValueError):
                on_disk = None
                in_file(BreakClass.ENTRY_EDITED, "its entry file is not readable JSON")
            if on_disk is not None and on_disk != rec:
                changed = sorted(
                    k for k in set(on_disk) | set(rec) if not isinstance(on_disk, dict) or on_disk.get(k) != rec.get(k)
                )
                in_file(BreakClass.ENTRY_EDITED, f"its entry file differs from its index record in {changed}")
        self.check_artifact_index(i, rec, release, recorded_root)
        return entry_file_read

    def check_artifact_index(
        self, i: int, rec: dict[str, Any], release: str | None, recorded_root: Path | None
    ) -> None:
        index_path = self.resolve(str(rec["artifact_index_path"]), recorded_root)
        self.indexes_checked += 1
        self.index_hashes.add(str(rec.get("artifact_index_hash")))
        in_index = self.at(release, i, index_path, index_path.name)
        digest = self.hash_of(index_path)
        if digest is None:
            in_index(BreakClass.INDEX_EDITED, "the artifact index file is missing")
            return
        if digest != rec.get("artifact_index_hash"):
            in_index(
                BreakClass.INDEX_EDITED,
                f"the artifact index hashes to {digest[:16]}..., the entry recorded "
                f"{str(rec.get('artifact_index_hash'))[:16]}...",
            )
        try:
            payload = json.loads(index_path.read_text(encoding="utf-8"))
            items = payload["items"]
            if not isinstance(items, list):
                raise TypeError("items is not a list")
        except (OSError, UnicodeError, ValueError, KeyError, TypeError) as exc:
            in_index(
                BreakClass.INDEX_EDITED,
                f"the artifact index cannot be read as an index ({exc}); its artifacts were not checked",
            )
            return
        for item in items:
            if not isinstance(item, Mapping) or not isinstance(item.get("path"), str):
                in_index(BreakClass.INDEX_EDITED, "the artifact index lists an item without a path")
                continue
            self.check_artifact(i, release, item, index_path, recorded_root)
            if Path(str(item["path"])).name == ACK_FILENAME:
                self.ack_files.append((i, self.resolve(str(item["path"]), recorded_root)))

    def check_artifact(
        self,
        i: int,
        release: str | None,
        item: Mapping[str, Any],
        index_path: Path,
        recorded_root: Path | None,
    ) -> None:
        raw = str(item["path"])
        candidates = [self.resolve(raw, recorded_root)]
        if not Path(raw).is_absolute():
            candidates.append(index_path.parent / raw)
        path = next((c for c in candidates if c.is_file()), candidates[0])
        name = str(item.get("name") or path.name)
        self.artifacts_checked += 1
        digest = self.hash_of(path)
        in_artifact = self.at(release, i, path, name)
        if digest is None:
            in_artifact(BreakClass.ARTIFACT_DELETED, "an artifact the index lists is gone")
        elif digest != item.get("sha256"):
            in_artifact(
                BreakClass.ARTIFACT_EDITED,
                f"the artifact hashes to {digest[:16]}..., the index recorded {str(item.get('sha256'))[:16]}...",
            )

    # ---- order and links ----------------------------------------------------------------------------
    def check_links(self, records: list[dict[str, Any]], head_hashes: dict[str, str]) -> None:
        if not records:
            return
        hashes = [r.get("chain_hash") for r in records]
        prevs = [r.get("previous_chain_hash") for r in records]
        expected = [None, *hashes[:-1]]
        if all(p == e for p, e in zip(prevs, expected, strict=True)):
            return
        pos_of = {h: i for i, h in enumerate(hashes) if isinstance(h, str)}

        def entry(k: int) -> Callable[[BreakClass, str], None]:
            return self.at(_rel(records[k]), k)

        order = _link_path(records)
        if order is not None:  # one linked path through every entry: same entries, another order
            for i, linked in enumerate(order):
                if linked != i:
                    entry(i)(
                        BreakClass.ENTRIES_REORDERED, f"the index lists it at {i}, its links put it at {order.index(i)}"
                    )
            return
        referenced = {p for p in prevs if p is not None}
        for i, (prev, exp) in enumerate(zip(prevs, expected, strict=True)):
            if prev == exp:
                continue
            if prev is None:
                entry(i)(BreakClass.ENTRY_INSERTED, "a second genesis entry")
            elif prev in pos_of and pos_of[prev] < i - 1:
                skipped = range(pos_of[prev] + 1, i)
                if all(hashes[k] not in referenced for k in skipped):
                    for k in skipped:
                        entry(k)(
                            BreakClass.ENTRY_INSERTED,
                            f"no entry links to it; entry {i} links past it to entry {pos_of[prev]}",
                        )
                else:
                    entry(i)(
                        BreakClass.ENTRIES_REORDERED, f"it links to entry {pos_of[prev]}, not to the entry before it"
                    )
            elif prev in pos_of:
                entry(i)(BreakClass.ENTRIES_REORDERED, f"it links to entry {pos_of[prev]}, which comes after it")
            else:
                lost = head_hashes.get(str(prev))
                present = {_rel(r) for r in records}
                if lost is not None and lost in present:
                    where = next(k for k, r in enumerate(records) if _rel(r) == lost)
                    self.at(lost, where)(
                        BreakClass.ENTRY_EDITED,
                        f"entry {i} links to the hash the head recorded for it; it was rewritten",
                    )
                else:
                    self.at(lost, i)(
                        BreakClass.ENTRY_DELETED,
                        f"entry {i} ({_rel(records[i])}) links to {str(prev)[:16]}..., "
                        "which is not in the chain (removed, or rewritten with a new hash)",
                    )

    def check_head(self, records: list[dict[str, Any]], head: ChainHead, *, exact: bool, source: str) -> None:
        hashes = [r.get("chain_hash") for r in records]
        releases = [_rel(r) for r in records]
        n = len(head.chain_hashes)
        if (
            len(head.releases) != n
            or head.entry_count != n
            or head.latest_chain_hash != (head.chain_hashes[-1] if n else None)
        ):
            self.notes.append(f"the {source} head is inconsistent with itself; compared by its chain_hashes list")
        present_hashes = set(hashes)
        missing = [k for k in range(n) if head.chain_hashes[k] not in present_hashes]
        for k in missing:
            rel = head.releases[k] if k < len(head.releases) else None
            if rel is not None and rel in releases:
                self.at(rel, releases.index(rel))(
                    BreakClass.ENTRY_EDITED,
                    f"its chain hash differs from the one the {source} head recorded (history rewritten)",
                )
            elif all(j in missing for j in range(k, n)):
                self.at(rel, k)(
                    BreakClass.TRUNCATED,
                    f"the {source} head records {n} entries ending in "
                    f"{head.releases[-1] if head.releases else '-'}; "
                    f"the chain has {len(records)}: this tail entry is gone",
                )
            elif not any(b.break_class is BreakClass.ENTRY_DELETED and b.release == rel for b in self.breaks):
                self.at(rel, k)(
                    BreakClass.ENTRY_DELETED, f"the {source} head records it at {k}; it is no longer in the chain"
                )
        known = set(head.chain_hashes)
        if exact:
            known_releases = set(head.releases)
            for i, (h, rel) in enumerate(zip(hashes, releases, strict=True)):
                if h not in known and rel not in known_releases:
                    self.at(rel, i)(BreakClass.ENTRY_INSERTED, f"the {source} head does not know this entry")
        # The entries both know must keep the head's relative order
        # (this catches re-ordering even with re-forged links).
        common = [(i, h) for i, h in enumerate(hashes) if h in known]
        head_order = [h for h in head.chain_hashes if h in present_hashes]
        for (i, h), expected_h in zip(common, head_order, strict=False):
            if h != expected_h and not self.flagged(BreakClass.ENTRIES_REORDERED, i):
                self.at(releases[i], i)(
                    BreakClass.ENTRIES_REORDERED, f"the {source} head records it at {head.chain_hashes.index(h)}"
                )

    def check_stray_files(self, read_files: set[Path]) -> None:
        if not self.chain_dir.is_dir():
            return
        listed = {p.absolute() for p in read_files}
        for path in sorted(self.chain_dir.glob(f"*{ENTRY_SUFFIX}")):
            if path.absolute() in listed:
                continue
            release = None
            with contextlib.suppress(OSError, UnicodeError, ValueError, AttributeError):
                release = json.loads(path.read_text(encoding="utf-8")).get("release")
            self.add(
                BreakClass.ENTRY_INSERTED,
                "an entry file the chain index does not list",
                release=str(release) if release is not None else None,
                artifact=str(path),
            )


def _rel(rec: Mapping[str, Any]) -> str | None:
    value = rec.get("release")
    return None if value is None else str(value)


def recompute(rec: Mapping[str, Any]) -> str | None:
    try:
        prev = rec.get("previous_chain_hash")
        return compute_chain_hash(
            release=str(rec["release"]),
            artifact_index_hash=str(rec["artifact_index_hash"]),
            previous_chain_hash=None if prev is None else str(prev),
            created_at=str(rec["created_at"]),
        )
    except KeyError:
        return None


def _link_path(records: list[dict[str, Any]]) -> list[int] | None:
    """The positions in linked order when the links form one path through every entry, else None."""
    by_prev: dict[Any, list[int]] = {}
    for i, rec in enumerate(records):
        by_prev.setdefault(rec.get("previous_chain_hash"), []).append(i)
    if any(len(v) > 1 for v in by_prev.values()) or len(by_prev.get(None, [])) != 1:
        return None
    order = [by_prev[None][0]]
    while len(order) < len(records):
        nxt = by_prev.get(records[order[-1]].get("chain_hash"))
        if not nxt or nxt[0] in order:
            return None
        order.append(nxt[0])
    return order


def _linked_order(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    order = _link_path(records)
    if order is None:
        return sorted(records, key=lambda r: str(r.get("created_at")))
    return [records[i] for i in order]


def _run_dpone_verify(root: Path, adapter: DponeAdapter) -> tuple[bool | None, list[str], str, list[str]]:
    call = adapter.cli(
        VERIFY_GATE,
        ["ops", "evidence-chain-verify", "--chain-dir", str(EvidenceLayout(root).chain_dir), "--format", "json"],
        cwd=root,
    )
    if call.outcome is not Outcome.OK or not isinstance(call.payload, dict):
        blockers = call.blockers or [f"artifact.invalid_shape:{VERIFY_GATE}"]
        return None, [], call.outcome.value, blockers
    raw = call.payload.get("broken_entries") or []
    broken = normalize_dpone_broken([str(b) for b in raw])
    return bool(call.payload.get("verified")), broken, call.outcome.value, []


def verify_evidence(
    root: Path | str,
    *,
    run_dpone: bool = True,
    expected_head: ChainHead | Mapping[str, Any] | str | None = None,
    expected_hash: str | None = None,
    head_signature_ok: bool | None = None,
    adapter: DponeAdapter | None = None,
    check_store: bool = True,
    lock: bool = True,
    lock_timeout_s: float = 60.0,
) -> VerificationReport:
    """Verify the evidence root; see the module doc. Raises FileNotFoundError when `root` is not a folder.

    Writes nothing: the chain lock is taken only when the lock file exists (it is created by the first append),
    read-only. `lock=False` when the caller already holds it. `expected_hash`: the latest chain hash of a head
    anchored elsewhere; the chain must hold it (and, by its links, everything before it)."""
    started = time.perf_counter()
    root = Path(root).absolute()
    if not root.is_dir():
        raise FileNotFoundError(f"evidence root {root} does not exist or is not a folder")
    expected = coerce_head(expected_head)
    checker = _Checker(root)
    layout = checker.layout
    with contextlib.ExitStack() as stack:
        if lock:
            try:
                stack.enter_context(locked(layout.chain_lock_path, lock_timeout_s, create=False))
            except FileNotFoundError:
                pass  # nothing was ever appended here
            except LockTimeout:
                checker.notes.append("verified without the chain lock: an append held it past the timeout")
            except OSError:
                checker.notes.append("verified without the chain lock (it cannot be opened)")

        dpone_verified: bool | None = None
        dpone_broken: list[str] = []
        dpone_outcome: str | None = None
        call_blockers: list[str] = []
        has_chain = layout.chain_dir.is_dir() and any(layout.chain_dir.iterdir())
        if run_dpone and has_chain:
            dpone_verified, dpone_broken, dpone_outcome, call_blockers = _run_dpone_verify(
                root, adapter or DponeAdapter()
            )

        if layout.journal_path.exists():
            checker.notes.append(
                f"{layout.journal_path.name} is present: an append was interrupted; the next append_release rolls it "
                "back (its entry, if any, shows here as entry_inserted)"
            )
        records = checker.load_records()
        read_files: set[Path] = set()
        for i, rec in enumerate(records):
            entry_file = checker.check_entry(i, rec)
            if entry_file is not None:
                read_files.add(entry_file)

        if head_signature_ok is False:
            checker.add(
                BreakClass.HEAD_SIGNATURE_INVALID,
                "the expected head's signature does not verify with the given public key (or it has none)",
            )
        if expected_hash is not None and expected is None:
            hashes = [r.get("chain_hash") for r in records]
            if expected_hash in hashes:
                expected = head_from_entries(records[: hashes.index(expected_hash) + 1])
            else:
                checker.add(
                    BreakClass.TRUNCATED,
                    f"the expected head hash {expected_hash[:16]}... is not in the chain "
                    "(its entry was removed or rewritten)",
                )

        file_head: ChainHead | None = None
        head_path = layout.head_path
        try:
            file_head = read_head(root)
        except ChainError as exc:
            checker.add(
                BreakClass.TRUNCATED,
                f"the head anchor is unreadable ({exc}); truncation cannot be ruled out",
                artifact=str(head_path),
            )
        head_hashes: dict[str, str] = {}
        for head in (expected, file_head):
            if head is not None:
                head_hashes.update(zip(head.chain_hashes, head.releases, strict=False))
        checker.check_links(records, head_hashes)
        checker.check_stray_files(read_files)
        head_checked: list[str] = []
        if file_head is not None:
            checker.check_head(records, file_head, exact=True, source=HEAD_FILENAME)
            head_checked.append("file")
        elif head_path.exists():
            pass  # unreadable: already a break
        elif records and expected is None:
            checker.add(
                BreakClass.TRUNCATED,
                f"the head anchor {HEAD_FILENAME} is missing and no expected head was given; "
                "truncation cannot be ruled out",
                artifact=str(head_path),
            )
        elif records:
            checker.notes.append(f"{HEAD_FILENAME} is missing; checked against the expected head only")
        if expected is not None:
            checker.check_head(records, expected, exact=False, source="expected")
            head_checked.append("expected")
            if file_head is not None and file_head.chain_hashes[: len(expected.chain_hashes)] != expected.chain_hashes:
                checker.notes.append(f"{HEAD_FILENAME} does not extend the expected head: the head file was rewritten")

        store = EvidenceStore(root)
        has_store = bool(store.run_ids()) or store.objects_dir.is_dir()
        store_result = None
        if check_store and has_store:
            store_result = store.verify_objects(bound_indexes=checker.index_hashes)
            for finding in store_result.findings:
                checker.add(
                    BreakClass(finding.kind),
                    finding.detail,
                    artifact=finding.artifact,
                    artifact_name=finding.name,
                    release=None,
                )
        elif has_store:
            checker.notes.append("the store was not checked")

        try:
            halt = read_halt(root)
        except ChainError as exc:
            halt = {"found_at": "?", "detail": str(exc)}
        acks = checker.acknowledgments()
        if halt is not None and not any(doc.get("halt_id") == halt.get("halt_id") for _, doc in acks):
            checker.add(
                BreakClass.CHAIN_HALTED,
                f"verification found {len(halt.get('breaks', []))} break(s) at {halt.get('found_at')} "
                f"(run {halt.get('found_by', '-')}); nothing is appended until a person runs "
                "`dpone-certify chain acknowledge --reason ...`",
                artifact=str(layout.halt_path),
            )

    # Breaks found before an acknowledgment entry and listed by it are the person's recorded decision.
    acknowledged: list[Break] = []
    if acks:
        keys: set[tuple[str, str | None, int | None, str | None]] = set()
        for _position, doc in acks:
            for item in doc["breaks"]:
                if isinstance(item, dict):
                    key = (
                        str(item.get("break_class")),
                        item.get("release"),
                        item.get("position"),
                        item.get("artifact"),
                    )
                    keys.add(key)
        remaining = []
        for item in checker.breaks:
            if checker.ack_key(item) in keys:
                acknowledged.append(item)
            else:
                remaining.append(item)
        checker.breaks = remaining
    acked_releases = {b.release for b in acknowledged if b.release}

    empty = not records and file_head is None and expected is None and not has_store and not checker.breaks
    blockers = [b.blocker for b in checker.breaks]
    if empty:
        blockers.append("chain.empty")
    dpone_acknowledged = bool(dpone_broken) and all(e.split(":", 1)[-1] in acked_releases for e in dpone_broken)
    if dpone_verified is False and not dpone_acknowledged:
        blockers.extend(dpone_broken)
        if not checker.breaks:
            checker.notes.append(
                "dpone's verify failed where ours found no break: expected only when the evidence root "
                "was moved (dpone resolves the recorded absolute paths)"
            )
    blockers.extend(call_blockers)
    intact = not checker.breaks and not empty
    return VerificationReport(
        root=str(root),
        intact=intact,
        empty=empty,
        dpone_verified=dpone_verified,
        dpone_broken_entries=dpone_broken,
        dpone_outcome=dpone_outcome,
        breaks=checker.breaks,
        acknowledged=acknowledged,
        dpone_acknowledged=dpone_acknowledged,
        entry_count=len(records),
        indexes_checked=checker.indexes_checked,
        artifacts_checked=checker.artifacts_checked,
        store_objects_checked=store_result.objects_checked if store_result else 0,
        store_entries_checked=store_result.entries_checked if store_result else 0,
        head_checked=head_checked,
        duration_seconds=time.perf_counter() - started,
        blockers=list(dict.fromkeys(blockers)),
        notes=checker.notes,
    )
