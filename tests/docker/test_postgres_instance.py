"""docker/dagster.postgres.yaml against the machine's real PostgreSQL: a throwaway database, a real
materialization through the CLI, then the run, its events and its check evaluation read back from Postgres."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PG: dict[str, str] = {"host": "127.0.0.1", "port": "5432", "user": "postgres", "dbname": "test"}
DAGSTER = Path(sys.executable).parent / "dagster"


def _connect(dbname: str) -> Any:
    import psycopg

    return psycopg.connect(
        host=str(PG["host"]), port=int(PG["port"]), user=str(PG["user"]), dbname=dbname, autocommit=True,
        connect_timeout=3,
    )  # fmt: skip


@pytest.fixture
def pg_database() -> Iterator[str]:
    try:
        _connect(PG["dbname"]).close()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"the machine's PostgreSQL at {PG['host']}:{PG['port']} is not reachable: {exc}")
    name = f"dagster_test_{uuid.uuid4().hex[:12]}"
    with _connect(PG["dbname"]) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with _connect(PG["dbname"]) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
@pytest.mark.slow
def test_materialization_is_stored_in_postgres(pg_database: str, tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "docker" / "dagster.postgres.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": str(PG["host"]),
        "DAGSTER_PG_PORT": str(PG["port"]),
        "DAGSTER_PG_USER": str(PG["user"]),
        "DAGSTER_PG_PASSWORD": "unused-with-trust-auth",
        "DAGSTER_PG_DB": pg_database,
        "DAGSTER_COMPUTE_LOG_DIR": str(tmp_path / "compute_logs"),
        "DPONE_CERTIFY_EVIDENCE_ROOT": str(tmp_path / "evidence"),
    }
    env.pop("DPONE_CERTIFY_PROFILE", None)

    info = subprocess.run(
        [str(DAGSTER), "instance", "info"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert info.returncode == 0, info.stderr[-2000:]
    assert "DockerRunLauncher" in info.stdout and "PostgresRunStorage" in info.stdout, info.stdout

    # The same file loaded in this process: every part is the class the deployment expects (the Docker client is
    # only created when a run is launched, so this needs no Docker engine).
    import dagster as dg

    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            if key.startswith(("DAGSTER_PG_", "DAGSTER_COMPUTE")):
                mp.setenv(key, value)
        instance = dg.DagsterInstance.from_config(str(home))
        try:
            kinds = {
                type(part).__name__
                for part in (instance.run_storage, instance.event_log_storage, instance.schedule_storage,
                             instance.run_coordinator, instance.run_launcher)
            }  # fmt: skip
            limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits  # type: ignore[union-attr]
        finally:
            instance.dispose()
    assert kinds == {"PostgresRunStorage", "PostgresEventLogStorage", "PostgresScheduleStorage",
                     "QueuedRunCoordinator", "DockerRunLauncher"}  # fmt: skip
    assert {"key": "dpone_certify/engine-mssql", "value": "true", "limit": 1} in limits

    # The CLI executes in its own process: the DockerRunLauncher is configured but not used (no Docker here).
    mat = subprocess.run(
        [str(DAGSTER), "asset", "materialize", "-m", "dpone_certify.definitions", "--select", "certification_plan"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert mat.returncode == 0, mat.stderr[-3000:]

    with _connect(pg_database) as conn:
        runs = conn.execute("SELECT run_id, status FROM runs").fetchall()
        assert [status for _run_id, status in runs] == ["SUCCESS"]
        run_id = runs[0][0]
        types = {
            row[0] for row in conn.execute("SELECT dagster_event_type FROM event_logs WHERE run_id = %s", (run_id,))
        }
        assert {"ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION", "STEP_SUCCESS"} <= types
        assert types & {"RUN_SUCCESS", "PIPELINE_SUCCESS"}  # run events keep their legacy names in storage
        checks = conn.execute(
            "SELECT asset_key, check_name, execution_status FROM asset_check_executions WHERE run_id = %s",
            (run_id,),
        ).fetchall()
        assert [(c[1], c[2]) for c in checks] == [("verdict", "SUCCEEDED")]
    assert (tmp_path / "evidence" / "runs" / run_id / "certification_plan" / "gate_record.json").exists()
