"""Sensors: a watch folder for dpone wheels, and the remediation report for failed runs and failed gate checks.

Each evaluation is cheap: a directory listing and a hash of new wheels only; a few JSON files read and three
small files written per failed run. Heavy work (building a venv for a wheel, the certification itself) happens
in the run the sensor requests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from dpone_certify import settings
from dpone_certify.automation.schedules import (
    FULL_JOB,
    TAG_TRIGGER,
    certify_run_config,
    default_status,
    whole_matrix_tags,
)
from dpone_certify.dpone.interpreter import wheel_sha256, wheel_version
from dpone_certify.report import GATE_ORDER, write_report

WHEEL_DIR_ENV = "DPONE_CERTIFY_WHEEL_DIR"
WHEEL_GLOB = "dpone-*.whl"
SETTLE_SECONDS = 10.0  # a wheel modified more recently may still be being copied: look again next tick
CHECK_NAME = "verdict"  # every gate's verdict check

TAG_WHEEL = "dpone_certify/wheel"
TAG_WHEEL_SHA256 = "dpone_certify/wheel_sha256"
TAG_FAILED_GATES = "dpone_certify/failed_gates"
TAG_REPORT = "dpone_certify/remediation_report"
TAG_REPORT_HTML = "dpone_certify/remediation_report_html"
TAG_BLOCKER_COUNT = "dpone_certify/blocker_count"
TAG_VERDICT = "dpone_certify/verdict"


def _sensor_status() -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus(default_status().value)


# ---- wheel watch folder --------------------------------------------------------------------------------


def wheel_dir() -> Path:
    """$DPONE_CERTIFY_WHEEL_DIR, else `wheels/` next to the evidence root (./.dpone-certify/wheels)."""
    raw = settings.env(WHEEL_DIR_ENV)
    return Path(raw).expanduser().resolve() if raw else settings.env_evidence_root().parent / "wheels"


def wheel_release(version: str, sha256: str) -> str:
    return f"dpone-{version}-wheel-{sha256[:8]}"


def _load_cursor(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# A sensor's name is its function's (Dagster's default; pinned by tests/snapshots/definitions.json).
@dg.sensor(
    job_name=FULL_JOB,
    minimum_interval_seconds=60,
    default_status=_sensor_status(),
    description=f"A new `{WHEEL_GLOB}` in ${WHEEL_DIR_ENV} (default .dpone-certify/wheels) requests a "
    "certification of that build in the isolated-interpreter mode, release `dpone-<version>-wheel-<sha8>`.",
)
def dpone_wheel_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    folder = wheel_dir()
    if not folder.is_dir():
        return dg.SkipReason(f"watch folder {folder} does not exist (set ${WHEEL_DIR_ENV} or create it)")
    # cursor: {file name: {"size", "mtime_ns", "sha256"}}; a file whose size and mtime are unchanged is not re-read
    seen = _load_cursor(context.cursor)
    requests: list[dg.RunRequest] = []
    now = time.time()
    for path in sorted(folder.glob(WHEEL_GLOB)):
        stat = path.stat()
        previous = seen.get(path.name) or {}
        if previous.get("size") == stat.st_size and previous.get("mtime_ns") == stat.st_mtime_ns:
            continue
        if now - stat.st_mtime < SETTLE_SECONDS:
            continue
        try:
            version = wheel_version(path)
        except ValueError as exc:  # packaging's InvalidWheelFilename/InvalidVersion are ValueErrors
            context.log.warning(f"ignoring {path.name}: not a valid wheel file name ({exc})")
            seen[path.name] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": None}
            continue
        sha256 = wheel_sha256(path)
        seen[path.name] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}
        if previous.get("sha256") == sha256:
            continue  # touched or re-copied, same content
        release = wheel_release(version, sha256)
        requests.append(
            dg.RunRequest(
                run_key=release,  # also de-duplicates if the cursor is ever reset
                run_config=certify_run_config(dpone_wheel=str(path), release=release),
                tags={
                    **whole_matrix_tags(),
                    TAG_TRIGGER: "dpone_wheel_sensor",
                    TAG_WHEEL: path.name,
                    TAG_WHEEL_SHA256: sha256,
                },
            )
        )
    cursor = json.dumps(seen, sort_keys=True)
    if not requests:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"no new wheel in {folder}"), cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)


# ---- remediation report for failures -------------------------------------------------------------------


def evidence_root_for_run(run: dg.DagsterRun) -> Path:
    """The evidence root the run wrote to: its `certify` run config, else the environment's default."""
    config: Mapping[str, Any] = run.run_config or {}
    certify = ((config.get("resources") or {}).get("certify") or {}).get("config") or {}
    raw = certify.get("evidence_root") if isinstance(certify, Mapping) else None
    from dpone_certify.resources import CertifyResource  # the one resolver of the evidence root

    return CertifyResource(evidence_root=str(raw) if raw else None).root()


def expected_gates(run: dg.DagsterRun) -> list[str]:
    """The gates the run was meant to materialize (so a gate that crashed before writing is reported)."""
    if run.asset_selection:
        keys = {key.path[-1] for key in run.asset_selection}
        return [gate for gate in GATE_ORDER if gate in keys]
    if run.job_name == FULL_JOB:
        return list(GATE_ORDER)
    return []


def record_failure(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dict[str, str]:
    """Write `<evidence_root>/runs/<run_id>/remediation_report.{md,json,html}` and tag the run with where it is
    and what failed. Idempotent. Returns the tags added."""
    report, paths = write_report(evidence_root_for_run(run), run.run_id, expected_gates(run))
    tags = {
        TAG_FAILED_GATES: ",".join(report.failed_gates) or "none",
        TAG_BLOCKER_COUNT: str(len(report.blockers)),
        TAG_VERDICT: report.verdict,
        TAG_REPORT: str(paths.markdown),
        TAG_REPORT_HTML: str(paths.html),
    }
    if TAG_VERDICT in run.tags:  # certification_report already tagged the certification verdict: keep it
        tags.pop(TAG_VERDICT)
    instance.add_run_tags(run.run_id, tags)
    return tags


@dg.run_failure_sensor(
    minimum_interval_seconds=30,
    default_status=_sensor_status(),
    description="When a run of this code location fails, writes the remediation report (failed gates, blockers, "
    "remediations, reproduce commands) next to its evidence and records it in the run's tags.",
)
def certification_failure_sensor(context: dg.RunFailureSensorContext) -> None:
    tags = record_failure(context.instance, context.dagster_run)
    context.log.info(f"run {context.dagster_run.run_id}: {tags[TAG_FAILED_GATES]} -> {tags[TAG_REPORT]}")


def check_keys(gates: Iterable[str] = GATE_ORDER) -> list[dg.AssetCheckKey]:
    return [dg.AssetCheckKey(dg.AssetKey(gate), CHECK_NAME) for gate in gates]


def watched_checks(context: dg.SensorEvaluationContext) -> list[dg.AssetCheckKey]:
    """Every `verdict` check of the code location (gates added later included); the 11 gates of
    full_certification when the sensor is evaluated without its definitions (unit tests)."""
    repository = context.repository_def
    if repository is None:
        return check_keys()
    found = [key for key in repository.asset_graph.asset_check_keys if key.name == CHECK_NAME]
    return sorted(found, key=lambda key: key.to_user_string()) or check_keys()


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=_sensor_status(),
    description="A failed gate verdict check (also a WARN one that did not fail the run, and runs started from "
    "the CLI that no run-status sensor sees) gets the same remediation report once its run has finished.",
)
def gate_check_failure_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    # cursor: {check key: storage id of the last finished evaluation handled}. Per key, so a check that is
    # still PLANNED (its run is in progress) is looked at again next tick without holding back the others.
    cursor = _load_cursor(context.cursor)
    instance = context.instance
    to_report: dict[str, dg.DagsterRun] = {}
    for key in watched_checks(context):
        name = key.to_user_string()
        record = instance.get_latest_asset_check_evaluation_record(key)
        if record is None or record.id <= int(cursor.get(name, 0)):
            continue
        if record.status is AssetCheckExecutionRecordStatus.PLANNED:
            continue
        if record.status is AssetCheckExecutionRecordStatus.FAILED:
            run = instance.get_run_by_id(record.run_id)
            if run is not None and not run.is_finished:
                continue  # report once the run is over, with every gate's record in place
            if run is not None and TAG_REPORT not in run.tags:
                to_report[run.run_id] = run
        cursor[name] = record.id
    written = [record_failure(instance, run)[TAG_REPORT] for run in to_report.values()]
    for path in written:
        context.log.info(f"remediation report: {path}")
    text = json.dumps(cursor, sort_keys=True)
    if not written:
        return dg.SensorResult(skip_reason=dg.SkipReason("no new failed gate check"), cursor=text)
    return dg.SensorResult(cursor=text)


SENSORS: list[dg.SensorDefinition] = [dpone_wheel_sensor, certification_failure_sensor, gate_check_failure_sensor]
