"""Fixtures for the local-profile tests: real engines, real dpone runs (no mocks)."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dpone_certify.dpone.adapter import DponeAdapter
from dpone_certify.matrix.catalogue import cases_by_id
from dpone_certify.matrix.local import LocalContext
from dpone_certify.matrix.records import CaseSettings, CaseSpec
from tests.builds import interpreter_cache, old_python, old_wheel  # noqa: F401  (dpone 0.87.4, test_manifest_builds)

MACHINE_PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
MACHINE_MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "database": "test"}
MYSQL_TEST_USER_PREFIX = "dpone_certify_it_"

CONFIG_ENV_PREFIXES = ("DPONE_IT_",)


@pytest.fixture(autouse=True)
def _isolated_engine_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test decides which engines are configured; start from none (embedded PostgreSQL)."""
    for name in list(os.environ):
        if name.startswith(CONFIG_ENV_PREFIXES):
            monkeypatch.delenv(name, raising=False)


def case(case_id: str) -> CaseSpec:
    return cases_by_id()[case_id]


def make_ctx(
    out_dir: Path, *, rows: int = 500, max_parallel: int = 2, secrets_: tuple[str, ...] = (), keep_schemas: bool = False
) -> LocalContext:
    return LocalContext(
        out_dir=out_dir,
        run_id=str(uuid.uuid4()),
        settings=CaseSettings(row_count=rows, change_ratio=0.20, delete_ratio=0.05, wide_columns=120),
        adapter=DponeAdapter(timeout_seconds=600, secrets=list(secrets_)),
        max_parallel=max_parallel,
        keep_schemas=keep_schemas,
    )


def machine_pg_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(connect_timeout=3, **MACHINE_PG):  # type: ignore[arg-type]
            return True
    except Exception:  # noqa: BLE001
        return False


def machine_mysql_reachable() -> bool:
    try:
        import pymysql

        pymysql.connect(connect_timeout=3, **MACHINE_MYSQL).close()  # type: ignore[arg-type]
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture
def machine_pg(monkeypatch: pytest.MonkeyPatch) -> str:
    """Configure DPONE_IT_PG_* for the machine's PostgreSQL with a secret password (trust auth ignores it)."""
    if not machine_pg_reachable():
        pytest.skip("the machine's PostgreSQL at 127.0.0.1:5432 (user postgres, database test) is not reachable")
    password = "pg-secret-" + secrets.token_hex(8)
    monkeypatch.setenv("DPONE_IT_PG_HOST", MACHINE_PG["host"])
    monkeypatch.setenv("DPONE_IT_PG_PORT", str(MACHINE_PG["port"]))
    monkeypatch.setenv("DPONE_IT_PG_USER", MACHINE_PG["user"])
    monkeypatch.setenv("DPONE_IT_PG_DATABASE", MACHINE_PG["dbname"])
    monkeypatch.setenv("DPONE_IT_PG_PASSWORD", password)
    return password


@pytest.fixture
def machine_mysql(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Configure DPONE_IT_MYSQL_* for the machine's MariaDB. dpone refuses passwordless MySQL credentials, so
    the test creates a throw-away account with a password through the passwordless root account."""
    if not machine_mysql_reachable():
        pytest.skip("the machine's MariaDB at 127.0.0.1:3306 (user root, database test) is not reachable")
    import pymysql

    password = "my-secret-" + secrets.token_hex(8)
    # One account per test: two test runs on one machine must not drop each other's account mid-run.
    user = MYSQL_TEST_USER_PREFIX + secrets.token_hex(4)
    conn = pymysql.connect(autocommit=True, **MACHINE_MYSQL)  # type: ignore[arg-type]
    with conn.cursor() as cur:
        for host in ("%%", "localhost", "127.0.0.1"):  # %% : pymysql formats the statement with `%`
            cur.execute(f"CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY %s", (password,))
            cur.execute(f"ALTER USER '{user}'@'{host}' IDENTIFIED BY %s", (password,))
            cur.execute(f"GRANT ALL ON *.* TO '{user}'@'{host}'", ())
    conn.close()
    monkeypatch.setenv("DPONE_IT_MYSQL_HOST", MACHINE_MYSQL["host"])
    monkeypatch.setenv("DPONE_IT_MYSQL_PORT", str(MACHINE_MYSQL["port"]))
    monkeypatch.setenv("DPONE_IT_MYSQL_USER", user)
    monkeypatch.setenv("DPONE_IT_MYSQL_DATABASE", MACHINE_MYSQL["database"])
    monkeypatch.setenv("DPONE_IT_MYSQL_PASSWORD", password)
    yield password
    conn = pymysql.connect(autocommit=True, **MACHINE_MYSQL)  # type: ignore[arg-type]
    with conn.cursor() as cur:
        for host in ("%%", "localhost", "127.0.0.1"):
            cur.execute(f"DROP USER IF EXISTS '{user}'@'{host}'", ())
    conn.close()


def files_containing(root: Path, needle: str) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            try:
                if needle in path.read_text(encoding="utf-8", errors="ignore"):
                    hits.append(path)
            except OSError:
                continue
    return hits
