"""Schedules: both request the whole matrix in one run with valid run config (Dagster's schedule test helpers)."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster._utils.schedules import cron_string_iterator

from dpone_certify.automation import schedules
from dpone_certify.definitions import ASSETS, defs
from dpone_certify.matrix.catalogue import case_ids
from dpone_certify.matrix.local.engines import ENGINE_SETTINGS

TICK = datetime(2026, 12, 1, 3, 41, tzinfo=UTC)  # a Tuesday


def _tick(name: str) -> dg.RunRequest:
    schedule = defs.resolve_schedule_def(name)
    data = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=TICK))
    assert data.run_requests is not None and len(data.run_requests) == 1
    return data.run_requests[0]


def test_schedules_are_loaded() -> None:
    weekly = defs.resolve_schedule_def("weekly_full_certification")
    nightly = defs.resolve_schedule_def("nightly_contract_certification")
    assert (weekly.cron_schedule, weekly.execution_timezone) == ("41 3 * * 2", "UTC")
    assert nightly.execution_timezone == "UTC"
    assert weekly.job_name == nightly.job_name == "full_certification"
    dg.Definitions.validate_loadable(defs)


def test_weekly_ticks_on_tuesday_0341_utc() -> None:
    ticks = cron_string_iterator(datetime(2026, 11, 26, tzinfo=UTC).timestamp(), "41 3 * * 2", "UTC")
    first, second = next(ticks), next(ticks)
    assert first.isoformat() == "2026-12-01T03:41:00+00:00" and first.weekday() == 1
    assert second.isoformat() == "2026-12-08T03:41:00+00:00"


@pytest.mark.parametrize(
    ("name", "profile"),
    [("weekly_full_certification", "local"), ("nightly_contract_certification", "contract")],
)
def test_tick_requests_whole_matrix_in_one_run(name: str, profile: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(schedules.WEEKLY_PROFILE_ENV, raising=False)
    request = _tick(name)
    ids = case_ids()
    assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == ids[0]
    assert request.tags[ASSET_PARTITION_RANGE_END_TAG] == ids[-1]
    assert request.run_config == {"resources": {"certify": {"config": {"profile": profile}}}}
    assert request.tags[schedules.TAG_PROFILE] == profile
    assert request.run_key and TICK.isoformat() in request.run_key
    job = defs.resolve_job_def("full_certification")
    dg.validate_run_config(job, request.run_config)
    engine_tags = {k for k in request.tags if k.startswith(schedules.ENGINE_TAG_PREFIX)}
    if profile == "contract":
        assert not engine_tags
    else:  # the run coordinator's per-engine limits see every engine the matrix may touch
        assert engine_tags == {f"{schedules.ENGINE_TAG_PREFIX}{f}" for f in ENGINE_SETTINGS}


def test_weekly_profile_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(schedules.WEEKLY_PROFILE_ENV, "live")
    assert _tick("weekly_full_certification").run_config["resources"]["certify"]["config"] == {"profile": "live"}


def test_bad_run_config_is_rejected() -> None:
    job = defs.resolve_job_def("full_certification")
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(job, {"resources": {"certify": {"config": {"profile": 3, "no_such_field": 1}}}})


def test_one_run_for_the_range() -> None:
    """A range over many partitions is one run only if every asset of the job has the single-run policy."""
    job_keys = {a.key for a in ASSETS}
    assert len(job_keys) == 12  # dpone's 11 plan steps' gates and our reconciliation_selftest
    for key in job_keys:
        policy = defs.resolve_assets_def(key).backfill_policy
        assert policy is not None and policy.max_partitions_per_run is None, key


def test_default_status_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(schedules.DEFAULT_STATUS_ENV, raising=False)
    assert schedules.default_status() is dg.DefaultScheduleStatus.STOPPED
    monkeypatch.setenv(schedules.DEFAULT_STATUS_ENV, "on")
    assert schedules.default_status() is dg.DefaultScheduleStatus.RUNNING
