"""A real evidence root, built once per session with real dpone calls, restored byte-for-byte before each
test (so absolute paths stay valid and dpone's own verify still works on it)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dpone_certify.dpone.adapter import DponeAdapter, Outcome
from dpone_certify.evidence.chain import (
    CHAIN_DIRNAME,
    CHAIN_INDEX,
    HEAD_FILENAME,
    append_release,
    entry_filename,
    unique_release_id,
)

RUNS = ("run-a", "run-b", "run-c")


@dataclass
class Evidence:
    root: Path
    releases: list[str]
    index_paths: list[Path]
    adapter: DponeAdapter
    snapshot: dict[str, bytes] = field(repr=False)

    @property
    def chain_dir(self) -> Path:
        return self.root / CHAIN_DIRNAME

    def chain_index(self) -> dict[str, Any]:
        return json.loads((self.chain_dir / CHAIN_INDEX).read_text(encoding="utf-8"))

    def write_chain_index(self, payload: dict[str, Any]) -> None:
        (self.chain_dir / CHAIN_INDEX).write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")

    def entry_file(self, release: str) -> Path:
        return self.chain_dir / entry_filename(release)

    def head(self) -> dict[str, Any]:
        return json.loads((self.root / HEAD_FILENAME).read_text(encoding="utf-8"))

    def run_dir(self, k: int) -> Path:
        return self.root / "runs" / RUNS[k]


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def dpone_ok(adapter: DponeAdapter, gate: str, argv: list[str], *, allow_rc1: bool = False) -> Any:
    call = adapter.cli(gate, argv)
    assert call.outcome is Outcome.OK, call.describe()
    assert call.rc == 0 or (allow_rc1 and call.rc == 1), call.describe()
    return call.payload


def build_run(adapter: DponeAdapter, run_dir: Path, release: str, k: int) -> Path:
    """Real gate outputs for one run, indexed by dpone's artifact-index."""
    dpone_ok(
        adapter,
        "benchmark_baseline",
        [
            "ops",
            "benchmark-baseline",
            "--output-dir",
            str(run_dir / "benchmark_baseline"),
            "--metrics-json",
            json.dumps({"rows_per_second": 100 + k}),
            "--baseline-json",
            json.dumps({"rows_per_second": 90}),
            "--format",
            "json",
        ],
    )
    dpone_ok(
        adapter,
        "strategy_bundle",
        [
            "strategy",
            "certification-bundle",
            "--bundle-id",
            f"b{k}",
            "--output-dir",
            str(run_dir / "strategy"),
            "--format",
            "json",
        ],
    )
    out = run_dir / "artifact_index"
    # rc 1 when an indexed item fails the trust rule; the index file is written either way.
    dpone_ok(
        adapter,
        "artifact_index",
        ["ops", "artifact-index", "--root", str(run_dir), "--release", release, "--output-dir", str(out)]
        + ["--format", "json"],
        allow_rc1=True,
    )
    return out / "artifact_index.json"


@pytest.fixture(scope="session")
def adapter() -> DponeAdapter:
    adapter = DponeAdapter(timeout_seconds=120)
    adapter.warm()
    return adapter


@pytest.fixture(scope="session")
def pristine(tmp_path_factory: pytest.TempPathFactory, adapter: DponeAdapter) -> Evidence:
    root = tmp_path_factory.mktemp("evidence") / "root"
    releases, index_paths = [], []
    for k, run in enumerate(RUNS):
        release = unique_release_id("0.88.0", run)
        index_path = build_run(adapter, root / "runs" / run, release, k)
        result = append_release(root, release_id=release, artifact_index_path=index_path, adapter=adapter)
        assert result.appended, result
        releases.append(release)
        index_paths.append(index_path)
    return Evidence(root, releases, index_paths, adapter, tree_bytes(root))


@pytest.fixture
def evidence(pristine: Evidence) -> Iterator[Evidence]:
    """The pristine root, restored in place (same absolute paths) before the test."""
    root = pristine.root
    if root.exists():
        shutil.rmtree(root)
    for rel, data in pristine.snapshot.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    yield pristine
