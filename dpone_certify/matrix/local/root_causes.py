"""Named root causes of a failed `dpone run`, read from dpone's own error payload (never guessed from our side).

Each cause names the dpone module that decides it, so the remediation can point a maintainer at the code:

- `harness.manifest_rejected`: dpone refused our manifest as configuration (exit code 2, or a configuration error
  code) before moving any data. Our manifest is the cause, never a dpone run failure.
- `schema_evolution.nullability_tighten`: dpone's schema-evolution plan reads a source NOT NULL column against a
  nullable target column as a tightening and blocks (`dpone/readiness/schema_evolution.py`). On PostgreSQL the
  nullable target is one dpone created itself without the source's NOT NULL
  (`dpone/runtime/sinks/strategies/postgres/target_table_manager.py`).
- `schema_evolution.type_alias`: the plan reports a type change between two spellings of the same type
  (`varchar(64)` / `character varying(64)`, `char(36)` / `character(36)`), decided by
  `dpone/readiness/schema_type_compatibility.py`.
- `schema_evolution.type_change`: a real type difference the plan refuses.
- `strategy.unsupported:<source>:<strategy>`: the source registers no such strategy.
- `state.missing_target`: incremental state is read from a target table that does not exist yet.
- `target.missing`: a strategy that never creates its target ran against a missing one.
- `deployment.session_datestyle`: a session DateStyle other than ISO (a deployment setting) breaks reading dates.
- `sink.technical_columns_missing`: the load writes dpone's `__dpone__*` columns into a target that lacks them.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

CONFIG_CODES = frozenset(
    {
        "DPONE_LEGACY_RUNTIME_DEFAULTS_DISABLED",
        "DPONE_MANIFEST_INVALID",
        "DPONE_CONFIG_ERROR",
        "DPONE_MANIFEST_VALIDATION_ERROR",
    }
)
INCREMENTAL = frozenset({"incremental_append", "incremental_merge", "xmin"})
_UNSUPPORTED = re.compile(
    r"(?:Неподдерживаемая стратегия|Unsupported [A-Za-z]+ load strategy|Unsupported load strategy)\s*:\s*([a-z0-9_]+)"
)
_MISSING_RELATION = re.compile(r'(?<!of )relation "([^"]+)" does not exist')
_MISSING_COLUMN = re.compile(r'column "?(__dpone__[a-z_]+)"? (?:of relation "[^"]+" )?does not exist')
_CHANGE = re.compile(
    r"'change_type': '(?P<kind>\w+)', 'column': '(?P<col>[^']*)', 'source': (?P<src>\{[^{}]*\}|None), "
    r"'target': (?P<tgt>\{[^{}]*\}|None), 'breaking': (?P<breaking>True|False)"
)
_DATESTYLE = re.compile(r"can't parse (\w+) with DateStyle '([^']+)'")
_DTYPE = re.compile(r"'dtype': '([^']*)'")
_ALIASES = (
    (re.compile(r"^character varying\b"), "varchar"),
    (re.compile(r"^character\b"), "char"),
    (re.compile(r"^integer$"), "int4"),
    (re.compile(r"^int$"), "int4"),
    (re.compile(r"^bigint$"), "int8"),
    (re.compile(r"^smallint$"), "int2"),
    (re.compile(r"^double precision$"), "float8"),
    (re.compile(r"^timestamp with time zone$"), "timestamptz"),
    (re.compile(r"^timestamp without time zone$"), "timestamp"),
    (re.compile(r"^boolean$"), "bool"),
    (re.compile(r"^decimal\b"), "numeric"),
)

MODULES = {
    "harness.manifest_rejected": "dpone/manifest/batch_compiler_impl.py",
    "schema_evolution.nullability_tighten": (
        "dpone/readiness/schema_evolution.py (plan) and dpone/runtime/sinks/strategies/postgres/"
        "target_table_manager.py (creates the target without the source's NOT NULL)"
    ),
    "schema_evolution.type_alias": "dpone/readiness/schema_type_compatibility.py",
    "schema_evolution.type_change": "dpone/readiness/schema_type_compatibility.py",
    "strategy.unsupported": "dpone/runtime/sources/api/rest.py (GenericRestSource._strategy_map)",
    "state.missing_target": "dpone/runtime/sources/api/rest.py (GenericRestSource.get_state)",
    "target.missing": "dpone/runtime/sinks/strategies/postgres (the strategy's finalizer)",
    "deployment.session_datestyle": (
        "psycopg's text loaders (the driver under dpone's postgres connector) parse dates only in DateStyle ISO; "
        "dpone leaves the session DateStyle as the deployment sets it"
    ),
    "sink.technical_columns_missing": (
        "dpone/runtime/sources/strategies/postgres/postgres_incremental_extract.py (streaming delta path, "
        "delta below options.delta_size_threshold)"
    ),
}


@dataclass(frozen=True)
class RootCause:
    name: str  # blocker family, e.g. schema_evolution.nullability_tighten or strategy.unsupported:api:snapshot_diff
    module: str  # the dpone module that decides it
    detail: str  # what dpone said, shortened (columns, types, message)

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "module": self.module, "detail": self.detail}


def _canonical_type(dtype: str) -> str:
    t = " ".join(dtype.strip().lower().split())
    for pattern, short in _ALIASES:
        t = pattern.sub(short, t)
    return t.replace(" ", "")


def is_type_alias(source_type: str, target_type: str) -> bool:
    """Two spellings of one type (`varchar(64)` / `character varying(64)`), not a type change."""
    return source_type.strip().lower() != target_type.strip().lower() and _canonical_type(
        source_type
    ) == _canonical_type(target_type)


def schema_changes(text: str) -> list[dict[str, Any]]:
    """The breaking changes of a DPONE_SCHEMA_EVOLUTION_BLOCKED message (dpone prints its plan as a dict)."""
    start = text.find("{")
    if start >= 0:
        try:
            plan = ast.literal_eval(text[start:])
            if isinstance(plan, dict) and isinstance(plan.get("changes"), list):
                return [c for c in plan["changes"] if isinstance(c, dict) and c.get("breaking")]
        except (ValueError, SyntaxError):
            pass
    out = []
    for m in _CHANGE.finditer(text):  # truncated message: take what is there
        if m.group("breaking") != "True":
            continue
        src, tgt = _DTYPE.search(m.group("src") or ""), _DTYPE.search(m.group("tgt") or "")
        out.append(
            {
                "change_type": m.group("kind"),
                "column": m.group("col"),
                "source": {"dtype": src.group(1)} if src else None,
                "target": {"dtype": tgt.group(1)} if tgt else None,
                "breaking": True,
            }
        )
    return out


def _schema_causes(text: str) -> list[RootCause]:
    by_name: dict[str, list[str]] = {}
    for change in schema_changes(text):
        kind = str(change.get("change_type"))
        col = str(change.get("column"))
        src = str((change.get("source") or {}).get("dtype", ""))
        tgt = str((change.get("target") or {}).get("dtype", ""))
        if kind == "nullability_tighten":
            by_name.setdefault("schema_evolution.nullability_tighten", []).append(col)
        elif kind in ("type_change", "type_widen") and is_type_alias(src, tgt):
            by_name.setdefault("schema_evolution.type_alias", []).append(f"{col}: {src} vs {tgt}")
        elif kind in ("type_change", "type_widen"):
            by_name.setdefault("schema_evolution.type_change", []).append(f"{col}: {src} -> {tgt}")
    return [
        RootCause(name, MODULES[name], ", ".join(sorted(set(items)))[:400]) for name, items in sorted(by_name.items())
    ]


def classify(
    payload: Any, rc: int | None, *, stage: str, source: str, strategy: str, errors: list[str] | None = None
) -> list[RootCause]:
    """Root causes of one failed run. `stage` is our label of the call (load1, load2, bootstrap, ...)."""
    result = (payload or {}).get("result") if isinstance(payload, dict) else None
    result = result if isinstance(result, dict) else {}
    texts = [str(e) for e in (result.get("errors") or errors or [])]
    code = str(result.get("error_code") or "")
    text = "\n".join(texts)
    causes: list[RootCause] = []
    if rc == 2 or code in CONFIG_CODES or any(c in text for c in CONFIG_CODES):
        return [RootCause("harness.manifest_rejected", MODULES["harness.manifest_rejected"], text[:400] or code)]
    if "DPONE_SCHEMA_EVOLUTION_BLOCKED" in text or code == "DPONE_SCHEMA_EVOLUTION_BLOCKED":
        causes += _schema_causes(text)
    unsupported = _UNSUPPORTED.search(text)
    if unsupported:
        name = f"strategy.unsupported:{source}:{unsupported.group(1)}"
        causes.append(RootCause(name, MODULES["strategy.unsupported"], unsupported.group(0)[:300]))
    datestyle = _DATESTYLE.search(text)
    if datestyle:
        causes.append(RootCause("deployment.session_datestyle", MODULES["deployment.session_datestyle"], datestyle[0]))
    missing_column = _MISSING_COLUMN.search(text)
    if missing_column:
        causes.append(
            RootCause("sink.technical_columns_missing", MODULES["sink.technical_columns_missing"], missing_column[0])
        )
    missing = _MISSING_RELATION.search(text)
    if missing and not unsupported:
        if source == "api" and strategy in INCREMENTAL and stage == "load1":
            causes.append(RootCause("state.missing_target", MODULES["state.missing_target"], missing.group(0)))
        else:
            causes.append(RootCause("target.missing", MODULES["target.missing"], missing.group(0)))
    return causes
