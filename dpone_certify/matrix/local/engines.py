"""Engine discovery for the local profile: which databases really run here, and how to reach them.

All env var names and their defaults live in `ENGINE_SETTINGS` (one place, so the docker compose file in
`docker/compose.engines.yaml` can be tested against them). PostgreSQL is always available: the embedded server
from the `pgserver` wheel is started once per process unless `DPONE_IT_PG_HOST` points to another server.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dpone_certify import settings

COMPOSE_FILE = "docker/compose.engines.yaml"
EMBEDDED_PG_DIR_ENV = "DPONE_CERTIFY_EMBEDDED_PG_DIR"


@dataclass(frozen=True)
class EngineSetting:
    """How one engine family is configured: an env prefix, its variables with defaults, the compose service."""

    family: str
    prefix: str
    variables: Mapping[str, str]  # suffix -> default ("" = no default, must be set)
    required: tuple[str, ...]  # suffixes whose presence means "configured"
    compose_services: tuple[str, ...]

    def env_names(self) -> list[str]:
        return [f"{self.prefix}_{suffix}" for suffix in self.variables]

    def configured(self, environ: Mapping[str, str] | None = None) -> bool:
        env = settings.environ() if environ is None else environ
        return all(env.get(f"{self.prefix}_{suffix}", "").strip() for suffix in self.required)

    def values(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        env = settings.environ() if environ is None else environ
        return {
            suffix: (env.get(f"{self.prefix}_{suffix}", "").strip() or default)
            for suffix, default in self.variables.items()
        }

    def enable_hint(self) -> str:
        """A few words for a one-line summary, e.g. `set DPONE_IT_MSSQL_HOST`."""
        return "set " + " and ".join(f"{self.prefix}_{s}" for s in self.required)

    def how_to_enable(self) -> str:
        names = ", ".join(f"{self.prefix}_{s}" + (f" (default {d})" if d else "") for s, d in self.variables.items())
        services = " ".join(self.compose_services)
        return (
            f"start `docker compose -f {COMPOSE_FILE} up -d {services}` (or any reachable {self.family}) and set "
            f"{names}"
        )


def _sql_setting(
    family: str, prefix: str, *, port: str, database: str, user: str, required: tuple[str, ...] = ("HOST",)
) -> EngineSetting:
    """A SQL engine: the same five variables everywhere (a host without default), one compose service."""
    variables = {"HOST": "", "PORT": port, "DATABASE": database, "USER": user, "PASSWORD": ""}
    return EngineSetting(family, prefix, variables, required, compose_services=(family,))


ENGINE_SETTINGS: dict[str, EngineSetting] = {
    "postgres": _sql_setting("postgres", "DPONE_IT_PG", port="5432", database="postgres", user="postgres"),
    "mysql": _sql_setting("mysql", "DPONE_IT_MYSQL", port="3306", database="test", user="root"),
    # SQL Server's sa account has no empty or default password: configured means a password too.
    "mssql": _sql_setting(
        "mssql", "DPONE_IT_MSSQL", port="1433", database="master", user="sa", required=("HOST", "PASSWORD")
    ),
    "clickhouse": _sql_setting("clickhouse", "DPONE_IT_CLICKHOUSE", port="8123", database="default", user="default"),
    "kafka": EngineSetting(
        family="kafka",
        prefix="DPONE_IT_KAFKA",
        variables={"BOOTSTRAP": "", "SCHEMA_REGISTRY_URL": "http://127.0.0.1:8081"},
        required=("BOOTSTRAP",),
        compose_services=("kafka", "schema-registry"),
    ),
}

# Families whose engines this harness can drive end to end (seed, mutate, reconcile). The others are
# discovered (so their cases say how to enable them) but their runners are not implemented yet.
DRIVEN_SOURCES = frozenset({"postgres", "mysql", "api"})
DRIVEN_SINKS = frozenset({"postgres"})
NEVER_LOCAL_SINKS = frozenset({"bigquery"})


@dataclass
class Engine:
    """A reachable database. `password` is never written to evidence (see `describe`)."""

    family: str  # postgres | mysql
    label: str  # e.g. embedded-postgres-16, postgres-15.6, mariadb-10.11.6
    kind: str  # embedded | configured
    host: str
    port: int
    database: str
    user: str
    password: str = field(default="", repr=False)

    def describe(self) -> dict[str, str]:
        """Evidence-safe description (no password, no socket path of this machine)."""
        host = "unix-socket" if self.host.startswith("/") else self.host
        return {"family": self.family, "label": self.label, "kind": self.kind, "host": host, "port": str(self.port)}

    def dpone_env(self, connection_id: str, *, database: str | None = None) -> dict[str, str]:
        """`DPONE_CONN_<ID>_*` variables for dpone's legacy env connections (contracts §5)."""
        key = "".join(ch if ch.isalnum() else "_" for ch in connection_id).upper()
        return {
            f"DPONE_CONN_{key}_HOST": self.host,
            f"DPONE_CONN_{key}_PORT": str(self.port),
            f"DPONE_CONN_{key}_DATABASE": database or self.database,
            f"DPONE_CONN_{key}_USERNAME": self.user,
            f"DPONE_CONN_{key}_USER": self.user,
            # PostgreSQL: dpone wants a password even for trust/peer auth (the embedded server ignores it).
            # MySQL/MariaDB: a password sent to a passwordless account is refused, so send the real (empty) one.
            f"DPONE_CONN_{key}_PASSWORD": self.password or ("" if self.family == "mysql" else "unused"),
        }

    def connect(self, *, database: str | None = None, autocommit: bool = True) -> Any:
        if self.family == "postgres":
            import psycopg

            return psycopg.connect(
                host=self.host,
                port=self.port,
                dbname=database or self.database,
                user=self.user,
                password=self.password or None,
                autocommit=autocommit,
                connect_timeout=10,
                options="-c TimeZone=UTC",  # reconciliation reads wall times in UTC
            )
        if self.family == "mysql":
            import pymysql

            return pymysql.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password,
                database=database or self.database,
                autocommit=autocommit,
                charset="utf8mb4",
                connect_timeout=10,
                init_command="SET time_zone = '+00:00'",
                local_infile=True,
            )
        raise ValueError(f"no driver for engine family {self.family}")


class EngineUnavailable(Exception):
    """`code` is the blocker kind: `engine.unavailable` (not reachable / not configured) or `engine.auth_failed`
    (the server answered and refused the credentials)."""

    def __init__(self, family: str, reason: str, code: str = "engine.unavailable") -> None:
        super().__init__(reason)
        self.family = family
        self.reason = reason
        self.code = code


# What PostgreSQL (SQLSTATE 28P01/28000) and MySQL/MariaDB (1045, 1044, 1698) say when they refuse credentials.
_AUTH_MARKERS = ("password authentication failed", "authentication failed", "access denied for user")
_AUTH_CODES = {"28P01", "28000", 1045, 1044, 1698}


def is_auth_failure(exc: BaseException) -> bool:
    """The driver error means the server was reached and refused the login (not: the server is unreachable)."""
    sqlstate = getattr(exc, "sqlstate", None)
    args = getattr(exc, "args", ())
    mysql_code = args[0] if args and isinstance(args[0], int) else None
    if sqlstate in _AUTH_CODES or mysql_code in _AUTH_CODES:
        return True
    return any(marker in str(exc).lower() for marker in _AUTH_MARKERS)


_lock = threading.Lock()
_embedded: dict[str, Any] = {}
_cache: dict[tuple[str, tuple[tuple[str, str], ...]], Engine] = {}


_embedded_config: dict[str, Any] = {"dir": None, "keep": False}


def configure_embedded(data_dir: str | Path | None, *, keep: bool = False) -> None:
    """Use `data_dir` for the embedded server's data folder (the `embedded_pg_dir` setting; None: the default);
    `keep` leaves the folder in place when the server stops (to inspect kept schemas). Takes effect the next time
    the server starts."""
    with _lock:
        _embedded_config["dir"] = Path(data_dir).expanduser().resolve() if data_dir else None
        _embedded_config["keep"] = keep


def _embedded_dir() -> Path:
    configured = _embedded_config["dir"]
    if configured is not None:
        return Path(configured)
    raw = settings.env(EMBEDDED_PG_DIR_ENV)
    if raw:
        return Path(raw)
    return Path(tempfile.gettempdir()) / f"dpone-certify-pg-{os.getuid()}"


def embedded_postgres() -> Engine:
    """Start (once per process, thread-safe) the embedded PostgreSQL of the `pgserver` wheel."""
    with _lock:
        server = _embedded.get("server")
        if server is None:
            import pgserver

            pgdata = _embedded_dir()
            pgdata.parent.mkdir(parents=True, exist_ok=True)
            # "delete": when the last process using it lets go (stop_embedded, or at exit), pgserver stops the
            # server and removes the data folder, so seeded cases do not pile up on disk between runs.
            server = pgserver.get_server(pgdata, cleanup_mode="stop" if _embedded_config["keep"] else "delete")
            _embedded["server"] = server
        from urllib.parse import parse_qs, urlparse

        uri = server.get_uri()
        socket_dir = parse_qs(urlparse(uri).query).get("host", [str(server.pgdata)])[0]
        engine = Engine(
            family="postgres",
            label="embedded-postgres",
            kind="embedded",
            host=socket_dir,
            port=5432,
            database="postgres",
            user="postgres",
        )
    engine.label = f"embedded-postgres-{_server_major(engine)}"
    return engine


def _server_major(engine: Engine) -> str:
    with engine.connect() as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]).split(".")[0] if row else "unknown"


def _env_key(setting: EngineSetting, environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(setting.values(environ).items()))


def _configured_engine(
    family: str, env: Mapping[str, str], version: Callable[[Engine], str], label: Callable[[str], str]
) -> Engine:
    """The engine `<PREFIX>_*` configures, probed once for reachability and its version, then cached."""
    setting = ENGINE_SETTINGS[family]
    key = (family, _env_key(setting, env))
    with _lock:
        if key in _cache:
            return _cache[key]
    v = setting.values(env)
    engine = Engine(
        family=family,
        label=family,
        kind="configured",
        host=v["HOST"],
        port=int(v["PORT"]),
        database=v["DATABASE"],
        user=v["USER"],
        password=v["PASSWORD"],
    )
    try:
        server_version = version(engine)
    except Exception as exc:  # noqa: BLE001 - a refused login is auth_failed; any other driver error is "not reachable"
        if is_auth_failure(exc):
            raise EngineUnavailable(
                family,
                f"engine.auth_failed: the {family} server at {setting.prefix}_HOST refused the login of "
                f"{setting.prefix}_USER={v['USER']} (wrong {setting.prefix}_PASSWORD or missing grant)",
                code="engine.auth_failed",
            ) from None
        raise EngineUnavailable(
            family, f"{setting.prefix}_HOST is set but the server is not reachable: {type(exc).__name__}"
        ) from None
    engine.label = label(server_version)
    with _lock:
        _cache[key] = engine
    return engine


def _pg_version(engine: Engine) -> str:
    with engine.connect() as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


def _mysql_version(engine: Engine) -> str:
    with engine.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        row = cur.fetchone()
    return str(row[0]) if row else "unknown"


def _mysql_label(version: str) -> str:
    flavour = "mariadb" if "mariadb" in version.lower() else "mysql"
    return f"{flavour}-{version.split('-')[0]}"


def postgres_engine(environ: Mapping[str, str] | None = None) -> Engine:
    """The Postgres configured by `DPONE_IT_PG_*`, else the embedded one."""
    env = settings.environ() if environ is None else environ
    if not ENGINE_SETTINGS["postgres"].configured(env):
        return embedded_postgres()
    return _configured_engine("postgres", env, _pg_version, lambda version: f"postgres-{version.split()[0]}")


def mysql_engine(environ: Mapping[str, str] | None = None) -> Engine:
    env = settings.environ() if environ is None else environ
    setting = ENGINE_SETTINGS["mysql"]
    if not setting.configured(env):
        raise EngineUnavailable("mysql", f"MySQL/MariaDB is not configured; {setting.how_to_enable()}")
    engine = _configured_engine("mysql", env, _mysql_version, _mysql_label)
    if not engine.password:
        raise EngineUnavailable(
            "mysql",
            "dpone 0.88 refuses MySQL credentials without a password ('Incomplete MySQL credentials: host, "
            f"database, username, password required'); set {setting.prefix}_USER/{setting.prefix}_PASSWORD to an "
            "account that has a password (the compose service `mysql` in "
            f"{COMPOSE_FILE} creates one)",
        )
    return engine


def engine_for(family: str, role: str, environ: Mapping[str, str] | None = None) -> Engine | None:
    """Resolve an engine for a case role (source or sink). `None` for the api source (the fixture is
    backed by a PostgreSQL reference table). Raises `EngineUnavailable` with how-to-enable text."""
    if family == "postgres":
        return postgres_engine(environ)
    if family == "mysql" and role == "source":
        return mysql_engine(environ)
    if family == "api" and role == "source":
        return None
    if role == "sink" and family in NEVER_LOCAL_SINKS:
        raise EngineUnavailable(
            family,
            f"{family} is a managed cloud service with no local engine; its cases are certified by the live "
            "profile (vendor credentials), never locally",
        )
    setting = ENGINE_SETTINGS.get(family)
    if setting is None:
        raise EngineUnavailable(family, f"no local engine is known for {family}")
    env = settings.environ() if environ is None else environ
    if not setting.configured(env):
        return_reason = f"{family} is not configured; {setting.how_to_enable()}"
        raise EngineUnavailable(family, return_reason)
    raise EngineUnavailable(
        family,
        f"{family} is configured ({setting.prefix}_*), but this harness does not yet drive {family} as a "
        f"{role} (seed, mutate and reconcile are implemented for sources {sorted(DRIVEN_SOURCES)} and sinks "
        f"{sorted(DRIVEN_SINKS)})",
    )


def stop_embedded() -> None:
    """Stop the embedded server now and remove its data folder, unless another process still uses it (then the
    last one does); it is also done at process exit."""
    with _lock:
        server = _embedded.pop("server", None)
    if server is not None:
        server.cleanup()
