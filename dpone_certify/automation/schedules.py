"""Schedules: the weekly full certification and the nightly contract run, each the whole matrix in ONE run.

Both target the asset job `full_certification` by name (it lives in `dpone_certify.definitions`, which imports
this module). A run covering every matrix case carries the partition-range tags from the first to the last case
id of dpone's catalogue, as `dpone-certify run` and `dagster asset materialize --partition-range` do; every
asset has `BackfillPolicy.single_run()`, so that is one run, not one per case.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from dpone_certify import settings
from dpone_certify.settings import Profile

FULL_JOB = "full_certification"
WEEKLY_CRON = "41 3 * * 2"  # Tuesday 03:41 UTC, dpone's own release-certification cadence
NIGHTLY_CRON = "17 2 * * *"
TIMEZONE = "UTC"
WEEKLY_PROFILE_ENV = "DPONE_CERTIFY_WEEKLY_PROFILE"  # default: local (real engines)
DEFAULT_STATUS_ENV = "DPONE_CERTIFY_AUTOMATION"  # "on": schedules and sensors start running when loaded

TAG_TRIGGER = "dpone_certify/trigger"
TAG_PROFILE = "dpone_certify/profile"
ENGINE_TAG_PREFIX = "dpone_certify/engine-"  # + engine family; the run coordinator limits runs per engine


def default_status() -> dg.DefaultScheduleStatus:
    on = settings.env(DEFAULT_STATUS_ENV).lower() in ("1", "on", "true", "running")
    return dg.DefaultScheduleStatus.RUNNING if on else dg.DefaultScheduleStatus.STOPPED


def whole_matrix_tags() -> dict[str, str]:
    """Partition-range tags that select every case of the catalogue in one run."""
    from dpone_certify.matrix.catalogue import case_ids

    ids = case_ids()
    return {ASSET_PARTITION_RANGE_START_TAG: ids[0], ASSET_PARTITION_RANGE_END_TAG: ids[-1]}


def engine_tags(profile: Profile) -> dict[str, str]:
    """One tag per engine family a run may touch, matched by the `tag_concurrency_limits` of the instance's
    QueuedRunCoordinator (dagster.yaml). The contract profile touches no engine."""
    if profile is Profile.CONTRACT:
        return {}
    from dpone_certify.matrix.local.engines import ENGINE_SETTINGS

    return {f"{ENGINE_TAG_PREFIX}{family}": "true" for family in ENGINE_SETTINGS}


def certify_run_config(**config: Any) -> dict[str, Any]:
    """Run config for the `certify` resource. Only the given fields: the others stay None and are read from the
    environment at run time (a resource block in run config replaces all code-level config of the resource)."""
    return {"resources": {"certify": {"config": {k: v for k, v in config.items() if v is not None}}}}


def matrix_run_request(profile: Profile, trigger: str, run_key: str | None = None, **config: Any) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=run_key,
        run_config=certify_run_config(profile=profile.value, **config),
        tags={
            **whole_matrix_tags(),
            **engine_tags(profile),
            TAG_TRIGGER: trigger,
            TAG_PROFILE: profile.value,
        },
    )


def weekly_profile() -> Profile:
    return Profile(settings.env(WEEKLY_PROFILE_ENV) or Profile.LOCAL.value)


def _certification_schedule(name: str, cron: str, key_prefix: str, profile: Any, description: str) -> Any:
    """A schedule of the full_certification job: one run per tick (run key from the tick), profile per tick."""

    @dg.schedule(
        name=name,
        cron_schedule=cron,
        execution_timezone=TIMEZONE,
        job_name=FULL_JOB,
        default_status=default_status(),
        description=description,
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        tick = context.scheduled_execution_time
        key = f"{key_prefix}:{tick.isoformat()}" if tick else None
        return matrix_run_request(profile(), name, run_key=key)

    return _schedule


weekly_full_certification = _certification_schedule(
    "weekly_full_certification",
    WEEKLY_CRON,
    "weekly",
    weekly_profile,
    f"Every gate on the whole matrix in one run, Tuesdays 03:41 UTC; profile ${WEEKLY_PROFILE_ENV} (default local: "
    "real engines).",
)
nightly_contract_certification = _certification_schedule(
    "nightly_contract_certification",
    NIGHTLY_CRON,
    "nightly",
    lambda: Profile.CONTRACT,
    "Every gate on the whole matrix with dpone's mock_contract simulation (UNVERIFIED evidence): a cheap nightly "
    "signal that the contracts and the chain still hold.",
)


SCHEDULES: list[dg.ScheduleDefinition] = [weekly_full_certification, nightly_contract_certification]
