"""Each covered matrix case as an in-toto test-result statement (a JSON Lines bundle)."""

from __future__ import annotations

import json
from pathlib import Path

from dpone_certify.matrix.records import CaseRecord, CaseStatus, EvidenceStatus


def write_case_statements(path: Path, records: list[CaseRecord], input_dir: Path) -> Path:
    """Subjects are the case's evidence files by sha256. A pass on simulated evidence is WARNED, never PASSED."""
    from dpone_certify.evidence.intoto import case_result_statement

    lines = []
    for r in records:
        files = {name: input_dir / name for name in (f"{r.case_id}.json", f"{r.case_id}__behavior.json")}
        files.update({name: Path(p) for name, p in r.artifacts.items() if Path(p).is_file()})
        if not r.covered or not all(Path(p).is_file() for p in files.values()):
            continue
        configuration = [
            {
                "name": "dpone_certify.case",
                "annotations": {
                    "profile": r.profile.value,
                    "evidence_status": r.evidence_status.value,
                    "engine": r.engine,
                    "run_id": r.run_id,
                    "blockers": r.blockers,
                },
            }
        ]
        passed = r.status is CaseStatus.PASSED
        unverified = r.evidence_status is EvidenceStatus.UNVERIFIED
        statement = case_result_statement(
            r.case_id, passed, files, configuration=configuration, warned=passed and unverified
        )
        lines.append(json.dumps(statement, sort_keys=True))
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    return path
