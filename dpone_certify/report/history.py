"""Certification history as a Parquet dataset under the evidence root, and the deltas between two runs.

Layout: `<root>/history/cases/<run_id>.parquet` (one row per case, and per variant when a case carries
variants, per run) and `<root>/history/gates/<run_id>.parquet` (one row per gate per run). One file per run,
written to a temporary name in the same folder and renamed: concurrent runs never write the same file, a reader
never sees half a file, and re-writing a run's history (the report re-materialized) replaces it whole.

Deltas never mix profiles: two runs of different profiles are reported as not comparable. A throughput change
counts only beyond the noise measured between earlier repeated runs of the same profile."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

HISTORY_DIR = "history"
CASES = "cases"
GATES = "gates"
REFERENCE_VARIANT = "reference"

CASE_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("case_id", pa.string()),
        ("time", pa.timestamp("us", tz="UTC")),
        ("profile", pa.string()),
        ("variant", pa.string()),  # "" for the case itself; a variant's name otherwise ("reference", ...)
        ("dpone_version", pa.string()),
        ("distribution_digest", pa.string()),  # "" until the record carries the build's identity
        ("release", pa.string()),
        ("source", pa.string()),
        ("sink", pa.string()),
        ("strategy", pa.string()),
        ("outcome", pa.string()),  # passed | failed | not_covered | error
        ("evidence_status", pa.string()),
        ("covered", pa.bool_()),
        ("rows", pa.int64()),
        ("expected_rows", pa.int64()),
        ("actual_rows", pa.int64()),
        ("checksums", pa.string()),  # JSON object, "{}" when the record has none
        ("load_seconds", pa.float64()),
        ("reconcile_seconds", pa.float64()),
        ("rows_per_second", pa.float64()),
        ("blockers", pa.list_(pa.string())),
        ("reason", pa.string()),
    ]
)

GATE_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("gate", pa.string()),
        ("time", pa.timestamp("us", tz="UTC")),
        ("profile", pa.string()),
        ("status", pa.string()),  # passed | failed | no_record | unreadable
        ("required", pa.bool_()),
        ("evidence_status", pa.string()),
        ("blocker_count", pa.int64()),
        ("duration_seconds", pa.float64()),  # NaN when unknown
    ]
)


def history_dir(root: Path, kind: str = CASES) -> Path:
    return Path(root) / HISTORY_DIR / kind


def _build(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """The record's `build` (a `BuildIdentity` dump), or {} for records made before builds were identified."""
    build = record.get("build")
    return build if isinstance(build, Mapping) else {}


def _digest(record: Mapping[str, Any]) -> str:
    return str(_build(record).get("distribution_digest") or "")


def _version(record: Mapping[str, Any], default: str) -> str:
    return str(_build(record).get("dpone_version") or default)


def variants_of(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A case's variants as a list of dicts with a `name` (accepts a list of dicts or a name -> dict map)."""
    raw = record.get("variants")
    if isinstance(raw, Mapping):
        return [{"name": str(name), **(v if isinstance(v, Mapping) else {"status": v})} for name, v in raw.items()]
    if isinstance(raw, list):
        out = []
        for i, v in enumerate(raw):
            if isinstance(v, Mapping):
                out.append({"name": str(v.get("name") or v.get("variant") or f"variant-{i}"), **v})
        return out
    return []


def _checksums(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record's checksums, else those of its reconciliation report (local/live profiles): expected (source)
    and actual (target) checksum of the final state and whether they match. {} for simulated cases."""
    if isinstance(record.get("checksums"), Mapping):
        return dict(record["checksums"])
    path = (record.get("artifacts") or {}).get("reconciliation_report")
    if not path:
        return {}
    try:
        final = json.loads(Path(path).read_text(encoding="utf-8")).get("final") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    keys = ("expected_checksum", "actual_checksum", "checksum_match")
    return {k: final[k] for k in keys if k in final}


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def case_rows(
    records: Iterable[Mapping[str, Any]],
    *,
    run_id: str,
    time: datetime,
    dpone_version: str = "",
    release: str = "",
) -> list[dict[str, Any]]:
    """History rows of one run's case records (`CaseRecord.model_dump(mode="json")`, read defensively: fields
    added to the record later, such as variants or build identity, are taken when present)."""
    rows = []
    for r in records:
        base = {
            "run_id": run_id,
            "case_id": str(r.get("case_id", "")),
            "time": time,
            "profile": str(r.get("profile", "")),
            "dpone_version": _version(r, dpone_version),
            "distribution_digest": _digest(r),
            "release": str(r.get("release") or release),
            "source": str(r.get("source", "")),
            "sink": str(r.get("sink", "")),
            "strategy": str(r.get("strategy", "")),
        }
        load = _float(r.get("load_seconds")) or 0.0
        moved = _int(r.get("rows_moved")) or 0
        status = str(r.get("status", ""))
        rows.append(
            {
                **base,
                "variant": str(r.get("variant") or ""),
                "outcome": status,
                "evidence_status": str(r.get("evidence_status", "")),
                "covered": status in ("passed", "failed"),
                "rows": moved,
                "expected_rows": _int(r.get("expected_row_count")),
                "actual_rows": _int(r.get("actual_row_count")),
                "checksums": json.dumps(_checksums(r), sort_keys=True),
                "load_seconds": load,
                "reconcile_seconds": _float(r.get("reconcile_seconds")),
                "rows_per_second": moved / load if load > 0 and status in ("passed", "failed") else None,
                "blockers": [str(b) for b in r.get("blockers") or []],
                "reason": str(r.get("reason") or ""),
            }
        )
        for v in variants_of(r):
            v_status = str(v.get("status") or ("passed" if v.get("passed") else "failed"))
            v_load = _float(v.get("load_seconds")) or 0.0
            v_rows = _int(v.get("rows_moved") or v.get("rows")) or 0
            rows.append(
                {
                    **base,
                    "variant": str(v["name"]),
                    "outcome": v_status,
                    "evidence_status": str(v.get("evidence_status") or r.get("evidence_status", "")),
                    "covered": v_status in ("passed", "failed"),
                    "rows": v_rows,
                    "expected_rows": _int(v.get("expected_row_count")),
                    "actual_rows": _int(v.get("actual_row_count")),
                    "checksums": json.dumps(v.get("checksums") or {}, sort_keys=True),
                    "load_seconds": v_load,
                    "reconcile_seconds": _float(v.get("reconcile_seconds")),
                    "rows_per_second": v_rows / v_load if v_load > 0 else None,
                    "blockers": [str(b) for b in v.get("blockers") or []],
                    "reason": str(v.get("reason") or ""),
                }
            )
    return rows


def _write_atomic(path: Path, table: pa.Table) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def append_run(root: Path, run_id: str, cases: list[dict[str, Any]], gates: list[dict[str, Any]]) -> list[Path]:
    """Write this run's rows: one file per run and dataset, atomically (temp file + rename)."""
    written = [_write_atomic(history_dir(root, CASES) / f"{run_id}.parquet", pa.Table.from_pylist(cases, CASE_SCHEMA))]
    if gates:
        table = pa.Table.from_pylist(gates, GATE_SCHEMA)
        written.append(_write_atomic(history_dir(root, GATES) / f"{run_id}.parquet", table))
    return written


def _read(root: Path, kind: str, schema: pa.Schema) -> pa.Table:
    folder = history_dir(root, kind)
    files = sorted(p for p in folder.glob("*.parquet") if not p.name.startswith(".")) if folder.is_dir() else []
    tables = []
    for path in files:
        try:
            tables.append(pq.read_table(path).select(schema.names).cast(schema))
        except (OSError, pa.ArrowException, KeyError):
            continue  # a damaged file loses one run's history, never the report
    return pa.concat_tables(tables) if tables else schema.empty_table()


def read_cases(root: Path) -> list[dict[str, Any]]:
    return list(_read(root, CASES, CASE_SCHEMA).to_pylist())


def read_gates(root: Path) -> list[dict[str, Any]]:
    return list(_read(root, GATES, GATE_SCHEMA).to_pylist())


# ---- runs and deltas ------------------------------------------------------------------------------------


class RunSummary(BaseModel):
    run_id: str
    time: datetime
    profile: str
    dpone_version: str
    distribution_digest: str
    selected: int
    covered: int
    passed: int
    positive_controls: int = 0
    positive_controls_passed: int = 0
    rows_per_second: dict[str, float] = Field(default_factory=dict)  # strategy -> rows / load seconds
    load_seconds: float = 0.0
    gate_seconds: float | None = None
    failed_gates: list[str] = Field(default_factory=list)

    @property
    def pass_rate(self) -> float:
        return self.passed / self.selected if self.selected else 0.0

    @property
    def coverage(self) -> float:
        return self.covered / self.selected if self.selected else 0.0


def summarize(cases: list[dict[str, Any]], gates: list[dict[str, Any]] | None = None) -> list[RunSummary]:
    """One summary per run, oldest first. A run's profile is the profile of its case rows (one per run: the
    matrix of one run runs under one profile)."""
    by_run: dict[str, list[dict[str, Any]]] = {}
    for row in cases:
        by_run.setdefault(row["run_id"], []).append(row)
    gate_rows: dict[str, list[dict[str, Any]]] = {}
    for row in gates or []:
        gate_rows.setdefault(row["run_id"], []).append(row)
    out = []
    for run_id, rows in by_run.items():
        main = [r for r in rows if not r["variant"]]
        controls = [r for r in rows if r["variant"] == REFERENCE_VARIANT]
        rps: dict[str, float] = {}
        for strategy in sorted({r["strategy"] for r in main}):
            covered = [r for r in main if r["strategy"] == strategy and r["covered"]]
            load = sum(r["load_seconds"] or 0.0 for r in covered)
            if load > 0:
                rps[strategy] = sum(r["rows"] or 0 for r in covered) / load
        g = gate_rows.get(run_id, [])
        durations = [r["duration_seconds"] for r in g if r["duration_seconds"] is not None]
        durations = [d for d in durations if d == d]  # drop NaN
        first = main[0] if main else rows[0]
        out.append(
            RunSummary(
                run_id=run_id,
                time=min(r["time"] for r in rows),
                profile=first["profile"],
                dpone_version=first["dpone_version"],
                distribution_digest=first["distribution_digest"],
                selected=len(main),
                covered=sum(r["covered"] for r in main),
                passed=sum(r["outcome"] == "passed" for r in main),
                positive_controls=len(controls),
                positive_controls_passed=sum(r["outcome"] == "passed" for r in controls),
                rows_per_second=rps,
                load_seconds=sum(r["load_seconds"] or 0.0 for r in main),
                gate_seconds=sum(durations) if durations else None,
                failed_gates=[r["gate"] for r in g if r["status"] != "passed" and r["required"]],
            )
        )
    return sorted(out, key=lambda s: (s.time, s.run_id))


class ThroughputChange(BaseModel):
    strategy: str
    before: float
    after: float
    relative_change: float  # (after - before) / before
    noise: float | None  # relative run-to-run variation measured on earlier repeated runs; None: not measured
    beyond_noise: bool | None  # None when the noise is unknown


class Delta(BaseModel):
    run_a: str
    run_b: str
    profile: str | None  # None: the runs are of different profiles and are not compared
    comparable: bool
    reason: str = ""
    newly_failing: list[str] = Field(default_factory=list)
    newly_passing: list[str] = Field(default_factory=list)
    only_in_a: list[str] = Field(default_factory=list)
    only_in_b: list[str] = Field(default_factory=list)
    coverage_a: tuple[int, int] = (0, 0)  # (covered, selected)
    coverage_b: tuple[int, int] = (0, 0)
    throughput: list[ThroughputChange] = Field(default_factory=list)

    @classmethod
    def not_comparable(cls, run_a: str, run_b: str, reason: str) -> Delta:
        return cls(run_a=run_a, run_b=run_b, profile=None, comparable=False, reason=reason)

    @property
    def coverage_change(self) -> int:
        return self.coverage_b[0] - self.coverage_a[0]


def noise_by_strategy(runs: list[RunSummary], exclude: Iterable[str] = ()) -> dict[str, float]:
    """Median relative change of rows/s between consecutive runs of the same profile and build, excluding
    the runs compared; a strategy needs two such pairs (three runs) to have a measured noise."""
    skip = set(exclude)
    pool = [r for r in runs if r.run_id not in skip]
    diffs: dict[str, list[float]] = {}
    for prev, cur in zip(pool, pool[1:], strict=False):
        if (prev.profile, prev.dpone_version, prev.distribution_digest) != (
            cur.profile,
            cur.dpone_version,
            cur.distribution_digest,
        ):
            continue
        for strategy, value in cur.rows_per_second.items():
            before = prev.rows_per_second.get(strategy)
            if before and before > 0:
                diffs.setdefault(strategy, []).append(abs(value - before) / before)
    return {s: statistics.median(d) for s, d in diffs.items() if len(d) >= 2}


def _outcomes(rows: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {(r["case_id"], r["variant"]): r["outcome"] for r in rows}


def _key(case_id: str, variant: str) -> str:
    return f"{case_id}[{variant}]" if variant else case_id


def delta(root: Path, run_a: str, run_b: str, *, noise_factor: float = 2.0) -> Delta:
    """What changed from run A (before) to run B (after)."""
    cases = read_cases(root)
    rows_a = [r for r in cases if r["run_id"] == run_a]
    rows_b = [r for r in cases if r["run_id"] == run_b]
    for run_id, rows in ((run_a, rows_a), (run_b, rows_b)):
        if not rows:
            return Delta.not_comparable(run_a, run_b, f"run {run_id} has no history under {history_dir(root)}")
    profiles = {rows_a[0]["profile"], rows_b[0]["profile"]}
    if len(profiles) > 1:
        why = f"different profiles ({rows_a[0]['profile']} vs {rows_b[0]['profile']}): never judged together"
        return Delta.not_comparable(run_a, run_b, why)
    profile = profiles.pop()
    out_a, out_b = _outcomes(rows_a), _outcomes(rows_b)
    common = sorted(set(out_a) & set(out_b))
    runs = [s for s in summarize(cases, read_gates(root)) if s.profile == profile]
    summary = {s.run_id: s for s in runs}
    noise = noise_by_strategy(runs, exclude=(run_a, run_b))
    changes = []
    for strategy in sorted(set(summary[run_a].rows_per_second) & set(summary[run_b].rows_per_second)):
        before, after = summary[run_a].rows_per_second[strategy], summary[run_b].rows_per_second[strategy]
        rel = (after - before) / before if before else 0.0
        n = noise.get(strategy)
        changes.append(
            ThroughputChange(
                strategy=strategy,
                before=before,
                after=after,
                relative_change=rel,
                noise=n,
                beyond_noise=None if n is None else abs(rel) > noise_factor * n,
            )
        )
    return Delta(
        run_a=run_a,
        run_b=run_b,
        profile=profile,
        comparable=True,
        newly_failing=[_key(*k) for k in common if out_a[k] == "passed" and out_b[k] != "passed"],
        newly_passing=[_key(*k) for k in common if out_a[k] != "passed" and out_b[k] == "passed"],
        only_in_a=[_key(*k) for k in sorted(set(out_a) - set(out_b))],
        only_in_b=[_key(*k) for k in sorted(set(out_b) - set(out_a))],
        coverage_a=(summary[run_a].covered, summary[run_a].selected),
        coverage_b=(summary[run_b].covered, summary[run_b].selected),
        throughput=changes,
    )


def last_two(root: Path, profile: str) -> tuple[str, str] | None:
    runs = [s for s in summarize(read_cases(root)) if s.profile == profile]
    return (runs[-2].run_id, runs[-1].run_id) if len(runs) >= 2 else None


def previous_run(root: Path, run_id: str, profile: str) -> str | None:
    """The run of the same profile recorded just before `run_id` (the comparison of the report)."""
    runs = [s for s in summarize(read_cases(root)) if s.profile == profile]
    ids = [s.run_id for s in runs]
    if run_id in ids:
        i = ids.index(run_id)
        return ids[i - 1] if i > 0 else None
    return ids[-1] if ids else None


def render_delta(d: Delta, limit: int = 20) -> str:
    if not d.comparable:
        return f"diff {d.run_a} -> {d.run_b}: not compared: {d.reason}"
    ca, sa = d.coverage_a
    cb, sb = d.coverage_b
    lines = [
        f"diff {d.run_a} -> {d.run_b} (profile {d.profile})",
        f"coverage: {ca}/{sa} -> {cb}/{sb} cases really ran ({d.coverage_change:+d})",
        f"newly failing ({len(d.newly_failing)}): " + (", ".join(d.newly_failing[:limit]) or "none"),
        f"newly passing ({len(d.newly_passing)}): " + (", ".join(d.newly_passing[:limit]) or "none"),
    ]
    if d.only_in_a or d.only_in_b:
        lines.append(f"cases only in A: {len(d.only_in_a)}, only in B: {len(d.only_in_b)}")
    moved = [t for t in d.throughput if t.beyond_noise]
    unknown = [t for t in d.throughput if t.beyond_noise is None]
    lines.append(
        "throughput beyond noise: "
        + (", ".join(f"{t.strategy} {t.relative_change:+.0%} (noise {t.noise:.0%})" for t in moved) or "none")
    )
    if unknown:
        lines.append(
            "throughput, noise not measured yet (needs 3 earlier runs of this profile and build): "
            + ", ".join(f"{t.strategy} {t.relative_change:+.0%}" for t in unknown[:limit])
        )
    return "\n".join(lines)


def now() -> datetime:
    return datetime.now(UTC)
