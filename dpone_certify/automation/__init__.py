"""Schedules and sensors of the code location (`Definitions(schedules=SCHEDULES, sensors=SENSORS)`)."""

from dpone_certify.automation.schedules import SCHEDULES
from dpone_certify.automation.sensors import SENSORS

JOBS: list[object] = []  # both schedules and the wheel sensor target the `full_certification` asset job

__all__ = ["JOBS", "SCHEDULES", "SENSORS"]
