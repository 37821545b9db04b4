"""The case catalogue, taken from dpone's own `IntegrationMatrix` (237 cases in 0.88.0).

Partitions must be known when definitions load, so the catalogue is read from the dpone installed next to
this code (a cheap import: the matrix module does not load dpone's runtime). The cases a run executes come from
the build under test (`build_catalogue`): a partition that build lacks is `case.absent_in_build` (never a dpone
failure), and the build's cases without a partition here are listed as "not in this catalogue"."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from pydantic import BaseModel

from dpone_certify.matrix.records import CaseSpec

if TYPE_CHECKING:
    from dpone_certify.dpone.adapter import DponeAdapter


@lru_cache(maxsize=1)
def default_cases() -> tuple[CaseSpec, ...]:
    from dpone.integration_matrix import DEFAULT_INTEGRATION_MATRIX

    return tuple(CaseSpec.model_validate(case.to_dict()) for case in DEFAULT_INTEGRATION_MATRIX.cases)


@lru_cache(maxsize=1)
def cases_by_id() -> dict[str, CaseSpec]:
    return {case.case_id: case for case in default_cases()}


def case_ids() -> list[str]:
    return [case.case_id for case in default_cases()]


def dpone_version() -> str:
    from dpone.version import installed_version

    return installed_version()


# ---- the catalogue of the build under test ------------------------------------------------------------

ABSENT_IN_BUILD = "case.absent_in_build"


class CatalogueError(RuntimeError):
    """The build under test could not list its cases."""


_build_cache: dict[str | None, tuple[str, dict[str, CaseSpec]]] = {}


def build_catalogue(adapter: DponeAdapter) -> tuple[str, dict[str, CaseSpec]]:
    """(dpone version, {case_id: CaseSpec}) as the build under test lists them (the worker's `catalogue` op, in
    the build's own interpreter); cached per interpreter for this process."""
    if adapter.python in _build_cache:
        return _build_cache[adapter.python]
    call = adapter.call("catalogue", "catalogue", {}, timeout_seconds=300)
    payload = call.payload if isinstance(call.payload, dict) else None
    if payload is None or not isinstance(payload.get("cases"), list):
        raise CatalogueError(f"the build under test could not list its cases: {call.describe()}")
    cases = {}
    for raw in payload["cases"]:
        spec = CaseSpec.model_validate(raw)
        cases[spec.case_id] = spec
    result = (str(payload.get("dpone_version")), cases)
    _build_cache[adapter.python] = result
    return result


class CatalogueDiff(BaseModel):
    """The selected partitions against the build's catalogue."""

    present: list[str]  # selected and in the build: these run, with the build's own case spec
    absent_in_build: list[str]  # selected partitions the build does not have: case.absent_in_build, not a failure
    not_in_this_catalogue: list[str]  # the build's cases the code location has no partition for


def compare_catalogues(selected: list[str], build_cases: dict[str, CaseSpec]) -> CatalogueDiff:
    known = set(case_ids())
    return CatalogueDiff(
        present=[k for k in selected if k in build_cases],
        absent_in_build=[k for k in selected if k not in build_cases],
        not_in_this_catalogue=sorted(set(build_cases) - known),
    )
