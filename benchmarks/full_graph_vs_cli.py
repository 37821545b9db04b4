"""Contract-profile full certification: our Dagster graph vs dpone's own sequential CLI chain, in one run.

Reference: the same gates as separate `dpone ...` processes, one after the other (what dpone's CI does, and
what the contracts doc §4 timed at ~49 s). Ours: `dagster asset materialize` of the whole group in one run.
Also: a focused one-case re-run (one partition plus the report) and the peak memory of the process tree.

With `--before REV` the same graph and re-run of the code location as it was at git revision REV (extracted with
`git archive`, run in this venv) are measured in the same run, interleaved before, after, after, before, so a
change of the code location's structure (e.g. the gate factory against REV 320344f, the hand-written assets) is
reported as an after/before ratio on one machine.

    .venv/bin/python benchmarks/full_graph_vs_cli.py [--rows 10000] [--repeat 1] [--before REV [--after REV]]

Writes benchmarks/results/full_graph.json. Reported as ratios; nothing here is asserted by the test suite."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "full_graph.json"


class TreeSampler:
    """Peak of the summed RSS of a process and all its descendants (forks included), sampled every 20 ms."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                root = psutil.Process(self.pid)
                procs = [root, *root.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.02)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def timed(cmd: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[float, int, int]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sampler = TreeSampler(proc.pid)
    rc = proc.wait()
    return time.perf_counter() - start, rc, sampler.stop()


PREFLIGHT = """
import sys
from pathlib import Path
from dpone.integration_matrix import DEFAULT_INTEGRATION_MATRIX
for case in DEFAULT_INTEGRATION_MATRIX.cases:
    (Path(sys.argv[1]) / f"{case.case_id}.json").write_text(case.to_json())
"""


def reference_chain(work: Path, rows: int, env: dict[str, str]) -> dict[str, object]:
    """dpone's sequential CLI chain (contracts doc §4), every step a new `dpone` process."""
    d = {
        k: work / k
        for k in (
            "plan",
            "matrix",
            "report",
            "bench",
            "registry",
            "lineage",
            "bundle",
            "strategy",
            "suite",
            "index",
            "chain",
        )
    }
    dpone = str(BIN / "dpone")
    run_result = work / "run_result.json"
    run_result.write_text(
        json.dumps(
            {
                "manifest": "m",
                "process": "p",
                "selector": "s",
                "run_id": "ref-run",
                "passed": True,
                "result": {"status": "success"},
                "attempts": 1,
                "max_attempts": 1,
                "retry_backoff_seconds": 0,
            }
        )
    )
    steps: list[tuple[str, list[str]]] = [
        (
            "plan",
            [
                dpone,
                "ops",
                "certification-automation-plan",
                "--output-dir",
                str(d["plan"]),
                "--row-count",
                str(rows),
                "--format",
                "json",
            ],
        ),
        (
            "certification_run",
            [
                dpone,
                "ops",
                "certification-run",
                "--artifact-dir",
                str(d["matrix"]),
                "--row-count",
                str(rows),
                "--format",
                "json",
            ],
        ),
        ("preflight", [sys.executable, "-c", PREFLIGHT, str(d["matrix"])]),
        (
            "matrix_report",
            [
                dpone,
                "ops",
                "integration-matrix-report",
                "--artifact-dir",
                str(d["matrix"]),
                "--output-dir",
                str(d["report"]),
                "--format",
                "json",
            ],
        ),
        (
            "benchmark_baseline",
            [
                dpone,
                "ops",
                "benchmark-baseline",
                "--output-dir",
                str(d["bench"]),
                "--metrics-json",
                '{"rows_per_second": 100, "load_seconds": 10}',
                "--baseline-json",
                '{"rows_per_second": 90, "load_seconds": {"value": 11, "direction": "lower"}}',
                "--format",
                "json",
            ],
        ),
        (
            "run_registry",
            [
                dpone,
                "ops",
                "run-registry",
                "--output-dir",
                str(d["registry"]),
                "--run-result",
                str(run_result),
                "--artifact",
                f"certification={d['report'] / 'certification_report.json'}",
                "--format",
                "json",
            ],
        ),
        (
            "lineage_export",
            [
                dpone,
                "ops",
                "lineage-export",
                "--output-dir",
                str(d["lineage"]),
                "--run-registry-entry",
                str(d["registry"] / "ref-run__run_registry.json"),
                "--format",
                "json",
            ],
        ),
        (
            "evidence_bundle",
            [
                dpone,
                "ops",
                "evidence-bundle",
                "--artifact-dir",
                str(d["bundle"]),
                "--run-id",
                "ref-run",
                "--source",
                "postgres",
                "--sink",
                "postgres",
                "--strategy",
                "incremental_merge",
                "--rows-json",
                '[{"id": 1}]',
                "--contract-json",
                '{"required_columns": ["id"]}',
                "--format",
                "json",
            ],
        ),
        (
            "strategy_bundle",
            [
                dpone,
                "strategy",
                "certification-bundle",
                "--bundle-id",
                "ref",
                "--output-dir",
                str(d["strategy"]),
                "--matrix-artifact",
                str(d["report"] / "certification_report.json"),
                "--benchmark-artifact",
                str(d["bench"] / "benchmark_baseline.json"),
                "--format",
                "json",
            ],
        ),
        (
            "certification_suite",
            [
                dpone,
                "ops",
                "certification-suite",
                "--output-dir",
                str(d["suite"]),
                "--suite-id",
                "ref",
                "--certification-report",
                str(d["matrix"] / "certification_report.json"),
                "--benchmark-baseline",
                str(d["bench"] / "benchmark_baseline.json"),
                "--evidence-bundle",
                str(d["bundle"] / "ops_evidence_bundle.json"),
                "--strategy-certification-bundle",
                str(d["strategy"] / "strategy_certification_bundle.json"),
                "--require-benchmark",
                "--require-evidence",
                "--require-strategy-certification",
                "--format",
                "json",
            ],
        ),
        (
            "artifact_index",
            [
                dpone,
                "ops",
                "artifact-index",
                "--output-dir",
                str(d["index"]),
                "--release",
                "ref",
                *[
                    x
                    for k in ("report", "bench", "registry", "lineage", "bundle", "strategy", "suite")
                    for x in ("--root", str(d[k]))
                ],
                "--format",
                "json",
            ],
        ),
        (
            "evidence_chain",
            [
                dpone,
                "ops",
                "evidence-chain",
                "--chain-dir",
                str(d["chain"]),
                "--release",
                "ref-1",
                "--artifact-index",
                str(d["index"] / "artifact_index.json"),
                "--format",
                "json",
            ],
        ),
        (
            "evidence_chain_verify",
            [dpone, "ops", "evidence-chain-verify", "--chain-dir", str(d["chain"]), "--format", "json"],
        ),
    ]
    timings: dict[str, float] = {}
    peak = 0
    for name, cmd in steps:
        if name == "preflight":
            d["matrix"].mkdir(parents=True, exist_ok=True)
        wall, _rc, rss = timed(cmd, cwd=work, env=env)
        timings[name] = round(wall, 3)
        peak = max(peak, rss)
    return {"wall_seconds": round(sum(timings.values()), 2), "steps": timings, "peak_rss_mb": round(peak / 2**20)}


def ours(work: Path, rows: int, env: dict[str, str], src: Path = REPO) -> dict[str, object]:
    """The full graph and a focused re-run of the code location whose source is `src`."""
    sys.path.insert(0, str(REPO))
    from dpone_certify.matrix.catalogue import case_ids

    ids = case_ids()
    env = {**env, "PYTHONPATH": str(src), "DPONE_CERTIFY_EVIDENCE_ROOT": str(work / "evidence")}
    where = subprocess.run(
        [sys.executable, "-c", "import dpone_certify; print(dpone_certify.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()  # fmt: skip (cwd as the measured commands': `python -c` puts it first on sys.path)
    if not Path(where).resolve().is_relative_to(src.resolve()):
        raise SystemExit(f"the code location under test is imported from {where}, not from {src}")
    config = json.dumps({"resources": {"certify": {"config": {"row_count": rows}}}})
    dagster = str(BIN / "dagster")
    full = [
        dagster,
        "asset",
        "materialize",
        "-m",
        "dpone_certify.definitions",
        "--select",
        "group:full_certification",
        "--partition-range",
        f"{ids[0]}...{ids[-1]}",
        "--config-json",
        config,
    ]
    wall, rc, rss = timed(full, cwd=work, env=env)
    focused = [
        dagster,
        "asset",
        "materialize",
        "-m",
        "dpone_certify.definitions",
        "--select",
        "source_sink_matrix,matrix_report",
        "--partition",
        "postgres_to_postgres__incremental_merge",
        "--config-json",
        config,
    ]
    f_wall, f_rc, f_rss = timed(focused, cwd=work, env=env)
    return {
        "full_graph": {"wall_seconds": round(wall, 2), "exit_code": rc, "peak_rss_mb": round(rss / 2**20)},
        "focused_rerun": {"wall_seconds": round(f_wall, 2), "exit_code": f_rc, "peak_rss_mb": round(f_rss / 2**20)},
    }


def extract(rev: str, into: Path) -> Path:
    """The tracked files of the code location at `rev` (no checkout, no change to this work tree)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def before_after(work: Path, rows: int, env: dict[str, str], rev: str, after: str | None) -> dict[str, object]:
    """Full graph and focused re-run at `rev` and at `after` (default: this work tree), interleaved before,
    after, after, before."""
    src = {"before": extract(rev, work / "before-src"), "after": extract(after, work / "after-src") if after else REPO}
    sides: dict[str, list[dict[str, object]]] = {"before": [], "after": []}
    for i, side in enumerate(("before", "after", "after", "before")):
        (work / f"{i}").mkdir()
        sides[side].append(ours(work / f"{i}", rows, env, src[side]))

    def mean(side: str, what: str) -> float:
        walls = [float(r[what]["wall_seconds"]) for r in sides[side]]  # type: ignore[index]
        return sum(walls) / len(walls)

    def spread(what: str) -> float:
        """The larger relative spread between one side's two runs: the noise the ratio is read against."""
        out = []
        for side in sides:
            walls = [float(r[what]["wall_seconds"]) for r in sides[side]]  # type: ignore[index]
            out.append((max(walls) - min(walls)) / (sum(walls) / len(walls)))
        return round(max(out), 3)

    return {
        "rev": rev,
        "after": after or "work tree",
        "runs": sides,
        "noise_full_graph": spread("full_graph"),
        "noise_focused": spread("focused_rerun"),
        "ratio_full_graph_after_over_before": round(mean("after", "full_graph") / mean("before", "full_graph"), 3),
        "ratio_focused_after_over_before": round(mean("after", "focused_rerun") / mean("before", "focused_rerun"), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--before", metavar="REV", help="also measure the code location at this git revision")
    parser.add_argument("--after", metavar="REV", help="with --before: compare with this revision, not the work tree")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env["PYTHONPATH"] = str(REPO)
    runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="dpc-bench-") as tmp:
            work = Path(tmp)
            (work / "ref").mkdir()
            (work / "ours").mkdir()
            ref = reference_chain(work / "ref", args.rows, env)
            mine = ours(work / "ours", args.rows, env)
            run = {
                "reference": ref,
                "ours": mine,
                "ratio_full_graph": round(mine["full_graph"]["wall_seconds"] / ref["wall_seconds"], 3),  # type: ignore[index]
            }
            if args.before:
                run["before_after"] = before_after(work / "before-after", args.rows, env, args.before, args.after)
            runs.append(run)
    result = {
        "rows": args.rows,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpu, load avg {os.getloadavg()[0]:.2f} at end",
        "runs": runs,
        "targets": {
            "ratio_full_graph": "<= 0.5",
            "ratio_full_graph_after_over_before": "<= 1 + noise",
            "ratio_focused_after_over_before": "<= 1 + noise",
            "peak_rss_mb": "< 1024",
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for run in runs:
        r, o = run["reference"], run["ours"]
        print(f"reference sequential dpone CLI chain: {r['wall_seconds']} s (peak {r['peak_rss_mb']} MB per step)")
        full, focused = o["full_graph"], o["focused_rerun"]
        print(f"dagster full graph (one run):        {full['wall_seconds']} s, exit {full['exit_code']}, ", end="")
        print(f"peak tree RSS {full['peak_rss_mb']} MB")
        print(f"ratio ours/reference:                {run['ratio_full_graph']}")
        print(f"focused one-case re-run:             {focused['wall_seconds']} s, peak {focused['peak_rss_mb']} MB")
        if "before_after" in run:
            ba = run["before_after"]
            print(
                f"{ba['after']} / {ba['rev']} (interleaved): full graph {ba['ratio_full_graph_after_over_before']}, ",
                end="",
            )
            print(f"focused re-run {ba['ratio_focused_after_over_before']} ", end="")
            print(f"(noise between repeats: {ba['noise_full_graph']}, {ba['noise_focused']})")


if __name__ == "__main__":
    main()
