"""Appending releases to dpone's evidence chain, safely.

dpone's `ops evidence-chain` writes `<safe_release>__evidence_chain.{json,md}` and rewrites
`evidence_chain_index.json` in place, with no lock and no check that the release is new (appending one
release twice overwrites its entry file and breaks the chain for good, contracts doc §2.8). `append_release`
wraps it:

1. takes the exclusive lock `<root>/chain.lock` (threads and processes alike);
2. finishes or rolls back an append that a killed process left half done (journal, below);
3. returns the existing entry when the release id is already in the index (`already_recorded`): a retried
   step never appends twice;
4. refuses to append to a chain that does not match its head anchor (appending would bless a truncation);
5. writes a journal `<root>/chain_append.journal.json` holding the index bytes and the chain folder listing,
   calls dpone with absolute paths, checks the answer (hash recomputed, links, entry file == answer, index ==
   old index + entry), and then
6. writes the head anchor `<root>/chain_head.json` atomically. Writing the head is the commit point: the
   journal is deleted after it. If dpone crashed, timed out or answered something wrong, the index is
   restored from the journal and the files dpone created are removed, so the chain is byte-for-byte as it
   was. If our own process is killed in between, the next `append_release` (or `recover_interrupted_append`)
   does that roll-back, unless the head already names the release (then the append had committed).

The head anchor records entry_count, latest_chain_hash, the release list and every chain hash, so
truncation, re-ordering and rewritten history are detectable even when the chain folder is internally
consistent. Its content can be anchored elsewhere too (Dagster metadata); see `verify.verify_evidence`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

# The file names are EvidenceLayout's; re-exported here because callers name the chain's files by them.
from dpone_certify.certification.layout import CHAIN_DIRNAME as CHAIN_DIRNAME
from dpone_certify.certification.layout import CHAIN_INDEX as CHAIN_INDEX
from dpone_certify.certification.layout import HALT_FILENAME as HALT_FILENAME
from dpone_certify.certification.layout import HEAD_FILENAME as HEAD_FILENAME
from dpone_certify.certification.layout import JOURNAL_FILENAME as JOURNAL_FILENAME
from dpone_certify.certification.layout import LOCK_FILENAME as LOCK_FILENAME
from dpone_certify.certification.layout import EvidenceLayout
from dpone_certify.dpone.adapter import DponeAdapter, Outcome
from dpone_certify.evidence.atomic import atomic_write_json, atomic_write_text, locked

ENTRY_SUFFIX = "__evidence_chain.json"  # dpone's entry file names (see entry_filename)
ENTRY_MD_SUFFIX = "__evidence_chain.md"
HALT_SCHEMA = "dpone_certify.evidence.chain_halt.v1"
HEAD_SCHEMA = "dpone_certify.evidence.chain_head.v1"
GATE = "evidence_chain"
_MAX_RELEASE_PART = 120


class ChainError(Exception):
    """The chain folder cannot be read as a chain."""


class ChainHead(BaseModel):
    """The head anchor: what the chain looked like after the last committed append."""

    schema_: str = Field(default=HEAD_SCHEMA, alias="schema")
    entry_count: int
    latest_chain_hash: str | None
    releases: list[str]
    chain_hashes: list[str]
    updated_at: str

    model_config = {"populate_by_name": True}

    def to_metadata(self) -> dict[str, Any]:
        """JSON-ready content, e.g. for Dagster metadata (`MetadataValue.json`)."""
        return self.model_dump(by_alias=True)


class AppendResult(BaseModel):
    release: str
    appended: bool
    reason: Literal["appended", "already_recorded", "failed"]
    position: int | None = None
    chain_hash: str | None = None
    entry: dict[str, Any] | None = None
    entry_count: int = 0
    head: ChainHead | None = None
    blockers: list[str] = Field(default_factory=list)
    dpone_outcome: str | None = None
    dpone_rc: int | None = None
    detail: str = ""
    recovered: str | None = Field(default=None, description="what an interrupted earlier append left, and what we did")

    @property
    def ok(self) -> bool:
        return self.reason != "failed"


# ---- pure helpers, shared with verify.py --------------------------------------------------------------
def compute_chain_hash(
    *, release: str, artifact_index_hash: str, previous_chain_hash: str | None, created_at: str
) -> str:
    """dpone 0.88.0's chain hash (EvidenceChainService._chain_hash), checked against its real output."""
    payload = {
        "artifact_index_hash": artifact_index_hash,
        "created_at": created_at,
        "previous_chain_hash": previous_chain_hash,
        "release": release,
    }
    canonical = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def dpone_safe_release(release: str) -> str:
    """The file-name stem dpone derives from a release id."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", release).strip("._-") or "release"


def entry_filename(release: str) -> str:
    return f"{dpone_safe_release(release)}{ENTRY_SUFFIX}"


def unique_release_id(release: str, run_id: str) -> str:
    """`<release>__run-<run_id>`, made of `[A-Za-z0-9_.-]` only and unchanged by dpone's own file-name
    mangling, so the entry file is `<id>__evidence_chain.json`. Deterministic: a retried step of the same
    run gets the same id (and `append_release` then reports `already_recorded`); another run gets another."""
    rel = dpone_safe_release(release)
    if len(rel) > _MAX_RELEASE_PART:
        rel = rel[: _MAX_RELEASE_PART - 13].rstrip("._-") + "-" + hashlib.sha256(release.encode()).hexdigest()[:12]
    rid = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id).strip("._-")
    if len(rid) > 64:
        rid = rid[:51].rstrip("._-") + "-" + hashlib.sha256(run_id.encode()).hexdigest()[:12]
    return f"{rel}__run-{rid or 'none'}"


def sha256_path(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _load_json(path: Path, problem: str, parse: Callable[[Any], Any] = lambda payload: payload) -> Any:
    """`parse` of the JSON in `path`; ChainError `<path> <problem>: <why>` when it cannot be read or parsed."""
    try:
        return parse(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeError, ValueError) as exc:
        raise ChainError(f"{path} {problem}: {exc}") from exc


def read_chain_index(chain_dir: Path) -> dict[str, Any] | None:
    """The parsed chain index, None when there is none; ChainError when it is not a chain index."""
    path = chain_dir / CHAIN_INDEX
    if not path.exists():
        return None
    payload = _load_json(path, "is not readable JSON")
    if not isinstance(payload, dict) or not isinstance(payload.get("entries"), list):
        raise ChainError(f"{path} has no 'entries' list")
    if not all(isinstance(e, dict) for e in payload["entries"]):
        raise ChainError(f"{path} holds an entry that is not an object")
    return payload


def index_entries(chain_dir: Path) -> list[dict[str, Any]]:
    payload = read_chain_index(chain_dir)
    return list(payload["entries"]) if payload else []


def head_from_entries(entries: list[dict[str, Any]]) -> ChainHead:
    hashes = [str(e.get("chain_hash")) for e in entries]
    return ChainHead(
        entry_count=len(entries),
        latest_chain_hash=hashes[-1] if hashes else None,
        releases=[str(e.get("release")) for e in entries],
        chain_hashes=hashes,
        updated_at=datetime.now(UTC).isoformat(),
    )


def read_head(root: Path) -> ChainHead | None:
    """The head anchor file, None when absent; ChainError when it is unreadable."""
    path = EvidenceLayout(Path(root)).head_path
    if not path.exists():
        return None
    return _load_json(path, "is not a chain head", ChainHead.model_validate)


def coerce_head(value: ChainHead | Mapping[str, Any] | str | None) -> ChainHead | None:
    """Accept a head as the model, its dict (e.g. from Dagster metadata) or its JSON text."""
    if value is None or isinstance(value, ChainHead):
        return value
    if isinstance(value, str):
        value = json.loads(value)
    return ChainHead.model_validate(value)


def write_head(root: Path, head: ChainHead) -> Path:
    return atomic_write_json(EvidenceLayout(Path(root)).head_path, head.to_metadata())


def read_halt(root: Path | str) -> dict[str, Any] | None:
    """The halt record (the breaks that stopped the chain), None when the chain is not halted."""
    path = EvidenceLayout(Path(root)).halt_path
    if not path.exists():
        return None
    payload = _load_json(path, "is not a halt record")
    if not isinstance(payload, dict):
        raise ChainError(f"{path} is not a halt record")
    return payload


def write_halt(root: Path | str, *, breaks: list[dict[str, Any]], found_by: str, detail: str = "") -> dict[str, Any]:
    """Stop the chain: record the breaks that were found. Kept until `dpone-certify chain acknowledge`."""
    now = datetime.now(UTC).isoformat()
    payload = {
        "schema": HALT_SCHEMA,
        "halt_id": hashlib.sha256(f"{now}:{found_by}".encode()).hexdigest()[:16],
        "found_at": now,
        "found_by": found_by,
        "breaks": breaks,
        "detail": detail,
    }
    atomic_write_json(EvidenceLayout(Path(root)).halt_path, payload)
    return payload


def reanchor_head(root: Path | str, *, lock_timeout_s: float = 600.0) -> ChainHead:
    """Write the head from the chain as it is now. Only for adopting a chain that was built without a head,
    after a person has verified it: it blesses whatever the chain currently holds."""
    layout = EvidenceLayout(Path(root).absolute())
    with locked(layout.chain_lock_path, lock_timeout_s):
        head = head_from_entries(index_entries(layout.chain_dir))
        write_head(layout.root, head)
        return head


# ---- interrupted appends ------------------------------------------------------------------------------
def _listing(chain_dir: Path) -> list[str]:
    return sorted(p.name for p in chain_dir.iterdir()) if chain_dir.is_dir() else []


def _rollback(chain_dir: Path, index_text: str | None, files_before: list[str]) -> list[str]:
    """Put the chain folder back: restore the index bytes, remove files created since.

    Returns the removed names."""
    index_path = chain_dir / CHAIN_INDEX
    if index_text is None:
        index_path.unlink(missing_ok=True)
    else:
        current = index_path.read_text(encoding="utf-8") if index_path.exists() else None
        if current != index_text:
            atomic_write_text(index_path, index_text)
    before = set(files_before)
    removed = []
    for name in _listing(chain_dir):
        if name not in before and name != CHAIN_INDEX:
            (chain_dir / name).unlink(missing_ok=True)
            removed.append(name)
    return removed


def _recover(root: Path) -> str | None:
    """Finish a journal left by a killed append (caller holds the lock)."""
    layout = EvidenceLayout(root)
    journal_path = layout.journal_path
    if not journal_path.exists():
        return None
    try:
        journal = json.loads(journal_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        journal_path.unlink(missing_ok=True)  # written atomically, so unreadable means not ours; drop it
        return "an unreadable append journal was removed"
    release = str(journal.get("release"))
    try:
        head = read_head(root)
    except ChainError:
        head = None
    if head is not None and release in head.releases:
        journal_path.unlink(missing_ok=True)
        return f"the interrupted append of {release} had committed (the head names it); journal removed"
    removed = _rollback(layout.chain_dir, journal.get("index_text"), list(journal.get("files_before", [])))
    journal_path.unlink(missing_ok=True)
    what = removed or "nothing"
    return f"the interrupted append of {release} was rolled back (removed {what}, index restored)"


def recover_interrupted_append(root: Path | str, *, lock_timeout_s: float = 600.0) -> str | None:
    root = Path(root).absolute()
    with locked(EvidenceLayout(root).chain_lock_path, lock_timeout_s):
        return _recover(root)


# ---- append -------------------------------------------------------------------------------------------
def _validate_answer(
    payload: Any,
    *,
    release: str,
    index_path: Path,
    previous: list[dict[str, Any]],
    chain_dir: Path,
) -> str | None:
    """None when dpone's answer and the files it wrote are what an honest append produces; else why not."""
    if not isinstance(payload, dict):
        return "the answer is not a JSON object"
    if payload.get("release") != release:
        return f"the answer names release {payload.get('release')!r}"
    expected_prev = previous[-1].get("chain_hash") if previous else None
    if payload.get("previous_chain_hash") != expected_prev:
        return "previous_chain_hash does not link to the last entry"
    try:
        recomputed = compute_chain_hash(
            release=release,
            artifact_index_hash=str(payload["artifact_index_hash"]),
            previous_chain_hash=expected_prev,
            created_at=str(payload["created_at"]),
        )
    except KeyError as exc:
        return f"the answer lacks {exc}"
    if recomputed != payload.get("chain_hash"):
        return "chain_hash does not match its recomputation"
    if payload.get("artifact_index_hash") != sha256_path(index_path):
        return "artifact_index_hash is not the sha256 of the artifact index"
    entry_file = chain_dir / entry_filename(release)
    try:
        on_disk = json.loads(entry_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"entry file {entry_file.name} is missing or unreadable"
    if on_disk != payload:
        return f"entry file {entry_file.name} differs from the answer"
    try:
        index = read_chain_index(chain_dir)
    except ChainError as exc:
        return str(exc)
    if index is None or index.get("entries") != [*previous, payload]:
        return "the chain index is not the previous index plus this entry"
    if index.get("entry_count") != len(previous) + 1 or index.get("latest_chain_hash") != payload["chain_hash"]:
        return "the chain index's entry_count/latest_chain_hash are inconsistent"
    return None


def append_release(
    root: Path | str,
    *,
    release_id: str,
    artifact_index_path: Path | str,
    adapter: DponeAdapter,
    lock_timeout_s: float = 600.0,
    lock: bool = True,
    allow_head_mismatch: bool = False,
) -> AppendResult:
    """Append `release_id` (use `unique_release_id`) with its artifact index to `<root>/chain`.

    See the module doc for the lock, the journal, validation and the head anchor. `lock=False` when the caller
    holds the chain lock already. `allow_head_mismatch` only for an acknowledgment: it appends to the chain as
    it is (the person acknowledged that it no longer matches its head) and the new head covers it."""
    root = Path(root).absolute()
    layout = EvidenceLayout(root)
    chain_dir = layout.chain_dir
    index_path = Path(artifact_index_path).absolute()
    root.mkdir(parents=True, exist_ok=True)

    def failed(blockers: list[str], detail: str, **extra: Any) -> AppendResult:
        return AppendResult(
            release=release_id,
            appended=False,
            reason="failed",
            blockers=list(dict.fromkeys(["chain.append_failed", *blockers])),
            detail=detail,
            **extra,
        )

    with locked(layout.chain_lock_path, lock_timeout_s) if lock else contextlib.nullcontext(root):
        recovered = _recover(root)
        try:
            entries = index_entries(chain_dir)
            head = read_head(root)
        except ChainError as exc:
            return failed(["chain.index_unreadable"], str(exc), recovered=recovered)

        for position, entry in enumerate(entries):
            if entry.get("release") == release_id:
                return AppendResult(
                    release=release_id,
                    appended=False,
                    reason="already_recorded",
                    position=position,
                    chain_hash=entry.get("chain_hash"),
                    entry=entry,
                    entry_count=len(entries),
                    head=head,
                    detail=f"release {release_id} is already entry {position}; not appended again",
                    recovered=recovered,
                )

        if head is None and entries and not allow_head_mismatch:
            return failed(
                ["chain.head_missing"],
                f"{chain_dir} holds {len(entries)} entries but {HEAD_FILENAME} is missing: verify the chain, "
                "then adopt it with reanchor_head() before appending",
                recovered=recovered,
            )
        current = head_from_entries(entries)
        if (
            not allow_head_mismatch
            and head is not None
            and (head.releases, head.chain_hashes)
            != (
                current.releases,
                current.chain_hashes,
            )
        ):
            return failed(
                ["chain.head_mismatch"],
                "the chain does not match its head anchor (truncated, re-ordered or rewritten?); run "
                "`python -m dpone_certify.evidence verify` before appending",
                recovered=recovered,
            )
        if (chain_dir / entry_filename(release_id)).exists():
            return failed(
                [f"chain.release_collision:{release_id}"],
                f"{entry_filename(release_id)} exists for another release id; dpone would overwrite it",
                recovered=recovered,
            )

        chain_dir.mkdir(parents=True, exist_ok=True)
        index_file = layout.chain_index_path
        index_text = index_file.read_text(encoding="utf-8") if index_file.exists() else None
        files_before = _listing(chain_dir)
        journal = layout.journal_path
        atomic_write_json(
            journal,
            {
                "release": release_id,
                "started_at": datetime.now(UTC).isoformat(),
                "index_text": index_text,
                "files_before": files_before,
            },
        )

        call = adapter.cli(
            GATE,
            [
                "ops",
                "evidence-chain",
                "--chain-dir",
                str(chain_dir),
                "--release",
                release_id,
                "--artifact-index",
                str(index_path),
                "--format",
                "json",
            ],
            cwd=root,
        )
        problem: str | None
        blockers: list[str] = []
        if call.outcome is not Outcome.OK:
            problem = call.describe()
            blockers = list(call.blockers)
            if not index_path.is_file():
                blockers.append("chain.artifact_index_missing")
        else:
            problem = _validate_answer(
                call.payload, release=release_id, index_path=index_path, previous=entries, chain_dir=chain_dir
            )
            if problem:
                blockers = ["chain.append_invalid_answer"]

        if problem is not None:
            removed = _rollback(chain_dir, index_text, files_before)
            journal.unlink(missing_ok=True)
            return failed(
                blockers,
                f"{problem}\nchain left as it was (index restored, removed {removed or 'nothing'})",
                entry_count=len(entries),
                head=head,
                dpone_outcome=call.outcome.value,
                dpone_rc=call.rc,
                recovered=recovered,
            )

        new_entries = [*entries, call.payload]
        new_head = head_from_entries(new_entries)
        write_head(root, new_head)  # commit point
        journal.unlink(missing_ok=True)
        return AppendResult(
            release=release_id,
            appended=True,
            reason="appended",
            position=len(entries),
            chain_hash=call.payload["chain_hash"],
            entry=call.payload,
            entry_count=len(new_entries),
            head=new_head,
            dpone_outcome=call.outcome.value,
            dpone_rc=call.rc,
            detail=f"appended {release_id} as entry {len(entries)}",
            recovered=recovered,
        )
