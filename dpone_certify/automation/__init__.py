"""Schedules and sensors of the code location, as the automation group's `Definitions`."""

import dagster as dg

from dpone_certify.automation.schedules import SCHEDULES
from dpone_certify.automation.sensors import SENSORS

JOBS: list[object] = []  # both schedules and the wheel sensor target the `full_certification` asset job

defs = dg.Definitions(schedules=SCHEDULES, sensors=SENSORS)

__all__ = ["JOBS", "SCHEDULES", "SENSORS", "defs"]
