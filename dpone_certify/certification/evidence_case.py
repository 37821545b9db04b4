"""Which matrix case feeds dpone's evidence bundle, and the rows it moved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dpone_certify.certification.records import GateRecord

PREFERRED_EVIDENCE_CASE = "postgres_to_postgres__incremental_merge"


def pick_evidence_case(wanted: str | None, matrix_report: GateRecord) -> dict[str, Any] | None:
    """The case named by `wanted` (None: the preferred case, else the first covered one)."""
    cert = json.loads(Path(matrix_report.artifacts["matrix_certification"]).read_text(encoding="utf-8"))
    covered = [c for c in cert["cases"] if c["status"] in ("passed", "failed")]
    for case in covered:
        if case["case_id"] == (wanted or PREFERRED_EVIDENCE_CASE):
            return case
    return covered[0] if covered and not wanted else None


def case_rows(matrix_report: GateRecord, case_id: str) -> list[Any]:
    """The target rows the case's behavior file records (the report's own input copy of this run)."""
    behavior = Path(matrix_report.output_dir) / "input" / f"{case_id}__behavior.json"
    return json.loads(behavior.read_text(encoding="utf-8")).get("actual_rows", []) if behavior.exists() else []


def split_case_id(case_id: str) -> tuple[str, str, str]:
    """`<source>_to_<sink>__<strategy>` -> (source, sink, strategy)."""
    source, rest = case_id.split("_to_", 1)
    sink, strategy = rest.split("__", 1)
    return source, sink, strategy
