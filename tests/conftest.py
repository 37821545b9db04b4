"""Shared fixtures: a real Dagster instance, real dpone, a throwaway evidence root per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

REPO = Path(__file__).resolve().parents[1]
# A contiguous slice of dpone's catalogue, in catalogue order, that contains postgres->postgres cases.
PG_CASE = "postgres_to_postgres__full_refresh"


@pytest.fixture
def evidence_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "evidence"
    monkeypatch.setenv("DPONE_CERTIFY_EVIDENCE_ROOT", str(root))
    monkeypatch.delenv("DPONE_CERTIFY_PROFILE", raising=False)
    return root


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def case_range(first: str, count: int) -> list[str]:
    from dpone_certify.matrix.catalogue import case_ids

    ids = case_ids()
    start = ids.index(first)
    return ids[start : start + count]


def materialize(
    instance: dg.DagsterInstance,
    assets: list[str],
    *,
    cases: list[str] | None = None,
    config: dict[str, Any] | None = None,
) -> dg.ExecuteInProcessResult:
    """Run a selection in-process the way `dagster asset materialize` does (one run, range tags)."""
    from dpone_certify.definitions import defs

    tags: dict[str, str] = {}
    if cases and len(cases) == 1:
        tags = {"dagster/partition": cases[0]}
    elif cases:
        tags = {ASSET_PARTITION_RANGE_START_TAG: cases[0], ASSET_PARTITION_RANGE_END_TAG: cases[-1]}
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        asset_selection=[dg.AssetKey(a) for a in assets],
        instance=instance,
        tags=tags,
        run_config={"resources": {"certify": {"config": config}}} if config else None,
        raise_on_error=False,
    )


def checks_by_asset(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    return {ev.asset_key.path[-1]: ev for ev in result.get_asset_check_evaluations()}
