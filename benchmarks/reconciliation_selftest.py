"""Cost of the reconciliation self-test per run (the gate `reconciliation_selftest`), per engine leg.

    .venv/bin/python benchmarks/reconciliation_selftest.py [--repeat 3]

PostgreSQL: the embedded server (or DPONE_IT_PG_* when set). The MariaDB -> PostgreSQL leg runs when
DPONE_IT_MYSQL_* is set (see the README, "The local profile"); both legs then run at once. The embedded server
is started before the first timing. Writes benchmarks/results/reconciliation_selftest.json."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dpone_certify.matrix.local import selftest  # noqa: E402
from dpone_certify.matrix.local.engines import postgres_engine  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=selftest.DEFAULT_ROWS)
    parser.add_argument("--wide-columns", type=int, default=120)
    args = parser.parse_args()
    postgres_engine()  # start the embedded server outside the timings
    runs = []
    for _ in range(args.repeat):
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        result = selftest.run_selftest(f"selftest_bench_{uuid.uuid4().hex[:8]}", rows=args.rows,
                                       wide_columns=args.wide_columns)  # fmt: skip
        wall = time.perf_counter() - started
        runs.append(
            {
                "wall_seconds": round(wall, 3),
                "passed": result.passed,
                "corruptions_seeded": result.seeded,
                "corruptions_caught": result.caught,
                "legs": {
                    leg.name: {
                        "seconds": round(leg.seconds, 3),
                        "control_and_corruptions_seconds": round(
                            (leg.control.seconds if leg.control else 0) + sum(o.seconds for o in leg.corruptions), 3
                        ),
                        "source": leg.source.get("label"),
                    }
                    for leg in result.legs
                },
                "legs_not_run": sorted(result.skipped),
                "load_average_1min_before": round(load_before, 2),
            }
        )
        print(json.dumps(runs[-1]))
    out = REPO / "benchmarks" / "results" / "reconciliation_selftest.json"
    out.write_text(
        json.dumps(
            {
                "rows": args.rows,
                "wide_columns": args.wide_columns,
                "corruption_classes": [c.name for c in selftest.CORRUPTIONS],
                "machine": f"{platform.machine()}, {os.cpu_count()} cpu",
                "note": "seconds include seeding the source (Python row generation) and the exact copy; the "
                "machine was shared with other jobs (see load_average_1min_before)",
                "runs": runs,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
