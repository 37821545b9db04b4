"""The asset keys of the code location, in dependency order, derived from the gate specs: one list for the
runbooks, reports and sensors (which must not import the asset modules) and for the assets themselves (tests pin
it to the Definitions). Adding a spec to `FULL_CERTIFICATION` (or `release.specs.RELEASE`) is all it takes."""

from __future__ import annotations

from collections.abc import Iterable

from dpone_certify.certification.full_certification import FULL_CERTIFICATION
from dpone_certify.certification.spec import FULL_CERTIFICATION_GROUP, GateSpec
from dpone_certify.release.specs import RELEASE, RELEASE_PRODUCER_SPECS, SCANNED

SPECS: dict[str, GateSpec] = {s.name: s for s in (*FULL_CERTIFICATION, *RELEASE)}

FULL_CERTIFICATION_GATES: tuple[str, ...] = tuple(s.name for s in FULL_CERTIFICATION)
RELEASE_PRODUCERS: tuple[str, ...] = tuple(s.name for s in RELEASE_PRODUCER_SPECS)
RELEASE_GATES: tuple[str, ...] = tuple(s.name for s in RELEASE)
# Candidate vs control (dpone_certify.compare): group `release`, selected when a control build is given.
COMPARISON_GATES: tuple[str, ...] = ("release_comparison",)
ALL_GATES: tuple[str, ...] = (*FULL_CERTIFICATION_GATES, *RELEASE_GATES, *COMPARISON_GATES)


def plan_step_mapping(specs: Iterable[GateSpec]) -> dict[str, str]:
    """dpone's plan step -> our asset (dpone's plan is the authority on which gates are required)."""
    return {step: s.name for s in specs if s.group == FULL_CERTIFICATION_GROUP for step in s.steps}


def indexed(specs: Iterable[GateSpec]) -> tuple[str, ...]:
    """The gates whose output folders artifact_index covers, in graph order."""
    return tuple(s.name for s in specs if s.indexed)


PLAN_STEP_TO_ASSET: dict[str, str] = plan_step_mapping(FULL_CERTIFICATION)
INDEXED: tuple[str, ...] = indexed(FULL_CERTIFICATION)
__all__ = [
    "ALL_GATES",
    "COMPARISON_GATES",
    "FULL_CERTIFICATION_GATES",
    "INDEXED",
    "PLAN_STEP_TO_ASSET",
    "RELEASE_GATES",
    "RELEASE_PRODUCERS",
    "SCANNED",
    "SPECS",
]
