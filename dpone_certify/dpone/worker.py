"""Operations executed inside an interpreter that has dpone installed.

This file imports only the standard library and dpone, so it runs unchanged in a foreign interpreter
(`python worker.py <op> <json-args>`, the isolated mode for a wheel built elsewhere) and in the children of
the fork server (`forkserver.py`, the default mode). Each op prints its result to stdout and returns an exit code.
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


def op_matrix_report(args: dict[str, Any]) -> int:
    """The body of dpone's `ops integration-matrix-report` command (commands/integration_matrix_report_cmd.py):
    the same service class, files and JSON, without importing dpone's command layer (~0.8 s) or whole CLI
    (~3 s), which dominates a focused one-case re-run."""
    from dpone.ops.integration_matrix_report import IntegrationMatrixReportService

    report = IntegrationMatrixReportService().build(artifact_dir=args["artifact_dir"], output_dir=args["output_dir"])
    json.dump(report.to_dict(), sys.stdout)
    return 0 if report.passed else 1


def op_catalogue(args: dict[str, Any]) -> int:
    from dpone.integration_matrix import DEFAULT_INTEGRATION_MATRIX
    from dpone.version import installed_version

    cases = [case.to_dict() for case in DEFAULT_INTEGRATION_MATRIX.cases]
    json.dump({"dpone_version": installed_version(), "cases": cases}, sys.stdout)
    return 0


def op_identity(args: dict[str, Any]) -> int:
    """Who this build is, read from this interpreter: dpone's version, a digest of the files its distribution
    installed (content as it is on disk now, so a patched copy differs from the original), and the interpreter.

    The digest covers every file the distribution's RECORD lists with a hash, except those an installer writes
    differently per venv (scripts under bin/ carry the venv's path; INSTALLER, REQUESTED, direct_url.json, RECORD),
    so two installs of the same wheel have the same digest. `files` (optional) returns {path: sha256}."""
    import base64
    import hashlib
    import importlib.metadata
    import platform

    from dpone.version import installed_version

    dist = importlib.metadata.distribution("dpone")
    skip_names = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}
    files: dict[str, str] = {}
    modified: list[str] = []
    for entry in dist.files or []:
        rel = str(entry)
        if entry.hash is None or rel.startswith("..") or entry.name in skip_names:
            continue
        try:
            content = Path(str(entry.locate())).read_bytes()
        except OSError:
            modified.append(rel)
            continue
        raw = hashlib.sha256(content).digest()
        files[rel] = raw.hex()
        recorded = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
        if entry.hash.mode == "sha256" and entry.hash.value != recorded:
            modified.append(rel)
    overall = hashlib.sha256("".join(f"{p}\t{h}\n" for p, h in sorted(files.items())).encode("utf-8"))
    payload: dict[str, Any] = {
        "dpone_version": installed_version(),
        "distribution_version": dist.version,
        "installed_digest": overall.hexdigest(),
        "file_count": len(files),
        "modified_since_install": sorted(modified),
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
    }
    if args.get("files"):
        payload["files"] = files
    json.dump(payload, sys.stdout)
    return 0


def behavior_json(behavior: Any) -> str:
    """The JSON content of dpone's `MatrixStrategyBehaviorResult.to_json()`, written compactly from the
    dataclass fields: dpone's to_json deep-copies through `dataclasses.asdict` and indents with the pure-Python
    encoder, ~7x slower for ~500 KB per case (tests compare both as parsed JSON)."""
    import dataclasses

    fields = {f.name: getattr(behavior, f.name) for f in dataclasses.fields(behavior)}
    return json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"


def op_simulate(args: dict[str, Any]) -> int:
    """dpone's mock_contract simulation for the given cases: the preflight file and the behavior file that
    `dpone ops integration-matrix-report` reads, with the content dpone's own harness writes."""
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
        behavior_path.write_text(behavior_json(behavior), encoding="utf-8")
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
    """Import what the CLI needs so forks start warm (the ~2 s import is paid once per fork server)."""
    from dpone.cli.parser import build_parser
    from dpone.integration_matrix import DEFAULT_INTEGRATION_MATRIX  # noqa: F401

    build_parser()
    return 0


OPS = {
    "cli": op_cli,
    "matrix_report": op_matrix_report,
    "catalogue": op_catalogue,
    "identity": op_identity,
    "simulate": op_simulate,
    "warm": op_warm,
}


def dispatch(op: str, args: dict[str, Any]) -> int:
    return OPS[op](args)


if __name__ == "__main__":
    sys.exit(dispatch(sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}))
