"""Per-case flow of the local profile and the bounded parallel runner.

Each case runs as several variants, each its own evidence (own schemas, manifest, dpone runs, reconciliation and
outcome, in its own subfolder of the case):

- `documented`: what a user writes by following dpone's docs page for the pair, defaults only. Its outcome is the
  case's verdict (what users get).
- `reference`: the most careful configuration dpone supports, so a PASS is possible wherever dpone really works
  (target created beforehand with the source's types and NOT NULL, no primary key for history targets; COPY path
  for postgres incremental extracts; a new backfill campaign per run; replace bootstrapped by a full_refresh).
- `reference_streaming` (postgres incremental strategies): the reference target with dpone's default delta
  threshold, so the second load takes the streaming delta path instead of COPY.

Per variant: seed -> manifest -> `dpone run` (initial load) -> reconcile -> mutate the source (updates, physical
deletes, inserts) -> `dpone run` again -> reconcile against what dpone's strategy contract promises
(`matrix/contracts/strategies.yaml`). Failed runs get named root causes from dpone's own error payload
(`root_causes.py`). The case writes dpone's preflight + `<case_id>__behavior.json` with a `variants` list.
Variants of a case run in parallel (separate schemas; dpone runs in forks of one fork server).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import threading
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from dpone_certify.dpone.adapter import DponeAdapter, DponeCall, Outcome
from dpone_certify.matrix.contracts import StrategyContract, contract_for, load_contracts
from dpone_certify.matrix.local import manifests, reconcile, root_causes, seed
from dpone_certify.matrix.local.api_fixture import api_fixture
from dpone_certify.matrix.local.engines import (
    DRIVEN_SINKS,
    DRIVEN_SOURCES,
    Engine,
    EngineUnavailable,
    engine_for,
)
from dpone_certify.matrix.records import CaseRecord, CaseSettings, CaseSpec, CaseStatus, EvidenceStatus
from dpone_certify.secrets import redact, redact_obj
from dpone_certify.settings import Profile

SAMPLE_ROWS = 18
SCHEMA_EVOLUTION_BLOCKED = "DPONE_SCHEMA_EVOLUTION_BLOCKED"
_CODE = re.compile(r"\b(DPONE_[A-Z0-9_]{3,})\b")
_EXC = re.compile(r"^([A-Z][A-Za-z]+(?:Error|Exception|Column|Table|Schema)[A-Za-z]*):")
CONVERGING = frozenset(
    {"full_refresh", "snapshot_diff", "partition_replace", "backfill", "incremental_merge", "xmin", "cdc"}
)
HISTORY = frozenset({"incremental_append", "scd2"})
INCREMENTAL = frozenset({"incremental_append", "incremental_merge", "xmin"})


@dataclasses.dataclass(frozen=True)
class Variant:
    """One configuration a case runs under (see the module docstring)."""

    name: str
    tag: str  # suffix of the variant's object names ("" for documented)
    description: str
    precreate_target: bool = False  # CREATE TABLE target (LIKE source INCLUDING ALL) before the first load
    delta_size_threshold: int | None = None
    distinct_backfill_ids: bool = False
    bootstrap_full_refresh: bool = False
    # Deployment settings of the dpone process and of the sessions it opens (libpq reads PGTZ / PGDATESTYLE for
    # every connection dpone makes): the same data, another deployment.
    dpone_env: tuple[tuple[str, str], ...] = ()
    base: str | None = None  # a deployment variant: the variant whose configuration it repeats

    def configuration(self) -> dict[str, Any]:
        """Every field but the variant's names, as its record states them: a new setting cannot be left out."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in _VARIANT_NAMES}
        out["dpone_env"] = dict(self.dpone_env)
        out["deployment_variant_of"] = out.pop("base")
        return out


_VARIANT_NAMES = frozenset({"name", "tag", "description"})


# Technical columns a strategy requires of its target (docs/load-strategies.md, "Strategy support matrix"), with
# dpone's registered types (dpone/contracts/technical_columns.py); only for targets we create beforehand.
REQUIRED_TECHNICAL_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "snapshot_diff": (("__dpone__row_hash", "varchar(64)"),),
    "scd2": (
        ("__dpone__row_hash", "varchar(64)"),
        ("__dpone__valid_from_at", "timestamp"),  # NOT NULL in dpone's registry; added empty, so nullable here
        ("__dpone__valid_to_at", "timestamp"),
        ("__dpone__is_current", "boolean"),
    ),
}

# A deployment variant this machine reproduces: the time zone of dpone's process and of the PostgreSQL sessions
# it opens (a half-hour offset west of UTC, so any value read or written through session-local text differs from
# UTC), and a server-style DateStyle. One case carries them: a variant costs two dpone runs.
SESSION_TIMEZONE: tuple[tuple[str, str], ...] = (("TZ", "America/St_Johns"), ("PGTZ", "America/St_Johns"))
SESSION_DATESTYLE: tuple[tuple[str, str], ...] = (("PGDATESTYLE", "SQL, DMY"),)
SESSION_VARIANT_CASES = frozenset({"postgres_to_postgres__full_refresh"})

DOCUMENTED = Variant("documented", "", "dpone's docs page for the pair, defaults only (the case verdict)")


def variants_for(case: CaseSpec) -> list[Variant]:
    pg_incremental = case.source == "postgres" and case.strategy in INCREMENTAL
    reference = Variant(
        "reference",
        "r",
        "most careful supported configuration: target created beforehand with the source's types and NOT NULL"
        + (" (no primary key: the target keeps several versions of a key)" if case.strategy in HISTORY else "")
        + ("; delta_size_threshold 0 (COPY path)" if pg_incremental else "")
        + ("; a new backfill_id per run" if case.strategy == "backfill" else "")
        + ("; bootstrapped by a full_refresh (replace never creates its target)" if case.strategy == "replace" else ""),
        precreate_target=True,
        delta_size_threshold=0 if pg_incremental else None,
        distinct_backfill_ids=case.strategy == "backfill",
        bootstrap_full_refresh=case.strategy == "replace",
    )
    out = [DOCUMENTED, reference]
    if case.case_id in SESSION_VARIANT_CASES:
        out += [
            dataclasses.replace(
                DOCUMENTED,
                name="documented_session_tz",
                tag="t",
                description="documented configuration; dpone's process and its sessions in a UTC-03:30 time zone "
                "(the path where dpone rewrites timestamptz to timestamp)",
                dpone_env=SESSION_TIMEZONE,
                base=DOCUMENTED.name,
            ),
            dataclasses.replace(
                reference,
                name="reference_session_datestyle",
                tag="d",
                description="reference configuration; dpone's sessions with DateStyle 'SQL, DMY'",
                dpone_env=SESSION_DATESTYLE,
                base=reference.name,
            ),
        ]
    if pg_incremental:
        out.append(
            Variant(
                "reference_streaming",
                "s",
                "reference target with dpone's default delta_size_threshold: a small delta takes the streaming path",
                precreate_target=True,
            )
        )
    return out


class LocalContext(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    out_dir: Path
    run_id: str
    settings: CaseSettings
    adapter: DponeAdapter
    max_parallel: int = 2
    profile: Profile = Profile.LOCAL
    # Drop each case's source/target/staging schemas once its evidence is written (repeated runs on a configured
    # server would otherwise pile up ~2 tables of row_count x 124 columns per case). Keep them to inspect a case.
    keep_schemas: bool = False
    # Variants to run besides `documented` (which always runs: it is the verdict); None = every variant of the
    # case. A focused re-run (or a test) can ask for fewer.
    variants: list[str] | None = None


def short_run_id(run_id: str) -> str:
    cleaned = re.sub(r"[^a-z0-9]", "", run_id.lower())
    return (cleaned or "run")[:8]


def object_name(role: str, run_id: str, case_id: str) -> str:
    """Per-case schema / database name; unique per run and case, <= 63 chars."""
    import zlib

    name = f"{role}_{short_run_id(run_id)}_{case_id}".lower()
    if len(name) > 63:
        name = f"{name[:54]}_{zlib.crc32(name.encode()):08x}"
    return name


def run_local_cases(cases: Sequence[CaseSpec], ctx: LocalContext) -> dict[str, CaseRecord]:
    """Run every case (bounded by `ctx.max_parallel`); one case's failure never stops the others."""
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    ctx.adapter.warm(cli=True)  # dpone's CLI imported once, before any case is timed
    results: dict[str, CaseRecord] = {}
    lock = threading.Lock()

    def one(case: CaseSpec) -> None:
        record = run_case(case, ctx)
        with lock:
            results[case.case_id] = record

    with ThreadPoolExecutor(max_workers=max(1, ctx.max_parallel), thread_name_prefix="local-case") as pool:
        list(pool.map(one, cases))
    return {case.case_id: results[case.case_id] for case in cases}


def run_case(case: CaseSpec, ctx: LocalContext) -> CaseRecord:
    case_dir = ctx.out_dir / case.case_id
    if case_dir.exists():
        shutil.rmtree(case_dir)  # evidence of an earlier attempt in the same folder would mislead
    case_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _Case(case, ctx, case_dir).run()
    except Exception as exc:  # noqa: BLE001 - a harness failure is an ERROR record, never an exception
        return _harness_error(case, ctx, case_dir, exc)


def _harness_error(case: CaseSpec, ctx: LocalContext, case_dir: Path, exc: BaseException) -> CaseRecord:
    detail = redact("".join(traceback.format_exception(exc))[-4000:], ctx.adapter.secrets)
    (case_dir / "harness_error.txt").write_text(detail, encoding="utf-8")
    return CaseRecord.for_case(
        case,
        profile=ctx.profile,
        status=CaseStatus.ERROR,
        evidence_status=EvidenceStatus.FAIL,
        run_id=ctx.run_id,
        settings=ctx.settings,
        reason=f"harness error: {type(exc).__name__}: {redact(str(exc), ctx.adapter.secrets)[:500]}",
        artifacts={"harness_error": str((case_dir / "harness_error.txt").resolve())},
    )


def _dpone_errors(call: DponeCall) -> tuple[str | None, list[str], list[str]]:
    """(status, codes, short error texts) of a `dpone run` call."""
    payload: dict[str, Any] = call.payload if isinstance(call.payload, dict) else {}
    raw = payload.get("result")
    result: dict[str, Any] = raw if isinstance(raw, dict) else {}
    errors = [str(e) for e in (result.get("errors") or [])]
    codes: list[str] = []
    if result.get("error_code"):
        codes.append(str(result["error_code"]))
    for text in errors:
        for code in _CODE.findall(text):
            if code not in codes:
                codes.append(code)
        match = _EXC.match(text)
        if match and match.group(1) not in codes:
            codes.append(match.group(1))
    return (str(result.get("status")) if result.get("status") else None), codes, [e[:600] for e in errors]


def _clip(text: str, limit: int = 300) -> str:
    """At most `limit` characters, cut between values (never inside one), saying where the rest is."""
    if len(text) <= limit:
        return text
    cut = max(text.rfind(", ", 0, limit), text.rfind("; ", 0, limit))
    cut = cut if cut > limit // 2 else text.rfind(" ", 0, limit)
    return text[: cut if cut > 0 else limit] + " ... (cut; the full message is in the case's dpone_run_*.json)"


def _headline(codes: list[str], errors: list[str], outcome: str) -> str:
    first = (errors or [""])[0]
    prefix = ", ".join(c for c in codes if not first.startswith(c))
    return (f"{prefix}: " if prefix else "") + (_clip(first) or outcome)


def _run_ok(call: DponeCall) -> bool:
    status, _, _ = _dpone_errors(call)
    return call.outcome is Outcome.OK and call.rc == 0 and status == "success"


def _rel(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return path.name


class _Case:
    """One case: its variants (in parallel), combined into one record whose verdict is the documented one."""

    def __init__(self, case: CaseSpec, ctx: LocalContext, case_dir: Path) -> None:
        self.case, self.ctx, self.dir = case, ctx, case_dir

    def run(self) -> CaseRecord:
        case = self.case
        head = _CaseRun(case, self.ctx, self.dir, DOCUMENTED, case_dir=self.dir)
        if case.sink not in DRIVEN_SINKS or case.source not in DRIVEN_SOURCES:
            try:
                engine_for(case.sink, "sink")
                engine_for(case.source, "source")
            except EngineUnavailable as exc:
                return head.not_covered(exc.reason)
            return head.not_covered(f"no local runner for {case.source} -> {case.sink}")
        try:
            sink = engine_for(case.sink, "sink")
            source = engine_for(case.source, "source")
        except EngineUnavailable as exc:
            if exc.code != "engine.unavailable":
                head.block(exc.code)  # e.g. engine.auth_failed:<case>: the fix is the credentials, not the server
            return head.not_covered(exc.reason)
        assert sink is not None
        if case.strategy == "cdc":
            return head.not_covered(head.cdc_reason(source or sink))
        variants = [
            v for v in variants_for(case) if v is DOCUMENTED or self.ctx.variants is None or v.name in self.ctx.variants
        ]
        preflight = head.preflight()
        runs = [_CaseRun(case, self.ctx, self.dir / v.name, v, case_dir=self.dir) for v in variants]
        for run in runs:
            run.dir.mkdir(parents=True, exist_ok=True)

        # The documented variant's source is seeded first; every other variant copies it before any variant
        # mutates its own (copying is a set-based statement in the server, generating the rows is Python).
        src_engine = source or sink
        st = self.ctx.settings
        t0 = time.perf_counter()
        cols = seed_source(src_engine, runs[0].src_name, st.row_count, st.wide_columns)
        seed_seconds = time.perf_counter() - t0
        for run in runs[1:]:
            clone_source(src_engine, runs[0].src_name, run.src_name)

        def one(run: _CaseRun) -> CaseRecord:
            try:
                return run.run_real(source, sink, cols, seed_seconds)
            except Exception as exc:  # noqa: BLE001 - one variant's harness failure never hides the others
                return _harness_error(case, self.ctx, run.dir, exc)

        # Variants are independent (own schemas and dpone working folders): run them at once.
        with ThreadPoolExecutor(max_workers=len(runs), thread_name_prefix=f"variant-{case.case_id[:20]}") as pool:
            records = list(pool.map(one, runs))
        return self._combine(runs, records, preflight)

    def _deployment_causes(self, runs: list[_CaseRun], records: list[CaseRecord]) -> None:
        """A deployment variant whose data differs where its base variant's did not: name the settings as the
        root cause, with the columns that changed (from its reconciliation's row diff)."""
        by_name = dict(zip((r.variant.name for r in runs), records, strict=True))
        for run, rec in zip(runs, records, strict=True):
            base = by_name.get(run.variant.base or "")
            if base is None:
                continue
            new = sorted(
                {b for b in rec.blockers if b.startswith("correctness.")}
                - {b for b in base.blockers if b.startswith("correctness.")}
            )
            if not new:
                continue
            columns = sorted(
                {
                    col
                    for cmp in run.report.get("comparisons", [])
                    for d in cmp.get("row_diff", [])
                    for col in d.get("columns", {})
                }
            )
            settings = ", ".join(f"{k}={v}" for k, v in run.variant.dpone_env)
            example = next(
                (
                    f"; e.g. id {d['key']} {col}: expected {v.get('expected')}, landed {v.get('actual')}"
                    for cmp in run.report.get("comparisons", [])
                    for d in cmp.get("row_diff", [])
                    for col, v in list(d.get("columns", {}).items())[:1]
                ),
                "",
            )
            cause = {
                "stage": "reconciliation",
                "name": "deployment.session_settings_change_values",
                "module": "the session/process settings of the deployment, read by dpone's postgres connector",
                "detail": f"with {settings} the values of {', '.join(columns[:20]) or 'some columns'} differ; "
                f"{run.variant.base} without them: {', '.join(new)} absent{example}",
            }
            run.causes.append(cause)
            blocker = f"deployment.session_settings_change_values:{self.case.case_id}"
            if blocker not in rec.blockers:
                rec.blockers.append(blocker)
            run.blockers = list(rec.blockers)
            run.report["blockers"], run.report["root_causes"] = list(rec.blockers), list(run.causes)
            run.write_json("reconciliation.json", run.report)

    def _combine(self, runs: list[_CaseRun], records: list[CaseRecord], preflight: Path) -> CaseRecord:
        self._deployment_causes(runs, records)
        entries = []
        for run, rec in zip(runs, records, strict=True):
            manifest = run.dir / "manifest.yaml"
            entries.append(
                {
                    "name": run.variant.name,
                    "description": run.variant.description,
                    "configuration": run.variant.configuration(),
                    "passed": rec.status is CaseStatus.PASSED and rec.evidence_status is EvidenceStatus.PASS,
                    "status": rec.status.value,
                    "blockers": list(rec.blockers),
                    "root_causes": run.causes,
                    "dpone_errors": list(rec.dpone_errors),
                    "findings": list(rec.findings),
                    "manifest": _rel(manifest, self.dir) if manifest.exists() else None,
                    "behavior": _rel(Path(rec.behavior_path), self.dir) if rec.behavior_path else None,
                    "reconciliation": _rel(run.dir / "reconciliation.json", self.dir),
                    "final_state_after": run.report.get("final_state_after"),
                    "reason": rec.reason,
                    "load_seconds": rec.load_seconds,
                }
            )
        documented = records[0]
        behavior_path = self.dir / f"{self.case.case_id}__behavior.json"
        payload: dict[str, Any] = {}
        if documented.behavior_path and Path(documented.behavior_path).exists():
            payload = json.loads(Path(documented.behavior_path).read_text(encoding="utf-8"))
        else:
            payload = {"case_id": self.case.case_id, "passed": False, "blockers": list(documented.blockers)}
        payload["verdict_variant"] = DOCUMENTED.name
        payload["variants"] = entries
        payload["reconciliation_report"] = f"{DOCUMENTED.name}/reconciliation.json"
        behavior_path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
        artifacts = dict(documented.artifacts)
        for run, rec in zip(runs[1:], records[1:], strict=True):
            artifacts.update({f"{run.variant.name}.{k}": v for k, v in rec.artifacts.items()})
        return documented.model_copy(
            update={
                "preflight_path": str(preflight.resolve()),
                "behavior_path": str(behavior_path.resolve()),
                "artifacts": artifacts,
                "load_seconds": round(sum(r.load_seconds for r in records), 4),
                "reconcile_seconds": round(sum(r.reconcile_seconds or 0.0 for r in records), 4),
                "variants": [{k: e[k] for k in _RECORD_VARIANT_KEYS} for e in entries],
            }
        )


_RECORD_VARIANT_KEYS = ("name", "passed", "status", "blockers", "root_causes", "dpone_errors", "manifest")


class _CaseRun:
    """One variant of one case (the documented variant's run also writes the case's not-covered evidence)."""

    def __init__(self, case: CaseSpec, ctx: LocalContext, run_dir: Path, variant: Variant, *, case_dir: Path) -> None:
        self.case = case
        self.ctx = ctx
        self.dir = run_dir
        self.case_dir = case_dir
        self.variant = variant
        self.contract: StrategyContract | None = (
            contract_for(case.strategy) if case.strategy in load_contracts().strategies else None
        )
        self.settings = ctx.settings
        self.blockers: list[str] = []
        self.notes: list[str] = []
        self.findings: list[str] = []  # not blockers: e.g. docs.contradiction:<topic>
        self.causes: list[dict[str, str]] = []  # named root causes of failed runs
        self.dpone_errors: list[str] = []  # "<label>: <dpone's error text>" of every failed run
        self.artifacts: dict[str, str] = {}
        self.report: dict[str, Any] = {
            "case_id": case.case_id,
            "profile": "local",
            "run_id": ctx.run_id,
            "variant": variant.name,
            "variant_configuration": variant.configuration(),
        }
        self.engine_desc: dict[str, str] = {}
        self.load_seconds = 0.0
        self.reconcile_seconds = 0.0
        self.rows_per_second: float | None = None
        self.secrets: list[str] = list(ctx.adapter.secrets)
        self.api_dataset = ""

    # ---- helpers ---------------------------------------------------------------------------------------
    def block(self, kind: str) -> None:
        blocker = f"{kind}:{self.case.case_id}"
        if blocker not in self.blockers:
            self.blockers.append(blocker)

    def write_json(self, name: str, payload: Any) -> Path:
        path = self.dir / name
        safe = redact_obj(payload, self.secrets)
        path.write_text(json.dumps(safe, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
        return path

    def record(self, status: CaseStatus, evidence: EvidenceStatus, **extra: Any) -> CaseRecord:
        return CaseRecord.for_case(
            self.case,
            profile=self.ctx.profile,
            status=status,
            evidence_status=evidence,
            run_id=self.ctx.run_id,
            settings=self.settings,
            artifacts={k: str(Path(v).resolve()) for k, v in self.artifacts.items()},
            engine=self.engine_desc,
            blockers=list(self.blockers),
            load_seconds=round(self.load_seconds, 4),
            reconcile_seconds=round(self.reconcile_seconds, 4),
            dpone_rows_per_second=self.rows_per_second,
            dpone_errors=[redact(e, self.secrets) for e in self.dpone_errors],
            findings=list(self.findings),
            **extra,
        )

    def preflight(self) -> Path:
        from dpone.integration_matrix import DEFAULT_INTEGRATION_MATRIX

        path = self.case_dir / f"{self.case.case_id}.json"
        by_id = {c.case_id: c for c in DEFAULT_INTEGRATION_MATRIX.cases}
        dpone_case = by_id.get(self.case.case_id)
        if dpone_case is not None:
            text = dpone_case.to_json()
        else:
            text = json.dumps(self.case.model_dump(), ensure_ascii=False, sort_keys=True, indent=2) + "\n"
        path.write_text(text, encoding="utf-8")
        return path

    # ---- flow ------------------------------------------------------------------------------------------
    def not_covered(self, reason: str) -> CaseRecord:
        self.block("matrix_case.not_covered")
        self.notes.append(reason)
        preflight = self.preflight()
        behavior = self.write_behavior(None, None, passed=False, extra={"variants": []})
        return self.record(
            CaseStatus.NOT_COVERED,
            EvidenceStatus.NOT_COVERED,
            reason=reason,
            preflight_path=str(preflight.resolve()),
            behavior_path=str(behavior.resolve()),
        )

    def cdc_reason(self, engine: Engine) -> str:
        try:
            with engine.connect() as conn:
                row = conn.execute("SHOW wal_level").fetchone()
            wal_level = str(row[0]) if row else "unknown"
        except Exception:  # noqa: BLE001
            wal_level = "unknown"
        return (
            f"postgres CDC needs logical replication; this server has wal_level={wal_level}, but enabling it would "
            "not help: dpone 0.88's batch runtime ignores `options.cdc` and `dpone ops cdc-runtime-run --mode live` "
            "refuses source=postgres (its only live path is SQL Server CDC -> ClickHouse), so no dpone command "
            "captures PostgreSQL changes to certify"
        )

    @property
    def src_name(self) -> str:
        return object_name(f"src{self.variant.tag}", self.ctx.run_id, self.case.case_id)

    def run_real(self, source: Engine | None, sink: Engine, cols: list[seed.Column], seed_seconds: float) -> CaseRecord:
        """Run this variant on its source (`self.src_name`, already seeded by `_Case.run`)."""
        case, st, variant = self.case, self.settings, self.variant
        run_id = self.ctx.run_id
        tag = variant.tag
        src_name = self.src_name
        dst_name = object_name(f"dst{tag}", run_id, case.case_id)
        stg_name = object_name(f"stg{tag}", run_id, case.case_id)
        src_engine = source or sink  # the api source is backed by a reference table in the sink's Postgres
        self.engine_desc = {
            "source": (src_engine.label if source else f"api-fixture(http) over {sink.label}"),
            "sink": sink.label,
            "source_detail": json.dumps(src_engine.describe(), sort_keys=True),
            "sink_detail": json.dumps(sink.describe(), sort_keys=True),
        }
        self.report["deployment"] = {
            "source": src_engine.describe(),
            "sink": sink.describe(),
            "dpone_process_and_session_settings": dict(variant.dpone_env) or "this machine's defaults",
        }
        for secret in (src_engine.password, sink.password):
            if secret:
                self.secrets.append(secret)
        for topic, contradiction in load_contracts().contradictions_for(case.source, case.strategy).items():
            self.findings.append(f"docs.contradiction:{topic}:{case.case_id}")
            self.report.setdefault("docs_contradictions", {})[topic] = contradiction.model_dump()
        # ---- prepare schemas and seed -------------------------------------------------------------------
        with sink.connect() as conn:
            for name in (dst_name, stg_name):
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            conn.execute(f'CREATE SCHEMA "{dst_name}"')
            conn.execute(f'CREATE SCHEMA "{stg_name}"')  # dpone needs its staging schema to exist (§5b)
        self.report["seed_seconds"] = round(seed_seconds, 4)
        if self.variant is not DOCUMENTED:
            self.report["seeded_as_copy_of_variant"] = DOCUMENTED.name
        if variant.precreate_target:
            self.report["reference_target_ddl"] = self._precreate_target(src_engine, sink, src_name, dst_name, cols)
        mutation = seed.plan_mutation(st.row_count, st.change_ratio, st.delete_ratio)
        self.report["mutation"] = {
            "deleted_ids": [mutation.deleted_ids.start, mutation.deleted_ids.stop - 1],
            "updated_ids": [mutation.updated_ids.start, mutation.updated_ids.stop - 1],
            "inserted_ids": [mutation.inserted_ids.start, mutation.inserted_ids.stop - 1],
            "changed_row_count": mutation.changed_count,
            "deleted_row_count": mutation.deleted_count,
        }
        # ---- manifest ---------------------------------------------------------------------------------------
        api_url, env = "", dict(sink.dpone_env(manifests.SINK_CONNECTION))
        dataset = f"{short_run_id(run_id)}{tag}_{case.case_id}"
        if case.source == "api":
            self.api_dataset = dataset
            api_url = api_fixture().register(dataset, sink, src_name)
            env["DPONE_CONN_API_SRC_HOST"] = "127.0.0.1"
        else:
            env.update(src_engine.dpone_env(manifests.SOURCE_CONNECTION[case.source]))
        spec = manifests.ManifestSpec(
            source=case.source,
            strategy=case.strategy,
            source_schema=src_name,
            target_schema=dst_name,
            staging_schema=stg_name,
            api_url=api_url,
            api_schema=tuple((c.name, c.pg_type) for c in cols) if case.source == "api" else (),
            variant=variant.name,
            delta_size_threshold=variant.delta_size_threshold,
            backfill_id=f"{short_run_id(run_id)}{tag}-load1" if variant.distinct_backfill_ids else None,
        )
        manifest = manifests.write(spec, self.dir / "manifest.yaml")
        self.artifacts["manifest"] = str(manifest)
        src_types = reconcile.table_types(src_engine, src_name, seed.TABLE)
        if case.source == "api":
            # The api's declared types are the ones in the manifest schema (the reference table's types).
            self.report["source_types_note"] = "api: declared types are the manifest's options.schema"
        ctx = _Reconciler(self, src_engine, sink, src_name, dst_name, cols, src_types, mutation)
        try:
            return self._flow(spec, env, ctx, mutation)
        finally:
            if case.source == "api":
                api_fixture().unregister(dataset)
            if not self.ctx.keep_schemas:
                _drop_case_objects(src_engine, sink, src_name, (dst_name, stg_name))

    def _precreate_target(
        self, src: Engine, sink: Engine, src_name: str, dst_name: str, cols: list[seed.Column]
    ) -> str:
        """The reference target: the source's column types and NOT NULL constraints, created before dpone runs.
        History targets (several versions of one key) get no primary key."""
        history = self.case.strategy in HISTORY
        same_server = src is sink or (
            src.family == sink.family == "postgres"
            and (src.host, src.port, src.database) == (sink.host, sink.port, sink.database)
        )
        if same_server:
            excluding = " EXCLUDING INDEXES" if history else ""
            like = f'LIKE "{src_name}"."{seed.TABLE}" INCLUDING ALL{excluding}'
            ddl = f'CREATE TABLE "{dst_name}"."{seed.TABLE}" ({like})'
        else:  # another engine (MySQL): the PostgreSQL types the seed declares for the same columns
            # MySQL's char(36) uuid text stays char(36) (not PostgreSQL's uuid): the source's type, not a new one.
            mysql = src.family == "mysql"
            defs = ", ".join(
                f'"{c.name}" {"char(36)" if mysql and c.family == "uuid" else c.pg_type}'
                + ("" if c.nullable else " NOT NULL")
                for c in cols
            )
            pk = "" if history else f', PRIMARY KEY ("{seed.KEY}")'
            ddl = f'CREATE TABLE "{dst_name}"."{seed.TABLE}" ({defs}{pk})'
        statements = [ddl]
        # dpone's load-strategies guide names these columns as the strategy's core requirement ("`unique_key` and
        # `__dpone__row_hash`"; scd2: "row hash, validity columns"); a target made beforehand must carry them.
        # Types and NULL-ability as dpone's own registry declares them (dpone/contracts/technical_columns.py).
        for name, dtype in REQUIRED_TECHNICAL_COLUMNS.get(self.case.strategy, ()):
            statements.append(f'ALTER TABLE "{dst_name}"."{seed.TABLE}" ADD COLUMN "{name}" {dtype}')
        with sink.connect() as conn:
            for statement in statements:
                conn.execute(statement)
        shown = [ddl if same_server else ddl[:200] + " ...", *statements[1:]]
        return "; ".join(shown)

    def _dpone(self, label: str, spec: manifests.ManifestSpec, env: dict[str, str], manifest: str) -> DponeCall:
        dpone_run_id = f"{short_run_id(self.ctx.run_id)}{self.variant.tag}-{label}-{self.case.case_id}"[:120]
        call = self.ctx.adapter.cli(
            "run",
            ["run", manifest, "--selector", spec.selector, "--run-id", dpone_run_id, "--format", "json"],
            cwd=self.dir,
            env={**env, **dict(self.variant.dpone_env)},
        )
        self.load_seconds += call.duration_seconds
        status, codes, errors = _dpone_errors(call)
        causes: list[root_causes.RootCause] = []
        if not _run_ok(call):
            causes = root_causes.classify(
                call.payload, call.rc, stage=label, source=self.case.source, strategy=self.case.strategy
            )
            headline = _headline(codes, errors, call.outcome.value)
            if call.outcome is not Outcome.OK and call.stderr_tail:
                headline += f" (stderr: {call.stderr_tail[-300:]})"
            self.dpone_errors.append(f"{label}: {headline}")
            for cause in causes:
                entry = {"stage": label, **cause.to_json()}
                if entry not in self.causes:
                    self.causes.append(entry)
        evidence = {
            "label": label,
            "variant": self.variant.name,
            "command": call.command,
            "outcome": call.outcome.value,
            "rc": call.rc,
            "status": status,
            "error_codes": codes,
            "errors": errors,
            "root_causes": [c.to_json() for c in causes],
            "duration_seconds": round(call.duration_seconds, 4),
            "payload": call.payload,
            "stderr_tail": call.stderr_tail if not _run_ok(call) else "",
        }
        path = self.write_json(f"dpone_run_{label}.json", evidence)
        self.artifacts[f"dpone_run_{label}"] = str(path)
        self.report.setdefault("dpone_runs", []).append({k: v for k, v in evidence.items() if k != "payload"})
        return call

    def _failed(self, family: str, call: DponeCall, stage: str) -> None:
        """Blockers of a failed run: our manifest refused as configuration is `harness.manifest_rejected`, never
        a dpone run failure; otherwise the run family plus every named root cause dpone's payload shows."""
        names = [c["name"] for c in self.causes if c["stage"] == stage]
        if "harness.manifest_rejected" in names:
            self.block("harness.manifest_rejected")
            return
        self.block(family)
        for name in names:
            self.block(name)

    def _flow(
        self, spec: manifests.ManifestSpec, env: dict[str, str], rec: _Reconciler, mutation: seed.Mutation
    ) -> CaseRecord:
        variant = self.variant
        # ---- bootstrap (replace never creates its target): a full_refresh of the whole source ----------------
        if variant.bootstrap_full_refresh:
            boot = dataclasses.replace(spec, strategy="full_refresh")
            manifests.write(boot, self.dir / "manifest.bootstrap.yaml")
            self.artifacts["manifest_bootstrap"] = str(self.dir / "manifest.bootstrap.yaml")
            call0 = self._dpone("bootstrap", boot, env, "manifest.bootstrap.yaml")
            if not _run_ok(call0):
                self._failed("run.failed", call0, "bootstrap")
                self.notes.append(f"bootstrap full_refresh failed: {self.dpone_errors[-1]}")
                return self._finish(self._status_after_failure(call0), None, None, mutation)
            rec.bootstrapped = True
        # ---- run 1: initial load -----------------------------------------------------------------------------
        call1 = self._dpone("load1", spec, env, "manifest.yaml")
        payload = call1.payload if isinstance(call1.payload, dict) else {}
        throughput = (((payload.get("result") or {}).get("details") or {}).get("run_throughput")) or {}
        if isinstance(throughput, dict) and throughput.get("rows_per_second") is not None:
            self.rows_per_second = float(throughput["rows_per_second"])
        if not _run_ok(call1):
            self._failed("run.failed", call1, "load1")
            self.notes.append(f"first load failed: {self.dpone_errors[-1].split(': ', 1)[-1]}")
            return self._finish(self._status_after_failure(call1), None, None, mutation)
        # ---- reconcile the initial load ------------------------------------------------------------------------
        initial = rec.initial()
        target_before_count = initial.actual_count
        # ---- mutate, run 2 --------------------------------------------------------------------------------------
        rec.mutate()
        manifest2 = "manifest.yaml"
        spec2 = spec
        if variant.distinct_backfill_ids:
            spec2 = dataclasses.replace(spec, backfill_id=f"{short_run_id(self.ctx.run_id)}{variant.tag}-load2")
            manifest2 = "manifest.load2.yaml"
            manifests.write(spec2, self.dir / manifest2)
            self.artifacts["manifest_load2"] = str(self.dir / manifest2)
        call2 = self._dpone("load2", spec2, env, manifest2)
        applied = _run_ok(call2)
        if not applied:
            self._failed("rerun.failed", call2, "load2")
            self.report["rerun_error_codes"] = _dpone_errors(call2)[1]
            self.notes.append(f"second run failed: {self.dpone_errors[-1].split(': ', 1)[-1]}")
        elif rec.same_campaign_noop:
            self.notes.append(
                "second run with the same backfill campaign: dpone re-runs no committed chunk, by design "
                "(contract: backfill.same_campaign = no_op); the target is judged against the first load's source"
            )
        final = rec.final(apply_findings=applied)
        self.report["final_state_after"] = "second run" if applied else "second run failed; target as after run 1"
        status = CaseStatus.PASSED if not self.blockers else CaseStatus.FAILED
        if call2.outcome is not Outcome.OK and not self.blockers:
            status = CaseStatus.ERROR
        self.report["initial"] = initial.to_json()
        return self._finish(status, final, target_before_count, mutation)

    def _status_after_failure(self, call: DponeCall) -> CaseStatus:
        return CaseStatus.ERROR if call.outcome is not Outcome.OK else CaseStatus.FAILED

    def _finish(
        self,
        status: CaseStatus,
        final: reconcile.Comparison | None,
        target_before_count: int | None,
        mutation: seed.Mutation,
    ) -> CaseRecord:
        if status is CaseStatus.PASSED and self.blockers:
            status = CaseStatus.FAILED
        passed = status is CaseStatus.PASSED
        if self.api_dataset:
            self.report["api_requests"] = api_fixture().requests(self.api_dataset)
        self.report["blockers"] = list(self.blockers)
        self.report["root_causes"] = list(self.causes)
        self.report["dpone_errors"] = list(self.dpone_errors)
        self.report["findings"] = list(self.findings)
        self.report["contract"] = self.contract.model_dump() if self.contract else None
        self.report["notes"] = list(self.notes)
        self.report["engine"] = self.engine_desc
        self.report["timings"] = {
            "load_seconds": round(self.load_seconds, 4),
            "reconcile_seconds": round(self.reconcile_seconds, 4),
            "dpone_rows_per_second": self.rows_per_second,
        }
        report_path = self.write_json("reconciliation.json", self.report)
        self.artifacts["reconciliation_report"] = str(report_path)
        behavior = self.write_behavior(final, target_before_count, passed=passed)
        moved = final.actual_count if final else 0
        return self.record(
            status,
            EvidenceStatus.PASS if passed and moved > 0 else EvidenceStatus.FAIL,
            behavior_path=str(behavior.resolve()),
            rows_moved=moved,
            expected_row_count=final.expected_count if final else None,
            actual_row_count=final.actual_count if final else None,
            changed_row_count=mutation.changed_count,
            deleted_row_count=mutation.deleted_count,
            wide_columns=self.settings.wide_columns,
            reason=None if passed else "; ".join(self.notes)[:1000] or None,
        )

    def write_behavior(
        self,
        final: reconcile.Comparison | None,
        target_before_count: int | None,
        *,
        passed: bool,
        extra: dict[str, Any] | None = None,
    ) -> Path:
        st = self.settings
        mutation = seed.plan_mutation(st.row_count, st.change_ratio, st.delete_ratio)
        samples = self.report.get("samples", {})
        payload = {
            "case_id": self.case.case_id,
            "source": self.case.source,
            "sink": self.case.sink,
            "strategy": self.case.strategy,
            "target_before": samples.get("target_before", []),
            "source_rows": samples.get("source_rows", []),
            "expected_rows": samples.get("expected_rows", []),
            "actual_rows": samples.get("actual_rows", []),
            "target_before_count": target_before_count or 0,
            "source_row_count": int(self.report.get("source_row_count", 0)),
            "expected_row_count": final.expected_count if final else 0,
            "actual_row_count": final.actual_count if final else 0,
            "expected_checksum": reconcile.checksum_text(final.expected_count, final.expected_sum) if final else "",
            "actual_checksum": reconcile.checksum_text(final.actual_count, final.actual_sum) if final else "",
            "configured_row_count": st.row_count,
            "change_ratio": st.change_ratio,
            "delete_ratio": st.delete_ratio,
            "changed_row_count": mutation.changed_count,
            "deleted_row_count": mutation.deleted_count,
            "quality_checks": list(self.report.get("quality_checks", [])),
            "passed": passed and not self.blockers,
            "notes": list(self.notes),
            "profile": "local",
            "variant": self.variant.name,
            "engine": self.engine_desc,
            "blockers": list(self.blockers),
            "root_causes": list(self.causes),
            "dpone_errors": list(self.dpone_errors),
            "findings": list(self.findings),
            "reconciliation_report": "reconciliation.json",
            **(extra or {}),
        }
        return self.write_json(f"{self.case.case_id}__behavior.json", payload)


def _empty_string_cause(source: str, strategy: str) -> dict[str, str]:
    """Where '' becomes NULL, as far as dpone's code shows it (contracts §5c); 'not attributed' otherwise."""
    if strategy in ("snapshot_diff", "scd2"):
        return {
            "path": "row-hash rewrite",
            "module": "dpone/runtime/lineage/strategy_metadata_files.py",
            "explanation": "the row-hash step writes dpone's CSV back unquoted, so '' and NULL become the same field",
        }
    if source == "mysql":
        return {
            "path": "MySQL export (export_format: csv) and row staging",
            "module": "dpone/runtime/sources/mysql.py",
            "explanation": "the MySQL export writes NULL and '' as the same empty field",
        }
    return {"path": "not attributed", "module": "", "explanation": "no dpone code path identified yet"}


_DISPLAY_WIDTH = re.compile(r"^(tiny|small|medium|big)?int\(\d+\)")


def type_root_cause(family: str, src_short: str, dst_short: str, declared: list[str]) -> dict[str, str]:
    """Why a column type changed on the way, named from the declared types the engines report."""
    if family == "mysql" and dst_short == "text":
        if any(_DISPLAY_WIDTH.match(t) for t in declared):
            return {
                "root_cause": "type_mapping.mysql_display_width",
                "module": "dpone/type_system/source_sink/mysql_postgres.py",
                "explanation": (
                    f"the source reports {', '.join(declared)} (MariaDB keeps the display width; MySQL 8 reports "
                    "plain int/bigint) and dpone's mapper matches exact type names only, so the column lands as text"
                ),
            }
        return {
            "root_cause": "type_mapping.exact_name_only",
            "module": "dpone/type_system/source_sink/mysql_postgres.py",
            "explanation": f"dpone's mapper has no entry for {', '.join(declared)}; the column lands as text",
        }
    if src_short == "timestamptz" and dst_short == "timestamp":
        return {
            "root_cause": "temporal.utc_instant_rewrite",
            "module": "dpone/runtime/support/temporal_fidelity.py",
            "explanation": (
                "the default temporal mode utc_instant rewrites timestamptz to timestamp (values equal in UTC), "
                "although `dpone schema type-matrix --source postgres --sink postgres` promises timestamptz"
            ),
        }
    return {}


def seed_source(engine: Engine, name: str, row_count: int, wide_columns: int) -> list[seed.Column]:
    """Seed `orders` and its pre-mutation snapshot in a new schema (PostgreSQL) or database (MySQL)."""
    if engine.family == "mysql":
        with engine.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        with engine.connect() as conn:
            cols = seed.mysql_seed(conn, name, row_count, wide_columns)
            seed.mysql_snapshot(conn, name)
        return cols
    with engine.connect() as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        cols = seed.pg_seed(conn, name, row_count, wide_columns)
        seed.pg_snapshot(conn, name)
    return cols


def clone_source(engine: Engine, seeded: str, name: str) -> None:
    """A copy of a seeded (not yet mutated) source: same definition (types, NOT NULL, primary key) and rows."""
    if engine.family == "mysql":
        with engine.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            cur.execute(f"CREATE TABLE `{name}`.`{seed.TABLE}` LIKE `{seeded}`.`{seed.TABLE}`")
            cur.execute(f"INSERT INTO `{name}`.`{seed.TABLE}` SELECT * FROM `{seeded}`.`{seed.TABLE}`")
        with engine.connect() as conn:
            seed.mysql_snapshot(conn, name)
        return
    with engine.connect() as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{name}"')
        conn.execute(f'CREATE TABLE "{name}"."{seed.TABLE}" (LIKE "{seeded}"."{seed.TABLE}" INCLUDING ALL)')
        conn.execute(f'INSERT INTO "{name}"."{seed.TABLE}" SELECT * FROM "{seeded}"."{seed.TABLE}"')
        conn.execute(f'ANALYZE "{name}"."{seed.TABLE}"')
        seed.pg_snapshot(conn, name)


def _drop_case_objects(src: Engine, sink: Engine, src_name: str, sink_schemas: tuple[str, ...]) -> None:
    """Best effort: a failed drop leaves a schema behind, never fails the case (its evidence is on disk)."""
    try:
        if src.family == "mysql":
            with src.connect() as conn, conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{src_name}`")
        else:
            sink_schemas = (src_name, *sink_schemas) if src is sink else sink_schemas
            if src is not sink:
                with src.connect() as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{src_name}" CASCADE')
        with sink.connect() as conn:
            for name in sink_schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    except Exception:  # noqa: BLE001,S110 - cleanup must not turn a verdict into an error
        pass


class _Reconciler:
    """Builds the expected relations for the strategy and runs the comparisons (timed)."""

    def __init__(
        self,
        run: _CaseRun,
        src: Engine,
        dst: Engine,
        src_name: str,
        dst_name: str,
        cols: list[seed.Column],
        src_types: dict[str, reconcile.ColumnType],
        mutation: seed.Mutation,
    ) -> None:
        self.run = run
        self.src, self.dst = src, dst
        self.src_name, self.dst_name = src_name, dst_name
        self.cols = cols
        self.src_types = src_types
        self.mutation = mutation
        self.strategy = run.case.strategy
        self.contract = run.contract
        self.checks: list[str] = []
        self.bootstrapped = False  # replace: a full_refresh loaded the whole source first

    @property
    def same_campaign_noop(self) -> bool:
        """backfill rerun with the same campaign: dpone's contract says it re-runs nothing."""
        no_op = bool(self.contract and self.contract.same_campaign == "no_op")
        return no_op and not self.run.variant.distinct_backfill_ids

    def _q(self, name: str) -> str:
        return f"`{name}`" if self.src.family == "mysql" else f'"{name}"'

    def current(self, where: str | None = None) -> reconcile.Relation:
        return reconcile.Relation(self.src, self.src_name, seed.TABLE, where=where, label="source.orders")

    def window(self) -> str | None:
        if self.strategy == "replace":
            return f"{self._q(seed.BUSINESS_DATE)} = '{manifests.REPLACE_WINDOW}'"
        return None

    def v0(self) -> reconcile.Relation:
        rel = reconcile.Relation(self.src, self.src_name, seed.SNAPSHOT_TABLE, label="source.orders before mutation")
        rel.where = None if self.bootstrapped else self.window()
        return rel

    def _union(self, parts: list[tuple[str, str | None]], label: str) -> reconcile.Relation:
        """UNION ALL of (table, where) of the source schema."""
        sql = " UNION ALL ".join(
            f"SELECT * FROM {self.current().table_sql(table)}" + (f" WHERE {where}" if where else "")
            for table, where in parts
        )
        return reconcile.Relation(self.src, self.src_name, seed.TABLE, subquery=sql, label=label)

    def upsert_keep_deleted(self) -> reconcile.Relation:
        """incremental_merge / xmin: changed keys replaced, new keys inserted, physically deleted keys stay with
        their first-load values (dpone never infers deletes from an incremental cursor)."""
        m, k = self.mutation, self._q(seed.KEY)
        deleted = f"{k} >= {m.deleted_ids.start} AND {k} < {m.deleted_ids.stop}"
        return self._union(
            [(seed.TABLE, None), (seed.SNAPSHOT_TABLE, deleted)],
            "source.orders UNION ALL deleted keys as before the mutation",
        )

    def replaced_window(self) -> reconcile.Relation:
        """replace into a bootstrapped target: rows outside the window as first loaded, the window as now."""
        window = self.window()
        assert window is not None
        return self._union(
            [(seed.SNAPSHOT_TABLE, f"NOT ({window})"), (seed.TABLE, window)],
            "source.orders before mutation outside the window UNION ALL source.orders inside it",
        )

    def delta_predicate(self) -> str:
        m, k = self.mutation, self._q(seed.KEY)
        parts = []
        if len(m.updated_ids):
            parts.append(f"({k} >= {m.updated_ids.start} AND {k} < {m.updated_ids.stop})")
        if len(m.inserted_ids):
            parts.append(f"({k} >= {m.inserted_ids.start} AND {k} < {m.inserted_ids.stop})")
        return " OR ".join(parts) or "1 = 0"

    def history(self) -> reconcile.Relation:
        v0 = f"SELECT * FROM {self.current().table_sql(seed.SNAPSHOT_TABLE)}"
        delta = f"SELECT * FROM {self.current().table_sql()} WHERE {self.delta_predicate()}"
        return reconcile.Relation(
            self.src,
            self.src_name,
            seed.TABLE,
            subquery=f"{v0} UNION ALL {delta}",
            label="source.orders before mutation UNION ALL changed rows",
        )

    def target(self, where: str | None = None) -> reconcile.Relation:
        return reconcile.Relation(self.dst, self.dst_name, seed.TABLE, where=where, label="target.orders")

    def _timed(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.run.reconcile_seconds += time.perf_counter() - t0

    # ---- checks ------------------------------------------------------------------------------------------
    def initial(self) -> reconcile.Comparison:
        return self._timed(self._initial)

    def _initial(self) -> reconcile.Comparison:
        run = self.run
        dst_types = reconcile.table_types(self.dst, self.dst_name, seed.TABLE)
        self.dst_types = dst_types
        fidelity = self._type_fidelity(dst_types)
        run.report["type_fidelity"] = fidelity
        for finding in fidelity["findings"]:
            run.block(f"type_fidelity.{finding['from']}_to_{finding['to']}")
        self.checks.append("initial.type_fidelity:" + ("pass" if not fidelity["findings"] else "fail"))
        comparison, _ = self._compare("initial_load", "initial", self.v0(), dst_types, apply=True)
        run.report["samples"] = {"target_before": self._sample(self.target(), dst_types)}
        return comparison

    def _compare(
        self,
        name: str,
        stage: str,
        expected: reconcile.Relation,
        dst_types: dict[str, reconcile.ColumnType],
        *,
        apply: bool,
    ) -> tuple[reconcile.Comparison, reconcile.Relation]:
        """Compare the expected side with the target, then record this stage's count/checksum and NULL vs ''
        findings."""
        comparison = reconcile.compare(name, expected, self.target(), self.cols, self.src_types, dst_types)
        self._classify(comparison, stage, apply=apply)
        self._null_empty(stage, comparison, apply=apply)
        return comparison, expected

    def mutate(self) -> None:
        if self.src.family == "mysql":
            with self.src.connect() as conn:
                seed.mysql_mutate(conn, self.src_name, self.cols, self.mutation)
        else:
            with self.src.connect() as conn:
                seed.pg_mutate(conn, self.src_name, self.cols, self.mutation)

    def final(self, *, apply_findings: bool) -> reconcile.Comparison:
        return self._timed(self._final, apply_findings)

    def final_expected(self) -> reconcile.Relation:
        """The target after the second run, as dpone's strategy contract promises it."""
        if self.same_campaign_noop:
            return self.v0()
        promise = self.contract.second_load if self.contract else "converge"
        if promise in ("append_changes", "history_versions"):
            return self.history()
        if promise == "upsert":
            return self.upsert_keep_deleted()
        if promise == "replace_window":
            return self.replaced_window() if self.bootstrapped else self.current(self.window())
        return self.current()

    def _final(self, apply: bool) -> reconcile.Comparison:
        run = self.run
        dst_types = reconcile.table_types(self.dst, self.dst_name, seed.TABLE)
        technical = sorted(c for c in dst_types if c.startswith("__dpone__"))
        run.report["schema_after_second_run"] = {
            "technical_columns": technical,
            "business_columns": len([c for c in dst_types if not c.startswith("__dpone__")]),
            "types_changed_since_first_load": {
                name: {"before": self.dst_types[name].data_type, "after": t.data_type}
                for name, t in dst_types.items()
                if name in self.dst_types and self.dst_types[name].data_type != t.data_type
            },
            "columns_added": sorted(set(dst_types) - set(self.dst_types)),
        }
        comparison, expected = self._compare("final", "final", self.final_expected(), dst_types, apply=apply)
        # The current source rows are the expected side unless the strategy keeps history.
        run.report["source_row_count"] = reconcile.row_count(self.current(None if self.bootstrapped else self.window()))
        run.report["expected_side"] = {
            "relation": expected.describe(),
            "promise": "same_campaign:no_op"
            if self.same_campaign_noop
            else (self.contract.second_load if self.contract else "converge"),
            "contract_cite": [p.to_json() for p in self.contract.cite] if self.contract else [],
        }
        run.report["final"] = comparison.to_json()
        if self.strategy == "scd2" and "__dpone__is_current" in dst_types:
            current = reconcile.compare(
                "scd2_current",
                self.current(),
                self.target('"__dpone__is_current" IS TRUE'),
                self.cols,
                self.src_types,
                dst_types,
            )
            run.report["scd2_current"] = current.to_json()
            self._classify(current, "scd2_current", apply=apply)
        samples = run.report.setdefault("samples", {})
        keys = self._sample_keys(comparison)
        samples["source_rows"] = self._sample(self.current(), self.src_types, keys)
        samples["expected_rows"] = self._sample(expected, self.src_types, keys)
        samples["actual_rows"] = self._sample(self.target(), dst_types, keys)
        run.report["quality_checks"] = self.checks
        return comparison

    def _classify(self, comparison: reconcile.Comparison, stage: str, *, apply: bool) -> None:
        run = self.run
        report = comparison.to_json()
        run.report.setdefault("comparisons", []).append(report)
        self.checks.append(f"{stage}.row_count:" + ("pass" if comparison.rows_match else "fail"))
        self.checks.append(f"{stage}.checksum:" + ("pass" if comparison.checksum_match else "fail"))
        if comparison.checksum_match:
            return
        found: list[str] = []
        if not comparison.rows_match:
            found.append("correctness.rows_mismatch")
        found.append("correctness.checksum_mismatch")
        m = self.mutation
        if stage != "initial":
            contract = self.contract
            keeps_history = bool(contract and contract.history == "versions") and stage == "final"
            deleted_present = [k for k in comparison.extra_keys if k in m.deleted_ids]
            if deleted_present and (contract is None or contract.deletes == "applied" or stage == "scd2_current"):
                found.append("correctness.deletes_not_applied")
            # An update is "not applied" when the target lacks the new version of an updated key: the key is
            # missing, or its cursor column (changed by every update) still differs. Other value differences
            # of an updated row (e.g. '' -> NULL) are checksum / empty-string findings, not stale rows.
            updated_stale = [k for k in comparison.missing_keys if k in m.updated_ids] + [
                d["key"]
                for d in comparison.diff
                if d["key"] in m.updated_ids and seed.CURSOR in (d.get("columns") or {})
            ]
            if updated_stale:
                found.append("correctness.updates_not_applied")
            if keeps_history:
                lost = [k for k in comparison.missing_keys if k in m.deleted_ids or k in m.updated_ids]
                lost += [
                    d["key"]
                    for d in comparison.diff
                    if d["key"] in m.updated_ids and d.get("actual_versions", 0) < d.get("expected_versions", 0)
                ]
                if lost:
                    found.append("correctness.history_not_kept")
        if apply:
            for kind in found:
                run.block(kind)
        else:
            report["findings_not_applied"] = found  # second run failed: these follow from that, not new findings

    def _null_empty(self, stage: str, comparison: reconcile.Comparison, *, apply: bool) -> None:
        e, a = comparison.expected_null_empty, comparison.actual_null_empty
        lost = reconcile.empty_strings_lost(comparison)
        self.run.report.setdefault("empty_string_preservation", {})[stage] = {
            "columns_checked": len(e),
            "columns_losing_empty_strings": lost,
            "expected_empty_cells": sum(v["empty"] for v in e.values()),
            "actual_empty_cells": sum(v.get("empty", 0) for v in a.values()),
        }
        self.checks.append(f"{stage}.empty_string_preserved:" + ("fail" if lost else "pass"))
        if lost:
            self.run.report["empty_string_preservation"][stage]["root_cause"] = _empty_string_cause(
                self.run.case.source, self.strategy
            )
        if lost and apply:
            self.run.block("correctness.empty_string_to_null")

    def _type_fidelity(self, dst_types: dict[str, reconcile.ColumnType]) -> dict[str, Any]:
        # The same judgement as the reconciliation's findings (`reconcile.type_changes`), with the declared types.
        changed = reconcile.type_changes(self.cols, self.src_types, dst_types)
        unfaithful = {name for names in changed.values() for name in names}
        columns: list[dict[str, Any]] = []
        for col in self.cols:
            src_t, dst_t = self.src_types.get(col.name), dst_types.get(col.name)
            if src_t is None:
                continue
            columns.append(
                {
                    "column": col.name,
                    "source_type": src_t.data_type,
                    "target_type": dst_t.data_type if dst_t else None,
                    "faithful": col.name not in unfaithful,
                }
            )
        out: list[dict[str, Any]] = []
        for (src_short, dst_short), names in changed.items():
            declared = list(dict.fromkeys(self.src_types[name].data_type for name in names))
            f: dict[str, Any] = {
                "from": src_short,
                "to": dst_short,
                "columns": names,
                "source_declared_types": declared,
            }
            f.update(type_root_cause(self.src.family, src_short, dst_short, declared))
            f["variant"] = self.run.variant.name
            f["deployment"] = {"source": self.src.label, "sink": self.dst.label}
            out.append(f)
        return {"columns": columns, "findings": out}

    def _sample_keys(self, comparison: reconcile.Comparison) -> list[int]:
        m = self.mutation
        keys: list[int] = [d["key"] for d in comparison.diff[:6]]
        for rng in (m.deleted_ids, m.updated_ids, m.inserted_ids):
            keys += list(rng)[:3]
        keys += list(range(m.updated_ids.stop, m.updated_ids.stop + 3))
        out: list[int] = []
        for k in keys:
            if k not in out:
                out.append(k)
        return out[:SAMPLE_ROWS]

    def _sample(
        self, rel: reconcile.Relation, types: dict[str, reconcile.ColumnType], keys: list[int] | None = None
    ) -> list[dict[str, str | None]]:
        if keys is None:
            keys = list(range(1, SAMPLE_ROWS + 1))
        rows = reconcile.canonical_rows(rel, self.cols, types, keys)
        return [r for k in keys for r in rows.get(k, [])][:SAMPLE_ROWS]
