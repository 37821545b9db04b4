"""The wheel watch folder: empty, first wheel, the same wheel again, a new wheel; the cursor carries it."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from dpone_certify.automation import sensors
from dpone_certify.definitions import defs
from dpone_certify.matrix.catalogue import case_ids
from dpone_certify.resources import CertifyResource


@pytest.fixture
def wheel_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "wheels"
    monkeypatch.setenv(sensors.WHEEL_DIR_ENV, str(folder))
    return folder


def _wheel(folder: Path, name: str, content: bytes, age: float = 60.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def _tick(cursor: str | None) -> dg.SensorResult | dg.SkipReason:
    result = sensors.dpone_wheel_sensor(dg.build_sensor_context(cursor=cursor))
    assert isinstance(result, dg.SensorResult | dg.SkipReason)
    return result


def test_default_folder_is_next_to_the_evidence_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(sensors.WHEEL_DIR_ENV, raising=False)
    monkeypatch.setenv("DPONE_CERTIFY_EVIDENCE_ROOT", str(tmp_path / "evidence"))
    assert sensors.wheel_dir() == tmp_path.resolve() / "wheels"


def test_missing_folder_is_a_skip(wheel_dir: Path) -> None:
    result = _tick(None)
    assert isinstance(result, dg.SkipReason) and "does not exist" in (result.skip_message or "")


def test_wheel_lifecycle(wheel_dir: Path) -> None:
    wheel_dir.mkdir()
    # empty folder
    empty = _tick(None)
    assert isinstance(empty, dg.SensorResult) and not empty.run_requests and empty.skip_reason
    assert json.loads(empty.cursor or "") == {}

    # first wheel -> one certification run of that build, isolated mode, version + sha in the release id
    first = _wheel(wheel_dir, "dpone-0.89.0-py3-none-any.whl", b"wheel one")
    sha = hashlib.sha256(b"wheel one").hexdigest()
    result = _tick(empty.cursor)
    assert isinstance(result, dg.SensorResult) and len(result.run_requests or []) == 1
    request = (result.run_requests or [])[0]
    release = f"dpone-0.89.0-wheel-{sha[:8]}"
    assert request.run_key == release
    assert request.run_config == {"resources": {"certify": {"config": {"dpone_wheel": str(first), "release": release}}}}
    assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == case_ids()[0]
    assert request.tags[ASSET_PARTITION_RANGE_END_TAG] == case_ids()[-1]
    assert request.tags[sensors.TAG_WHEEL_SHA256] == sha
    dg.validate_run_config(defs.resolve_job_def("full_certification"), request.run_config)
    # the resource resolves that config to the release id and the wheel (the venv is built in the run)
    resource = CertifyResource(**request.run_config["resources"]["certify"]["config"])
    assert resource.release_name() == release and resource.dpone_wheel == str(first)

    # same wheel again: nothing new
    again = _tick(result.cursor)
    assert isinstance(again, dg.SensorResult) and not again.run_requests

    # touched (new mtime), same content: no new run, cursor follows the new mtime
    stamp = time.time() - 30
    os.utime(first, (stamp, stamp))
    touched = _tick(again.cursor)
    assert isinstance(touched, dg.SensorResult) and not touched.run_requests
    assert json.loads(touched.cursor or "")[first.name]["mtime_ns"] == first.stat().st_mtime_ns

    # a new wheel: exactly one request, for the new build
    _wheel(wheel_dir, "dpone-0.90.0-py3-none-any.whl", b"wheel two")
    new = _tick(touched.cursor)
    assert isinstance(new, dg.SensorResult)
    assert [r.run_key for r in new.run_requests or []] == [
        f"dpone-0.90.0-wheel-{hashlib.sha256(b'wheel two').hexdigest()[:8]}"
    ]
    assert set(json.loads(new.cursor or "")) == {"dpone-0.89.0-py3-none-any.whl", "dpone-0.90.0-py3-none-any.whl"}


def test_wheel_still_being_copied_waits(wheel_dir: Path) -> None:
    path = _wheel(wheel_dir, "dpone-0.91.0-py3-none-any.whl", b"partial", age=0)
    result = _tick(None)
    assert isinstance(result, dg.SensorResult) and not result.run_requests
    assert path.name not in json.loads(result.cursor or "")
    stamp = time.time() - 60
    os.utime(path, (stamp, stamp))
    later = _tick(result.cursor)
    assert isinstance(later, dg.SensorResult) and len(later.run_requests or []) == 1


def test_other_files_and_bad_names_are_ignored(wheel_dir: Path) -> None:
    _wheel(wheel_dir, "otherpkg-1.0-py3-none-any.whl", b"x")
    _wheel(wheel_dir, "dpone-notes.whl", b"x")
    result = _tick(None)
    assert isinstance(result, dg.SensorResult) and not result.run_requests
    assert list(json.loads(result.cursor or "")) == ["dpone-notes.whl"]  # remembered, warned about once
