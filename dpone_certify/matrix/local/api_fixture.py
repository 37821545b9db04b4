"""Local HTTP fixture for dpone's generic REST (`api`) source.

Serves the rows of a reference table (seeded in PostgreSQL, so it can be mutated and reconciled with SQL like
any other source) as JSON pages the way `dpone.runtime.connectors.api.rest.GenericRestConnector` reads them:
`GET <endpoint>?page=N&page_size=M` -> `{"data": [...], "page": N}`; `records_path: data`; page pagination stops at
the first empty page. One server per process on 127.0.0.1 (random port), started lazily and shared (thread-safe);
each case registers its own dataset path. dpone's forked children reach it over loopback.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from dpone_certify.matrix.local.engines import Engine
from dpone_certify.matrix.local.seed import KEY, TABLE

PAGE_SIZE = 1000


def json_safe(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact; the declared schema casts it back to numeric(18,4)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


class _Dataset:
    def __init__(self, engine: Engine, schema: str, table: str) -> None:
        self.engine = engine
        self.schema = schema
        self.table = table
        self.requests = 0

    def page(self, page: int, size: int) -> list[dict[str, Any]]:
        self.requests += 1
        sql = (
            f'SELECT * FROM "{self.schema}"."{self.table}" ORDER BY "{KEY}" LIMIT {int(size)} '
            f"OFFSET {int(max(0, page - 1) * size)}"
        )
        with self.engine.connect() as conn, conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
            cur.execute(sql)
            names = [d.name for d in cur.description or []]
            return [{n: json_safe(v) for n, v in zip(names, row, strict=True)} for row in cur.fetchall()]


class ApiFixture:
    def __init__(self) -> None:
        self._datasets: dict[str, _Dataset] = {}
        self._lock = threading.Lock()
        fixture = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                parsed = urlparse(self.path)
                name = parsed.path.strip("/").split("/")[0]
                with fixture._lock:
                    dataset = fixture._datasets.get(name)
                if dataset is None:
                    self._send(404, {"error": f"unknown dataset {name}"})
                    return
                query = parse_qs(parsed.query)
                try:
                    page = int(query.get("page", ["1"])[0])
                    size = int(query.get("page_size", [str(PAGE_SIZE)])[0])
                    rows = dataset.page(page, size)
                except Exception as exc:  # noqa: BLE001 - report as HTTP 500 to dpone
                    self._send(500, {"error": type(exc).__name__})
                    return
                self._send(200, {"data": rows, "page": page, "page_size": size})

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="dpone-certify-api", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def register(self, name: str, engine: Engine, schema: str, table: str = TABLE) -> str:
        with self._lock:
            self._datasets[name] = _Dataset(engine, schema, table)
        return f"{self.base_url}/{name}"

    def requests(self, name: str) -> int:
        with self._lock:
            dataset = self._datasets.get(name)
        return dataset.requests if dataset else 0

    def unregister(self, name: str) -> None:
        with self._lock:
            self._datasets.pop(name, None)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


_fixture: ApiFixture | None = None
_fixture_lock = threading.Lock()


def api_fixture() -> ApiFixture:
    global _fixture
    with _fixture_lock:
        if _fixture is None:
            _fixture = ApiFixture()
        return _fixture
