"""Evidence benchmarks (issue 5): store growth of a repeated run, and verification time of a long chain.

    .venv/bin/python benchmarks/evidence_bench.py [--releases 50] [--row-count 10000]

1. Store growth. dpone's contract-profile harness (`dpone ops certification-run`, all 237 cases, real output)
   runs twice into two folders; both are put into one content-addressed store. Reported: raw bytes per run,
   bytes the first run added (compression only), bytes the repeated run added, and that as a ratio of its raw
   size (target < 10%).
2. Chain verification. A chain of N releases (each: real benchmark-baseline and strategy bundle outputs,
   indexed by dpone's artifact-index, appended with `append_release`) is verified with and without dpone's
   own verify. A second chain has one release whose index lists the whole contract run, to show re-hash
   throughput on large evidence.

Prints a table and writes benchmarks/results/evidence.json (no machine paths in it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dpone_certify.dpone.adapter import DponeAdapter, Outcome
from dpone_certify.evidence.chain import append_release, unique_release_id
from dpone_certify.evidence.store import EvidenceStore
from dpone_certify.evidence.verify import verify_evidence

RESULTS = Path(__file__).resolve().parent / "results" / "evidence.json"


def dpone(adapter: DponeAdapter, gate: str, argv: list[str]) -> Any:
    call = adapter.cli(gate, argv)
    if call.outcome is not Outcome.OK:
        raise SystemExit(call.describe())
    return call.payload


def tree_size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def contract_run(adapter: DponeAdapter, out: Path, row_count: int) -> dict[str, Any]:
    started = time.perf_counter()
    payload = dpone(
        adapter,
        "certification_run",
        [
            "ops",
            "certification-run",
            "--artifact-dir",
            str(out),
            "--row-count",
            str(row_count),
            "--format",
            "json",
        ],
    )
    count, size = tree_size(out)
    return {
        "cases": payload.get("case_count"),
        "files": count,
        "raw_bytes": size,
        "seconds": round(time.perf_counter() - started, 2),
    }


def bench_store(adapter: DponeAdapter, work: Path, row_count: int) -> dict[str, Any]:
    root = work / "store-root"
    store = EvidenceStore(root)
    runs: list[dict[str, Any]] = []
    for k in (1, 2):
        out = work / f"contract-run-{k}" / "matrix"
        info = contract_run(adapter, out, row_count)
        before = store.stats().stored_bytes
        started = time.perf_counter()
        stored = store.put_tree(out, producer="matrix", run_id=f"run-{k}", prefix="matrix/")
        store.write_run_manifest(f"run-{k}", stored)
        put_seconds = time.perf_counter() - started
        added = store.stats().stored_bytes - before
        identical = sum(1 for s in stored if not s.new)
        runs.append(
            {
                **info,
                "put_seconds": round(put_seconds, 2),
                "added_store_bytes": added,
                "added_ratio_of_raw": round(added / info["raw_bytes"], 5),
                "files_already_stored": identical,
                "files_new": len(stored) - identical,
            }
        )
    started = time.perf_counter()
    check = store.verify_objects()
    stats = store.stats()
    return {
        "row_count": row_count,
        "runs": runs,
        "store": {
            "objects": stats.object_count,
            "stored_bytes": stats.stored_bytes,
            "logical_raw_bytes": stats.logical_raw_bytes,
            "stored_over_logical_raw": round(stats.ratio, 5),
            "verify_objects_seconds": round(time.perf_counter() - started, 2),
            "verify_objects_ok": check.ok,
        },
        "repeated_run_growth_ratio": runs[1]["added_ratio_of_raw"],
        "target_ratio": 0.10,
        "meets_target": runs[1]["added_ratio_of_raw"] < 0.10,
    }


def bench_chain(adapter: DponeAdapter, work: Path, releases: int) -> dict[str, Any]:
    root = work / "chain-root"
    append_seconds: list[float] = []
    build_started = time.perf_counter()
    for k in range(releases):
        run = f"run-{k:03d}"
        run_dir = root / "runs" / run
        release = unique_release_id(f"0.88.{k}", run)
        dpone(
            adapter,
            "benchmark_baseline",
            ["ops", "benchmark-baseline", "--output-dir", str(run_dir / "benchmark_baseline")]
            + ["--metrics-json", json.dumps({"rows_per_second": 100 + k})]
            + ["--baseline-json", json.dumps({"rows_per_second": 90}), "--format", "json"],
        )
        dpone(
            adapter,
            "strategy_bundle",
            [
                "strategy",
                "certification-bundle",
                "--bundle-id",
                run,
                "--output-dir",
                str(run_dir / "strategy"),
            ]
            + ["--format", "json"],
        )
        index_dir = run_dir / "artifact_index"
        dpone(
            adapter,
            "artifact_index",
            [
                "ops",
                "artifact-index",
                "--root",
                str(run_dir),
                "--release",
                release,
                "--output-dir",
                str(index_dir),
            ]
            + ["--format", "json"],
        )
        started = time.perf_counter()
        result = append_release(
            root, release_id=release, artifact_index_path=index_dir / "artifact_index.json", adapter=adapter
        )
        append_seconds.append(time.perf_counter() - started)
        if not result.appended:
            raise SystemExit(f"append failed: {result.blockers} {result.detail}")
    build_seconds = time.perf_counter() - build_started

    timings: dict[str, Any] = {}
    for label, with_dpone in (("ours_only", False), ("ours_plus_dpone", True)):
        samples = []
        report = None
        for _ in range(3):
            started = time.perf_counter()
            report = verify_evidence(root, run_dpone=with_dpone, adapter=adapter)
            samples.append(time.perf_counter() - started)
            assert report.intact, report.breaks
        assert report is not None
        timings[label] = {
            "median_seconds": round(sorted(samples)[1], 4),
            "samples": [round(s, 4) for s in samples],
            "entries": report.entry_count,
            "artifacts_rehashed": report.artifacts_checked,
            "dpone_verified": report.dpone_verified,
        }
    return {
        "releases": releases,
        "build_seconds": round(build_seconds, 2),
        "append_seconds_median": round(sorted(append_seconds)[len(append_seconds) // 2], 4),
        "append_seconds_max": round(max(append_seconds), 4),
        "verify": timings,
    }


def bench_big_index(adapter: DponeAdapter, work: Path) -> dict[str, Any]:
    """One release whose index lists the whole first contract run (239 files, ~120 MB)."""
    root = work / "big-root"
    run_dir = work / "contract-run-1"
    release = unique_release_id("0.88.0-contract", "run-1")
    index_dir = root / "runs" / "run-1" / "artifact_index"
    call = adapter.cli(
        "artifact_index",
        [
            "ops",
            "artifact-index",
            "--root",
            str(run_dir),
            "--release",
            release,
            "--output-dir",
            str(index_dir),
        ]
        + ["--format", "json"],
    )
    if call.outcome is not Outcome.OK:  # rc 1 is expected: UNVERIFIED behavior files fail the trust rule
        raise SystemExit(call.describe())
    result = append_release(
        root, release_id=release, artifact_index_path=index_dir / "artifact_index.json", adapter=adapter
    )
    if not result.appended:
        raise SystemExit(f"append failed: {result.blockers}")
    started = time.perf_counter()
    report = verify_evidence(root, run_dpone=False, adapter=adapter)
    seconds = time.perf_counter() - started
    _, raw = tree_size(run_dir)
    return {
        "artifacts_rehashed": report.artifacts_checked,
        "raw_bytes": raw,
        "verify_seconds": round(seconds, 3),
        "mb_per_second": round(raw / 1e6 / seconds, 1),
        "intact": report.intact,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=50)
    parser.add_argument("--row-count", type=int, default=10_000)
    args = parser.parse_args(argv)
    adapter = DponeAdapter(timeout_seconds=600)
    adapter.warm()
    with tempfile.TemporaryDirectory(prefix="evidence-bench-") as tmp:
        work = Path(tmp)
        store = bench_store(adapter, work, args.row_count)
        chain = bench_chain(adapter, work, args.releases)
        big = bench_big_index(adapter, work)
    results = {
        "benchmark": "evidence",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": sys.platform},
        "store_growth": store,
        "chain_verification": chain,
        "large_index_verification": big,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")

    r1, r2 = store["runs"]
    print("store growth (contract profile, all cases, real dpone output)")
    print(
        f"  run 1: {r1['files']} files, {r1['raw_bytes']:,} B raw -> added {r1['added_store_bytes']:,} B to the store"
    )
    print(
        f"  run 2: {r2['files']} files, {r2['raw_bytes']:,} B raw -> added {r2['added_store_bytes']:,} B "
        f"({r2['added_ratio_of_raw']:.2%} of raw; {r2['files_already_stored']} files already stored) "
        f"target < 10%: {'met' if store['meets_target'] else 'NOT met'}"
    )
    print(f"  store: {store['store']['objects']} objects, {store['store']['stored_bytes']:,} B")
    v = chain["verify"]
    print(f"chain of {chain['releases']} releases (append median {chain['append_seconds_median']} s)")
    print(
        f"  verify, ours only: {v['ours_only']['median_seconds']} s "
        f"({v['ours_only']['artifacts_rehashed']} artifacts re-hashed)"
    )
    print(f"  verify, ours + dpone's: {v['ours_plus_dpone']['median_seconds']} s")
    print(
        f"large index: {big['artifacts_rehashed']} artifacts, {big['raw_bytes']:,} B re-hashed in "
        f"{big['verify_seconds']} s ({big['mb_per_second']} MB/s)"
    )
    print(f"results: {RESULTS.relative_to(Path(__file__).resolve().parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
