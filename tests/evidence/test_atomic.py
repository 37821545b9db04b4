"""Atomic writes leave no partial file; the lock excludes other threads and processes."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from pathlib import Path

import pytest

from dpone_certify.evidence.atomic import LockTimeout, atomic_write_json, atomic_writer, locked


class Boom(RuntimeError):
    pass


def test_writer_that_raises_mid_way_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "entry.json"
    with pytest.raises(Boom), atomic_writer(target) as handle:
        handle.write(b'{"release": "half')
        raise Boom
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # no temp file left behind either


def test_writer_that_raises_keeps_the_previous_content(tmp_path: Path) -> None:
    target = atomic_write_json(tmp_path / "head.json", {"entry_count": 1})
    with pytest.raises(Boom), atomic_writer(target) as handle:
        handle.write(b'{"entry_count": 2, "trunc')
        raise Boom
    assert json.loads(target.read_text()) == {"entry_count": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["head.json"]


def test_lock_excludes_another_thread(tmp_path: Path) -> None:
    lock = tmp_path / "chain.lock"
    inside = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with locked(lock, 5):
            inside.set()
            release.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    assert inside.wait(5)
    with pytest.raises(LockTimeout), locked(lock, 0.2):
        pass
    release.set()
    t.join(5)
    with locked(lock, 1):
        pass


def _hold(lock: str, seconds: float) -> None:
    with locked(Path(lock), 5):
        time.sleep(seconds)


def test_lock_excludes_another_process(tmp_path: Path) -> None:
    lock = tmp_path / "chain.lock"
    proc = multiprocessing.get_context("fork").Process(target=_hold, args=(str(lock), 0.6))
    proc.start()
    time.sleep(0.3)
    started = time.monotonic()
    with locked(lock, 5):
        waited = time.monotonic() - started
    proc.join(5)
    assert waited > 0.3
