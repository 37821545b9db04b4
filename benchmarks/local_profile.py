"""Local profile at 10,000 rows: dpone's own run time per case vs the time our independent reconciliation adds,
and rows/s per strategy (ours, measured around dpone's calls) beside dpone's self-reported figure.

    .venv/bin/python benchmarks/local_profile.py [--rows 10000] [--strategies full_refresh,incremental_merge,...]
        [--pairs postgres_to_postgres,mysql_to_postgres,api_to_postgres]

Runs each pair's cases on the embedded PostgreSQL (or DPONE_IT_PG_* when set); mysql_to_postgres needs
DPONE_IT_MYSQL_* (see the README, "The local profile"). One case at a time so the timings do not share the 2 cores.
Writes benchmarks/results/local_profile.json."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dpone_certify.dpone.adapter import DponeAdapter  # noqa: E402
from dpone_certify.matrix.catalogue import cases_by_id  # noqa: E402
from dpone_certify.matrix.local import LocalContext, run_local_cases  # noqa: E402
from dpone_certify.matrix.records import CaseSettings  # noqa: E402

STRATEGIES = [
    "full_refresh",
    "incremental_append",
    "incremental_merge",
    "replace",
    "snapshot_diff",
    "partition_replace",
    "scd2",
    "backfill",
    "xmin",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--pairs", default="postgres_to_postgres")
    args = parser.parse_args()
    rows_out = []
    catalogue = cases_by_id()
    selected = [
        catalogue[f"{pair}__{strategy}"]
        for pair in args.pairs.split(",")
        for strategy in args.strategies.split(",")
        if f"{pair}__{strategy}" in catalogue
    ]
    with tempfile.TemporaryDirectory(prefix="dpc-local-bench-") as tmp:
        for case in selected:
            ctx = LocalContext(
                out_dir=Path(tmp) / case.case_id,
                run_id=str(uuid.uuid4()),
                adapter=DponeAdapter(),
                settings=CaseSettings(row_count=args.rows, change_ratio=0.2, delete_ratio=0.05),
                max_parallel=1,
            )
            rec = run_local_cases([case], ctx)[case.case_id]
            reconcile = rec.reconcile_seconds or 0.0
            rows_out.append(
                {
                    "case_id": rec.case_id,
                    "engines": rec.engine,
                    "status": rec.status.value,
                    "blockers": rec.blockers,
                    "rows_moved": rec.rows_moved,
                    "dpone_seconds": round(rec.load_seconds, 3),
                    "reconcile_seconds": round(reconcile, 3),
                    "reconcile_over_dpone": round(reconcile / rec.load_seconds, 3) if rec.load_seconds else None,
                    "dpone_reported_rows_per_second": rec.dpone_rows_per_second,
                    "measured_rows_per_second": round(rec.rows_moved / rec.load_seconds, 1)
                    if rec.load_seconds
                    else None,
                }
            )
            r = rows_out[-1]
            print(
                f"{case.case_id:45} {r['status']:8} dpone {r['dpone_seconds']:6.2f} s  "
                f"reconcile {r['reconcile_seconds']:5.2f} s "
                f"({r['reconcile_over_dpone']})  dpone rows/s {r['dpone_reported_rows_per_second']}  "
                f"measured rows/s {r['measured_rows_per_second']}"
            )
    out = REPO / "benchmarks" / "results" / "local_profile.json"
    out.write_text(
        json.dumps(
            {
                "rows": args.rows,
                "engine": "DPONE_IT_PG_* postgres"
                if os.environ.get("DPONE_IT_PG_HOST")
                else "embedded PostgreSQL (pgserver)",
                "machine": f"{platform.machine()}, {os.cpu_count()} cpu",
                "target": "reconcile_over_dpone <= 0.25",
                "cases": rows_out,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
