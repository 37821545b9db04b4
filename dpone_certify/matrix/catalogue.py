"""The case catalogue, taken from dpone's own `IntegrationMatrix` (237 cases in 0.88.0).

Partitions must be known when definitions load, so the catalogue is read from the dpone installed next to
this code (a cheap import: the matrix module does not load dpone's runtime)."""

from __future__ import annotations

from functools import lru_cache

from dpone_certify.matrix.records import CaseSpec


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
