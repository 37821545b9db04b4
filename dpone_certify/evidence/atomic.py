"""Crash-safe file writes and an inter-process lock.

`atomic_write_*` write to a temporary file in the target's own directory, fsync it, `os.replace` it over
the target and fsync the directory: a reader sees either the old file or the complete new one, never a
prefix, and a writer killed mid-way leaves at most a `.<name>.*.tmp` file that no reader looks at.

`locked(path, timeout_s)` is an exclusive `flock` on a lock file. `flock` locks belong to the open file
description, so two threads that each call `locked` exclude each other as well as two processes do. The
lock is released explicitly (LOCK_UN) before the file is closed, so a forked child that inherited the
descriptor cannot keep it held.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

TMP_SUFFIX = ".tmp"


class LockTimeout(TimeoutError):
    """The lock was not obtained within the timeout."""

    def __init__(self, path: Path, timeout_s: float) -> None:
        super().__init__(f"could not lock {path} within {timeout_s:.1f} s (another writer holds it)")
        self.path = path
        self.timeout_s = timeout_s


def fsync_dir(directory: Path) -> None:
    """Make a rename inside `directory` durable (best effort on platforms that cannot open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: Path | str, *, mode: int = 0o644, durable: bool = True) -> Iterator[IO[bytes]]:
    """Yield a binary file; on a clean exit it replaces `path` atomically, on an exception it is discarded.

    The target is untouched (missing, or holding its previous content) until the body has finished.
    `durable=False` skips the fsyncs: still atomic for readers and for a killed writer, not across a power
    loss; for re-derivable records written by the hundred (237 fsyncs per matrix run cost seconds).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TMP_SUFFIX, dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if durable:
        fsync_dir(target.parent)


def atomic_write_bytes(path: Path | str, data: bytes, *, durable: bool = True) -> Path:
    with atomic_writer(path, durable=durable) as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: Path | str, text: str, *, durable: bool = True) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def atomic_write_json(path: Path | str, payload: Any, *, durable: bool = True) -> Path:
    """Pretty, key-sorted JSON (stable bytes for the same payload), written atomically: the one JSON writer of
    the package."""
    text = json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    return atomic_write_text(path, text, durable=durable)


@contextlib.contextmanager
def locked(path: Path | str, timeout_s: float = 600.0, *, poll_s: float = 0.02, create: bool = True) -> Iterator[Path]:
    """Hold an exclusive `flock` on `path` (created if missing) for the duration of the block.

    Raises `LockTimeout` when another holder keeps it longer than `timeout_s`. With `create=False` the lock
    file is opened read-only and never created (FileNotFoundError when it is missing): a reader that must
    not write into what it reads can still wait for a writer.
    """
    lock_path = Path(path)
    if create:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    else:
        fd = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        deadline = time.monotonic() + max(timeout_s, 0.0)
        delay = poll_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
            if time.monotonic() >= deadline:
                raise LockTimeout(lock_path, timeout_s)
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)
        try:
            yield lock_path
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
