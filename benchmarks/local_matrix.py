"""Wall time of the whole local matrix (every local case: embedded PostgreSQL + MariaDB + the REST fixture), as
`source_sink_matrix` runs it (`run_local_cases`, `max_parallel` cases at once).

    PYTHONPATH=<tree> .venv/bin/python benchmarks/local_matrix.py --label before|after [--rows 2000]
        [--max-parallel 2] [--pairs postgres_to_postgres,mysql_to_postgres,api_to_postgres]

Run it once on the tree before a change and once after, on the same machine, one right after the other; the
ratio after/before goes to the README. mysql_to_postgres needs DPONE_IT_MYSQL_* (a MariaDB account with a
password: dpone refuses an empty one). Appends one entry to benchmarks/results/local_matrix.json (in the tree
the script lives in; --results overrides), printing per-case times too."""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

from dpone_certify.dpone.adapter import DponeAdapter
from dpone_certify.matrix.catalogue import cases_by_id
from dpone_certify.matrix.local import LocalContext, run_local_cases
from dpone_certify.matrix.records import CaseSettings

RESULTS = Path(__file__).resolve().parent / "results" / "local_matrix.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--label", required=True)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--max-parallel", type=int, default=2)
    parser.add_argument("--pairs", default="postgres_to_postgres,mysql_to_postgres,api_to_postgres")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    pairs = args.pairs.split(",")
    cases = [c for c in cases_by_id().values() if c.pair_id in pairs]
    with tempfile.TemporaryDirectory(prefix="dpc-local-matrix-") as tmp:
        ctx = LocalContext(
            out_dir=Path(tmp),
            run_id=str(uuid.uuid4()),
            adapter=DponeAdapter(),
            settings=CaseSettings(row_count=args.rows, change_ratio=0.2, delete_ratio=0.05),
            max_parallel=args.max_parallel,
        )
        ctx.adapter.warm(cli=True)  # not timed: the same one-off start-up in both trees
        started = time.perf_counter()
        records = run_local_cases(cases, ctx)
        wall = time.perf_counter() - started
    rows = [
        {
            "case_id": r.case_id,
            "status": r.status.value,
            "load_seconds": round(r.load_seconds, 3),
            "reconcile_seconds": round(r.reconcile_seconds or 0.0, 3),
            "blockers": [b.rsplit(":", 1)[0] for b in r.blockers],
            "variants": [
                {"name": v["name"], "passed": v["passed"], "blockers": [b.rsplit(":", 1)[0] for b in v["blockers"]]}
                for v in getattr(r, "variants", [])
            ],
        }
        for r in records.values()
    ]
    entry = {
        "label": args.label,
        "rows": args.rows,
        "cases": len(cases),
        "max_parallel": args.max_parallel,
        "wall_seconds": round(wall, 2),
        "dpone_runs_seconds": round(sum(r["load_seconds"] for r in rows), 2),
        "statuses": {s: sum(r["status"] == s for r in rows) for s in sorted({r["status"] for r in rows})},
        "machine": f"{platform.machine()}, {os.cpu_count()} cpu, load {os.getloadavg()[0]:.2f} at start",
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "per_case": rows,
    }
    print(json.dumps({k: v for k, v in entry.items() if k != "per_case"}, indent=2))
    history = json.loads(args.results.read_text()) if args.results.exists() else {"runs": []}
    history["runs"].append(entry)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(history, indent=2) + "\n")


if __name__ == "__main__":
    main()
