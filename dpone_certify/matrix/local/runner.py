"""Per-case flow of the local profile and the bounded parallel runner.

seed -> manifest -> `dpone run` (initial load) -> reconcile the initial load -> mutate the source (updates,
physical deletes, inserts) -> `dpone run` again -> reconcile against the strategy's promise -> write dpone's
preflight + `<case_id>__behavior.json` (+ our reconciliation report) -> `CaseRecord`.

dpone 0.88 defects are reported, never worked around: when the second run is blocked by schema evolution, the
case keeps `rerun.failed:<case_id>`; a clearly labelled diagnostic probe (same manifest with schema evolution
off, see `manifests.render`) then shows what the strategy would do to the data, and its findings are added.
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
from dpone_certify.matrix.local import manifests, reconcile, seed
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
        return _CaseRun(case, ctx, case_dir).run()
    except Exception as exc:  # noqa: BLE001 - a harness failure is an ERROR record, never an exception
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


class _CaseRun:
    def __init__(self, case: CaseSpec, ctx: LocalContext, case_dir: Path) -> None:
        self.case = case
        self.ctx = ctx
        self.dir = case_dir
        self.settings = ctx.settings
        self.blockers: list[str] = []
        self.notes: list[str] = []
        self.artifacts: dict[str, str] = {}
        self.report: dict[str, Any] = {"case_id": case.case_id, "profile": "local", "run_id": ctx.run_id}
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
            **extra,
        )

    def preflight(self) -> Path:
        from dpone.integration_matrix import DEFAULT_INTEGRATION_MATRIX

        path = self.dir / f"{self.case.case_id}.json"
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
        behavior = self.write_behavior(None, None, passed=False)
        return self.record(
            CaseStatus.NOT_COVERED,
            EvidenceStatus.NOT_COVERED,
            reason=reason,
            preflight_path=str(preflight.resolve()),
            behavior_path=str(behavior.resolve()),
        )

    def run(self) -> CaseRecord:
        case = self.case
        if case.sink not in DRIVEN_SINKS or case.source not in DRIVEN_SOURCES:
            try:
                engine_for(case.sink, "sink")
                engine_for(case.source, "source")
            except EngineUnavailable as exc:
                return self.not_covered(exc.reason)
            return self.not_covered(f"no local runner for {case.source} -> {case.sink}")
        try:
            sink = engine_for(case.sink, "sink")
            source = engine_for(case.source, "source")
        except EngineUnavailable as exc:
            if exc.code != "engine.unavailable":
                self.block(exc.code)  # e.g. engine.auth_failed:<case>: the fix is the credentials, not the server
            return self.not_covered(exc.reason)
        assert sink is not None
        if case.strategy == "cdc":
            return self.not_covered(self._cdc_reason(source or sink))
        return self._run_real(source, sink)

    def _cdc_reason(self, engine: Engine) -> str:
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

    def _run_real(self, source: Engine | None, sink: Engine) -> CaseRecord:
        case, st = self.case, self.settings
        run_id = self.ctx.run_id
        src_name = object_name("src", run_id, case.case_id)
        dst_name = object_name("dst", run_id, case.case_id)
        stg_name = object_name("stg", run_id, case.case_id)
        src_engine = source or sink  # the api source is backed by a reference table in the sink's Postgres
        self.engine_desc = {
            "source": (src_engine.label if source else f"api-fixture(http) over {sink.label}"),
            "sink": sink.label,
            "source_detail": json.dumps(src_engine.describe(), sort_keys=True),
            "sink_detail": json.dumps(sink.describe(), sort_keys=True),
        }
        for secret in (src_engine.password, sink.password):
            if secret:
                self.secrets.append(secret)
        # ---- prepare schemas and seed -------------------------------------------------------------------
        with sink.connect() as conn:
            for name in (dst_name, stg_name):
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            conn.execute(f'CREATE SCHEMA "{dst_name}"')
            conn.execute(f'CREATE SCHEMA "{stg_name}"')  # dpone needs its staging schema to exist (§5b)
        t0 = time.perf_counter()
        if src_engine.family == "mysql":
            with src_engine.connect() as conn, conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{src_name}`")
            with src_engine.connect() as conn:
                cols = seed.mysql_seed(conn, src_name, st.row_count, st.wide_columns)
                seed.mysql_snapshot(conn, src_name)
        else:
            with src_engine.connect() as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{src_name}" CASCADE')
                cols = seed.pg_seed(conn, src_name, st.row_count, st.wide_columns)
                seed.pg_snapshot(conn, src_name)
        self.report["seed_seconds"] = round(time.perf_counter() - t0, 4)
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
        dataset = f"{short_run_id(run_id)}_{case.case_id}"
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
        )
        manifest = manifests.write(spec, self.dir / "manifest.yaml")
        self.artifacts["manifest"] = str(manifest)
        preflight = self.preflight()
        src_types = reconcile.table_types(src_engine, src_name, seed.TABLE)
        if case.source == "api":
            # The api's declared types are the ones in the manifest schema (the reference table's types).
            self.report["source_types_note"] = "api: declared types are the manifest's options.schema"
        ctx = _Reconciler(self, src_engine, sink, src_name, dst_name, cols, src_types, mutation)
        try:
            return self._flow(spec, env, ctx, mutation, cols, preflight)
        finally:
            if case.source == "api":
                api_fixture().unregister(dataset)
            if not self.ctx.keep_schemas:
                _drop_case_objects(src_engine, sink, src_name, (dst_name, stg_name))

    def _dpone(self, label: str, spec: manifests.ManifestSpec, env: dict[str, str], manifest: str) -> DponeCall:
        dpone_run_id = f"{short_run_id(self.ctx.run_id)}-{label}-{self.case.case_id}"[:120]
        call = self.ctx.adapter.cli(
            "run",
            ["run", manifest, "--selector", spec.selector, "--run-id", dpone_run_id, "--format", "json"],
            cwd=self.dir,
            env=env,
        )
        status, codes, errors = _dpone_errors(call)
        evidence = {
            "label": label,
            "command": call.command,
            "outcome": call.outcome.value,
            "rc": call.rc,
            "status": status,
            "error_codes": codes,
            "errors": errors,
            "duration_seconds": round(call.duration_seconds, 4),
            "payload": call.payload,
            "stderr_tail": call.stderr_tail if not _run_ok(call) else "",
        }
        path = self.write_json(f"dpone_run_{label}.json", evidence)
        self.artifacts[f"dpone_run_{label}"] = str(path)
        self.report.setdefault("dpone_runs", []).append({k: v for k, v in evidence.items() if k != "payload"})
        return call

    def _flow(
        self,
        spec: manifests.ManifestSpec,
        env: dict[str, str],
        rec: _Reconciler,
        mutation: seed.Mutation,
        cols: list[seed.Column],
        preflight: Path,
    ) -> CaseRecord:
        # ---- run 1: initial load (the source side of its reconciliation is computed meanwhile) ----------------
        call1 = self._dpone("load1", spec, env, "manifest.yaml")
        self.load_seconds += call1.duration_seconds
        payload = call1.payload if isinstance(call1.payload, dict) else {}
        throughput = (((payload.get("result") or {}).get("details") or {}).get("run_throughput")) or {}
        if isinstance(throughput, dict) and throughput.get("rows_per_second") is not None:
            self.rows_per_second = float(throughput["rows_per_second"])
        if not _run_ok(call1):
            _, codes, errors = _dpone_errors(call1)
            self.block("run.failed")
            self.notes.append(f"first load failed: {_headline(codes, errors, call1.outcome.value)}")
            status = CaseStatus.ERROR if call1.outcome is not Outcome.OK else CaseStatus.FAILED
            return self._finish(status, None, None, preflight, mutation)
        # ---- reconcile the initial load ------------------------------------------------------------------------
        initial = rec.initial()
        target_before_count = initial.actual_count
        # ---- mutate, run 2 --------------------------------------------------------------------------------------
        rec.mutate()
        call2 = self._dpone("load2", spec, env, "manifest.yaml")
        self.load_seconds += call2.duration_seconds
        final_source = "second run"
        if not _run_ok(call2):
            _, codes, errors = _dpone_errors(call2)
            self.block("rerun.failed")
            self.report["rerun_error_codes"] = codes
            self.notes.append(f"second run failed: {_headline(codes, errors, call2.outcome.value)}")
            if SCHEMA_EVOLUTION_BLOCKED in codes:
                probe_spec = dataclasses.replace(spec, schema_evolution=False)
                manifests.write(probe_spec, self.dir / "manifest.probe.yaml")
                self.artifacts["manifest_probe"] = str(self.dir / "manifest.probe.yaml")
                probe = self._dpone("probe", probe_spec, env, "manifest.probe.yaml")
                if _run_ok(probe):
                    final_source = "diagnostic probe (schema evolution disabled)"
                    self.notes.append(
                        "diagnostic probe with schema evolution disabled succeeded; its data findings are included"
                    )
                else:
                    _, pcodes, perrors = _dpone_errors(probe)
                    self.report["probe_error_codes"] = pcodes
                    self.notes.append(
                        "diagnostic probe (schema evolution disabled) also failed: "
                        + _headline(pcodes, perrors, probe.outcome.value)
                    )
                    if any("__dpone__" in e for e in perrors):
                        self.notes.append(
                            "the target dpone created on the first load lacks the technical columns "
                            "(__dpone__load_id, ...) the second load writes"
                        )
                    final_source = ""
            else:
                final_source = ""
        final = rec.final(apply_findings=bool(final_source))
        self.report["final_state_after"] = final_source or "second run failed; target left as after the first load"
        status = CaseStatus.PASSED if not self.blockers else CaseStatus.FAILED
        if call2.outcome is not Outcome.OK and not self.blockers:
            status = CaseStatus.ERROR
        self.report["initial"] = initial.to_json()
        return self._finish(status, final, target_before_count, preflight, mutation)

    def _finish(
        self,
        status: CaseStatus,
        final: reconcile.Comparison | None,
        target_before_count: int | None,
        preflight: Path,
        mutation: seed.Mutation,
    ) -> CaseRecord:
        if status is CaseStatus.PASSED and self.blockers:
            status = CaseStatus.FAILED
        passed = status is CaseStatus.PASSED
        if self.api_dataset:
            self.report["api_requests"] = api_fixture().requests(self.api_dataset)
        self.report["blockers"] = list(self.blockers)
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
            preflight_path=str(preflight.resolve()),
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
        self, final: reconcile.Comparison | None, target_before_count: int | None, *, passed: bool
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
            "engine": self.engine_desc,
            "blockers": list(self.blockers),
            "reconciliation_report": "reconciliation.json",
        }
        path = self.write_json(f"{self.case.case_id}__behavior.json", payload)
        return path


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
        self.checks: list[str] = []

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
        rel.where = self.window()
        return rel

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
        return self.history() if self.strategy in HISTORY else self.current(self.window())

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
        run.report["source_row_count"] = (
            comparison.expected_count
            if self.strategy not in HISTORY
            else reconcile.row_count(self.current(self.window()))
        )
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
            keeps_history = self.strategy in HISTORY and stage == "final"
            deleted_present = [k for k in comparison.extra_keys if k in m.deleted_ids]
            if deleted_present and not keeps_history:
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
        lost = {
            col: {"expected": e[col], "actual": a.get(col, {})}
            for col in e
            if a.get(col, {}).get("empty", 0) < e[col]["empty"] and a.get(col, {}).get("null", 0) > e[col]["null"]
        }
        self.run.report.setdefault("empty_string_preservation", {})[stage] = {
            "columns_checked": len(e),
            "columns_losing_empty_strings": lost,
            "expected_empty_cells": sum(v["empty"] for v in e.values()),
            "actual_empty_cells": sum(v.get("empty", 0) for v in a.values()),
        }
        self.checks.append(f"{stage}.empty_string_preserved:" + ("fail" if lost else "pass"))
        if lost and apply:
            self.run.block("correctness.empty_string_to_null")

    def _type_fidelity(self, dst_types: dict[str, reconcile.ColumnType]) -> dict[str, Any]:
        columns: list[dict[str, Any]] = []
        findings: dict[tuple[str, str], dict[str, Any]] = {}
        for col in self.cols:
            src_t = self.src_types.get(col.name)
            dst_t = dst_types.get(col.name)
            if src_t is None:
                continue
            dst_short = dst_t.short if dst_t else "missing"
            faithful = dst_t is not None and reconcile.type_faithful(src_t.short, dst_t.short)
            columns.append(
                {
                    "column": col.name,
                    "source_type": src_t.data_type,
                    "target_type": dst_t.data_type if dst_t else None,
                    "faithful": faithful,
                }
            )
            if not faithful:
                f = findings.setdefault((src_t.short, dst_short), {"from": src_t.short, "to": dst_short, "columns": []})
                f["columns"].append(col.name)
        return {"columns": columns, "findings": list(findings.values())}

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
