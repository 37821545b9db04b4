"""Change-impact coverage: which files differ between two dpone distributions, which engines and strategies they
belong to, and whether this certification exercised them ("65 of 71 changed files are MSSQL/ClickHouse native
paths; not covered here: enable with ...").

The file lists and digests come from each build's own interpreter (`worker.op_identity` with `files`), so a
patched copy of a build shows its patched files as changed too. The mapping is by path: a file belongs to the
engines and strategies whose names appear in its path; other files are shared code.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

from pydantic import BaseModel, Field

ENGINES: dict[str, tuple[str, ...]] = {
    "postgres": ("postgres", "postgresql", "pg"),
    "mysql": ("mysql", "mariadb"),
    "mssql": ("mssql", "sqlserver", "tds", "bcp"),
    "clickhouse": ("clickhouse",),
    "bigquery": ("bigquery", "bq", "gcs"),
    "kafka": ("kafka", "avro", "schema_registry"),
    "api": ("api", "rest", "http"),
}
# strategy -> spellings in dpone's paths (e.g. `postgres_increment_append.py`)
STRATEGIES: dict[str, tuple[str, ...]] = {
    "full_refresh": ("full_refresh", "fullrefresh"),
    "incremental_append": ("incremental_append", "increment_append", "append"),
    "incremental_merge": ("incremental_merge", "increment_merge", "merge", "upsert"),
    "replace": ("replace",),
    "snapshot_diff": ("snapshot_diff", "snapshot"),
    "partition_replace": ("partition_replace", "partition"),
    "scd2": ("scd2", "scd"),
    "backfill": ("backfill",),
    "xmin": ("xmin",),
    "cdc": ("cdc", "debezium", "wal2json"),
}
_TOKEN = re.compile(r"[a-z0-9]+")


class ChangedFile(BaseModel):
    path: str
    change: str  # added | removed | modified
    engines: list[str] = Field(default_factory=list)
    strategies: list[str] = Field(default_factory=list)
    exercised: str  # yes | no | shared (shared code: reached by every case, not attributable)


class ImpactReport(BaseModel):
    changed_files: int
    by_engine: dict[str, int]
    exercised: int
    not_exercised: int
    shared: int
    not_covered_engines: dict[str, str]  # engine -> how to enable it here
    summary: str
    files: list[ChangedFile]


def areas(path: str) -> tuple[list[str], list[str]]:
    low = path.lower()
    tokens = set(_TOKEN.findall(low))
    engines = sorted(e for e, names in ENGINES.items() if tokens & set(names))
    words = set(re.findall(r"[a-z0-9_]+", low))
    strategies = sorted(
        s for s, names in STRATEGIES.items() if any(n in tokens or any(n in w for w in words) for n in names)
    )
    return engines, strategies


def changed_files(candidate: Mapping[str, str], control: Mapping[str, str]) -> list[tuple[str, str]]:
    out = []
    for path in sorted(set(candidate) | set(control)):
        if path not in control:
            out.append((path, "added"))
        elif path not in candidate:
            out.append((path, "removed"))
        elif candidate[path] != control[path]:
            out.append((path, "modified"))
    return out


def impact(
    candidate: Mapping[str, str],
    control: Mapping[str, str],
    *,
    covered_engines: Iterable[str],
    covered_strategies: Iterable[str],
    how_to_enable: Mapping[str, str] | None = None,
    hints: Mapping[str, str] | None = None,
) -> ImpactReport:
    """`how_to_enable` (engine -> the full instructions) goes into the report; `hints` (engine -> a few words,
    e.g. the variable to set) into the one-line summary the terminal prints."""
    ran_engines, ran_strategies = set(covered_engines), set(covered_strategies)
    files = []
    for path, change in changed_files(candidate, control):
        engines, strategies = areas(path)
        if not engines and not strategies:
            exercised = "shared" if ran_engines else "no"
        else:
            engine_hit = not engines or bool(set(engines) & ran_engines)
            strategy_hit = not strategies or bool(set(strategies) & ran_strategies)
            exercised = "yes" if engine_hit and strategy_hit else "no"
        files.append(ChangedFile(path=path, change=change, engines=engines, strategies=strategies, exercised=exercised))
    by_engine = Counter(e for f in files for e in f.engines)
    missing = sorted({e for f in files if f.exercised == "no" for e in f.engines} - ran_engines)
    enable = {e: (how_to_enable or {}).get(e, "no local engine known") for e in missing}
    not_exercised = [f for f in files if f.exercised == "no"]
    if not files:
        summary = "the two builds install the same files: nothing changed to cover"
    else:
        top = [e for e, _ in by_engine.most_common(2)]
        top_count = sum(1 for f in files if set(f.engines) & set(top))
        lead = (
            f"{top_count} of {len(files)} changed files are {'/'.join(top)} paths"
            if top
            else f"{len(files)} changed files"
        )
        summary = f"{lead}; {len(files) - len(not_exercised)} exercised by this certification (shared code included)"
        if missing:
            short = [(hints or {}).get(e) for e in missing]
            how = ", ".join(h for h in short if h) if all(short) else "the comparison report says how to enable them"
            summary += f"; not covered here: {', '.join(missing)} ({how})"
    return ImpactReport(
        changed_files=len(files),
        by_engine=dict(by_engine),
        exercised=sum(f.exercised == "yes" for f in files),
        not_exercised=len(not_exercised),
        shared=sum(f.exercised == "shared" for f in files),
        not_covered_engines=enable,
        summary=summary,
        files=files,
    )
