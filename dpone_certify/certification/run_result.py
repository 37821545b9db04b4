"""dpone's run-result shape (what `dpone ops run-registry --run-result` reads), filled from what the matrix did."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dpone_certify.certification.records import GateRecord


def build_run_result(run_id: str, matrix_report: GateRecord) -> dict[str, Any]:
    cert = json.loads(Path(matrix_report.artifacts["matrix_certification"]).read_text(encoding="utf-8"))
    cases = cert["cases"]
    rows = sum(int(c["rows_moved"]) for c in cases)
    m = matrix_report.metrics
    return {
        "manifest": "dpone_certify:source_sink_matrix",
        "process": "source_sink_matrix",
        "selector": f"{len(cases)} case(s), profiles {','.join(cert['profiles'])}",
        "run_id": run_id,
        "passed": bool(cert["passed"]),
        "result": {
            "status": "success" if cert["passed"] else "failed",
            "extracted_rows": rows,
            "inserted_rows": rows,
            "updated_rows": 0,
            "final_rows": rows,
            "duration_seconds": m.get("load_seconds", 0.0),
            "errors": cert["blockers"],
            "details": {
                "cases": len(cases),
                "passed_cases": sum(c["status"] == "passed" for c in cases),
                "covered_cases": int(m.get("covered_cases", 0)),
                "evidence_status": cert["evidence_status"],
                "run_throughput": {"rows_per_second": m.get("rows_per_second", 0.0)},
            },
        },
        "attempts": 1,
        "max_attempts": 1,
        "retry_backoff_seconds": 0,
    }
