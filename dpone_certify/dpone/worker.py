"""Operations executed inside an interpreter that has dpone installed.

This file imports only the standard library and dpone, so it runs unchanged in a foreign interpreter
(`python worker.py <op> <json-args>`, the isolated mode for a wheel built elsewhere) and inside a fork of
our own process (the in-process mode). Each op prints its result to stdout and returns an exit code.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any


def op_cli(args: dict[str, Any]) -> int:
    from dpone.cli.main import main

    try:
        main(list(args["argv"]))
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def op_command(args: dict[str, Any]) -> int:
    """One dpone CLI command through its own command module (`dpone.commands.<module>`), with its own argument
    parser, skipping dpone's top-level parser and runtime context: the same code and output as
    `dpone <argv>` for commands that take no context, without importing the whole CLI (~3 s)."""
    import argparse
    import importlib
    import logging

    module = importlib.import_module(f"dpone.commands.{args['module']}")
    parser = argparse.ArgumentParser(prog="dpone")
    module.register_parser(parser.add_subparsers(dest="command", required=True))
    parsed = parser.parse_args(list(args["argv"]))
    handler = getattr(module, args["function"])
    return int(handler(parsed, ctx=None, logger=logging.getLogger("dpone")))


def op_catalogue(args: dict[str, Any]) -> int:
    from dpone.integration_matrix import DEFAULT_INTEGRATION_MATRIX
    from dpone.version import installed_version

    cases = [case.to_dict() for case in DEFAULT_INTEGRATION_MATRIX.cases]
    json.dump({"dpone_version": installed_version(), "cases": cases}, sys.stdout)
    return 0


def op_simulate(args: dict[str, Any]) -> int:
    """dpone's mock_contract simulation for the given cases: the preflight file and the behavior file that
    `dpone ops integration-matrix-report` reads, written exactly as dpone's own harness writes them."""
    from dpone.integration_matrix import DEFAULT_INTEGRATION_MATRIX

    wanted = list(args["case_ids"])
    by_id = {case.case_id: case for case in DEFAULT_INTEGRATION_MATRIX.cases}
    out_dir = Path(args["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for case_id in wanted:
        case = by_id.get(case_id)
        if case is None:
            results.append({"case_id": case_id, "error": "unknown_case"})
            continue
        started = time.perf_counter()
        behavior = case.simulate_mock_strategy_behavior(
            row_count=args.get("row_count"),
            change_ratio=args.get("change_ratio"),
            delete_ratio=args.get("delete_ratio"),
        )
        preflight_path = out_dir / f"{case_id}.json"
        behavior_path = out_dir / f"{case_id}__behavior.json"
        preflight_path.write_text(case.to_json(), encoding="utf-8")
        behavior_path.write_text(behavior.to_json(), encoding="utf-8")
        results.append(
            {
                "case_id": case_id,
                "preflight_path": str(preflight_path),
                "behavior_path": str(behavior_path),
                "passed": behavior.passed,
                "expected_row_count": behavior.expected_row_count,
                "actual_row_count": behavior.actual_row_count,
                "expected_checksum": behavior.expected_checksum,
                "actual_checksum": behavior.actual_checksum,
                "changed_row_count": behavior.changed_row_count,
                "deleted_row_count": behavior.deleted_row_count,
                "wide_column_count": behavior.wide_column_count,
                "duration_seconds": time.perf_counter() - started,
            }
        )
    json.dump({"results": results}, sys.stdout)
    return 0


def op_warm(args: dict[str, Any]) -> int:
    """Import what the CLI needs so forks start warm (the ~2 s import is paid once per process)."""
    from dpone.cli.parser import build_parser
    from dpone.integration_matrix import DEFAULT_INTEGRATION_MATRIX  # noqa: F401

    build_parser()
    return 0


OPS = {"cli": op_cli, "command": op_command, "catalogue": op_catalogue, "simulate": op_simulate, "warm": op_warm}


def dispatch(op: str, args: dict[str, Any]) -> int:
    return OPS[op](args)


if __name__ == "__main__":
    sys.exit(dispatch(sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}))
