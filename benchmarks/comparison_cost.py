"""Cost of a candidate-vs-control run against a single-build run of the same cases, measured side by side
(issue 13: a comparison run costs at most 2.2 x a single-build run).

    .venv/bin/python benchmarks/comparison_cost.py --control-python PY [--case ID ...] [--rows 1000]
        [--comparison-repeats 1|2] [--rounds 1]

Each round runs, in this order, single then comparison then comparison then single (--rounds 1 runs single,
comparison), each the full certification graph on the local profile in-process with its own evidence root under the
temp dir: the single run certifies this venv's dpone; the comparison run adds `release_comparison` with the given
control build. Reports wall seconds of each and the ratio of the means. Writes benchmarks/results/comparison_cost.json.
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
from statistics import mean

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import dagster as dg  # noqa: E402


def _run(cases: list[str], config: dict[str, object], comparison: bool) -> float:
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from dpone_certify.definitions import ASSETS, defs

    keys = [a.key for a in ASSETS] + ([dg.AssetKey("release_comparison")] if comparison else [])
    tags = (
        {"dagster/partition": cases[0]}
        if len(cases) == 1
        else {ASSET_PARTITION_RANGE_START_TAG: cases[0], ASSET_PARTITION_RANGE_END_TAG: cases[-1]}
    )
    with tempfile.TemporaryDirectory(prefix="dpone-certify-cmpcost-") as tmp, dg.instance_for_test() as instance:
        run_config = {"resources": {"certify": {"config": {**config, "evidence_root": str(Path(tmp) / "ev")}}}}
        started = time.perf_counter()
        defs.resolve_implicit_global_asset_job_def().execute_in_process(
            asset_selection=keys, instance=instance, tags=tags, run_config=run_config, raise_on_error=False
        )
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--control-python", required=True)
    parser.add_argument("--case", action="append", default=None)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--comparison-repeats", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="1: single, comparison; 2: single, cmp, cmp, single")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "comparison_cost.json"))
    args = parser.parse_args()
    cases = args.case or ["postgres_to_postgres__full_refresh"]
    base: dict[str, object] = {"profile": "local", "row_count": args.rows, "max_parallel": 1}
    compare = {**base, "control_python": args.control_python, "comparison_repeats": args.comparison_repeats}
    order = ["single", "comparison"] if args.rounds < 2 else ["single", "comparison", "comparison", "single"]
    seconds: dict[str, list[float]] = {"single": [], "comparison": []}
    for kind in order:
        took = _run(cases, compare if kind == "comparison" else base, kind == "comparison")
        seconds[kind].append(round(took, 2))
        print(f"{kind}: {took:.1f} s", flush=True)
    result = {
        "cases": cases,
        "rows": args.rows,
        "comparison_repeats": args.comparison_repeats,
        "order": order,
        "seconds": seconds,
        "ratio": round(mean(seconds["comparison"]) / mean(seconds["single"]), 3),
        "target_ratio": 2.2,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
