"""Seeding at scale, side by side with dpone's own first load of the same rows (issue 13, item 7).

    .venv/bin/python benchmarks/seeding.py [--rows 1000000] [--python-rows 100000] [--skip-dpone]

On the embedded PostgreSQL (or DPONE_IT_PG_* when set), in this order, one thing at a time:
1. our server-side seeding (`seed.pg_seed`: generate_series, no row through Python) of `--rows` rows, with the
   snapshot copy a case also takes (what the runner reports as `seed_seconds`);
2. dpone's first load of exactly that table (`dpone run`, full_refresh, the local profile's manifest), its wall
   time as our adapter measures it;
3. for reference, the former client-side seeding (`seed.pg_seed_copy`: rows built in Python, sent by COPY) of
   `--python-rows` rows, and the server-side seeding of the same smaller count.
Target: server-side seeding of N rows <= 0.5 x dpone's first load of N rows. Writes benchmarks/results/seeding.json.
The embedded server's data folder is a throw-away folder under the temp dir, removed at the end."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dpone_certify.dpone.adapter import DponeAdapter  # noqa: E402
from dpone_certify.matrix.local import manifests, seed  # noqa: E402
from dpone_certify.matrix.local.engines import configure_embedded, postgres_engine, stop_embedded  # noqa: E402


def _seed(engine: object, schema: str, rows: int, *, server_side: bool) -> float:
    started = time.perf_counter()
    with engine.connect() as conn:  # type: ignore[attr-defined]
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        (seed.pg_seed if server_side else seed.pg_seed_copy)(conn, schema, rows, 120)
        seed.pg_snapshot(conn, schema)  # part of a case's seeding too (the history strategies' reference)
    return time.perf_counter() - started


def _drop(engine: object, *schemas: str) -> None:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        for schema in schemas:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _dpone_first_load(engine: object, src: str, work: Path) -> dict[str, object]:
    dst, stg = f"{src}_dst", f"{src}_stg"
    with engine.connect() as conn:  # type: ignore[attr-defined]
        conn.execute(f'CREATE SCHEMA "{dst}"')
        conn.execute(f'CREATE SCHEMA "{stg}"')
    spec = manifests.ManifestSpec(
        source="postgres", strategy="full_refresh", source_schema=src, target_schema=dst, staging_schema=stg
    )
    manifest = manifests.write(spec, work / "manifest.yaml")
    env = {
        **engine.dpone_env(manifests.SINK_CONNECTION),  # type: ignore[attr-defined]
        **engine.dpone_env(manifests.SOURCE_CONNECTION["postgres"]),  # type: ignore[attr-defined]
    }
    adapter = DponeAdapter(timeout_seconds=7200)
    adapter.warm(cli=True)  # the CLI import is not part of the load
    call = adapter.cli(
        "run",
        ["run", str(manifest), "--selector", spec.selector, "--run-id", f"bench-{src}", "--format", "json"],
        cwd=work,
        env=env,
    )
    result = (call.payload or {}).get("result") if isinstance(call.payload, dict) else None
    with engine.connect() as conn:  # type: ignore[attr-defined]
        loaded = conn.execute(f'SELECT count(*) FROM "{dst}"."{seed.TABLE}"').fetchone()[0]
    return {
        "seconds": round(call.duration_seconds, 2),
        "outcome": call.outcome.value,
        "status": (result or {}).get("status") if isinstance(result, dict) else None,
        "rows_loaded": int(loaded),
        "stderr_tail": call.stderr_tail[-500:] if call.outcome.value != "ok" else "",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--python-rows", type=int, default=100_000, help="0: skip the client-side reference")
    parser.add_argument("--skip-dpone", action="store_true")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "seeding.json"))
    args = parser.parse_args()
    if not os.environ.get("DPONE_IT_PG_HOST"):
        configure_embedded(Path(tempfile.mkdtemp(prefix="dpone-certify-bench-")) / "pgdata")
    engine = postgres_engine()
    tag = uuid.uuid4().hex[:8]
    src = f"bench_seed_{tag}"
    results: dict[str, object] = {
        "rows": args.rows,
        "wide_columns": 120,
        "engine": engine.label,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }
    try:
        results["server_side_seed_seconds"] = round(_seed(engine, src, args.rows, server_side=True), 2)
        print(f"server-side seed of {args.rows} rows: {results['server_side_seed_seconds']} s", flush=True)
        if not args.skip_dpone:
            with tempfile.TemporaryDirectory(prefix="dpone-certify-bench-") as work:
                load = _dpone_first_load(engine, src, Path(work))
            results["dpone_first_load"] = load
            ratio = float(results["server_side_seed_seconds"]) / float(load["seconds"])  # type: ignore[arg-type]
            results["seed_over_first_load"] = round(ratio, 3)
            print(f"dpone first load: {load}; seed / first load = {ratio:.3f} (target <= 0.5)", flush=True)
        _drop(engine, src, f"{src}_dst", f"{src}_stg")
        if args.python_rows:
            small_srv, small_cli = f"{src}_s", f"{src}_c"
            results["reference_rows"] = args.python_rows
            results["reference_server_side_seconds"] = round(
                _seed(engine, small_srv, args.python_rows, server_side=True), 2
            )
            results["reference_client_side_seconds"] = round(
                _seed(engine, small_cli, args.python_rows, server_side=False), 2
            )
            _drop(engine, small_srv, small_cli)
            print(
                f"{args.python_rows} rows: server-side {results['reference_server_side_seconds']} s, "
                f"client-side (former) {results['reference_client_side_seconds']} s",
                flush=True,
            )
    finally:
        _drop(engine, src, f"{src}_dst", f"{src}_stg")
        stop_embedded()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
