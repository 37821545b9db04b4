"""reliability: real `dpone orchestrate run` experiments on a local PostgreSQL (the local profile's engine:
the configured `DPONE_IT_PG_*` server, else the embedded pgserver), a small postgres -> postgres full_refresh
manifest rendered by the local profile's manifest helper.

Every outcome is observed (dpone's JSON, its job-state and lock files, row counts by our SQL), never assumed:
- lock: a lock held by another holder (a lock file in dpone's own format) blocks a run (`lock.concurrent_run`),
  the held lock is left alone, and the run proceeds once it is released;
- committed: a committed run id is not re-run (`job_state.already_committed`, target row count unchanged);
- crash: a run that dies mid-way (dpone raises: no JSON) leaves its job state `running`; the next default call
  is refused (`job_state.already_running` or `job_state.resume_required`) and `--resume-policy resume` commits;
- retries: a run that fails with `--retry-attempts 2` is attempted 3 times and says so.
The domain artifact's `passed` is the conjunction of the observed expectations."""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dpone_certify.dpone.adapter import DponeAdapter, DponeCall, Outcome
from dpone_certify.matrix.local import manifests, seed
from dpone_certify.matrix.local.engines import Engine, EngineUnavailable, postgres_engine
from dpone_certify.release.common import ProducerResult, missing, produced, write_json

ROWS = 200
WIDE_COLUMNS = 8
RETRY_ATTEMPTS = 2
REFUSED_PORT = "1"  # nothing listens on port 1: the source connection is refused (a transient-looking failure)


@dataclass
class Expectation:
    name: str
    expected: str
    observed: str
    held: bool


@dataclass
class Experiment:
    name: str
    question: str
    expectations: list[Expectation] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    blocker: str = ""

    def expect(self, name: str, expected: str, observed: Any, held: bool) -> None:
        self.expectations.append(Expectation(name, expected, json.dumps(observed, default=str), bool(held)))

    @property
    def passed(self) -> bool:
        return bool(self.expectations) and all(e.held for e in self.expectations)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "question": self.question,
            "passed": self.passed,
            "expectations": [e.__dict__ for e in self.expectations],
            "dpone_calls": self.calls,
            "blocker": self.blocker if not self.passed else None,
        }


class _Lab:
    """One experiment's schemas, manifest and dpone folders."""

    def __init__(self, adapter: DponeAdapter, engine: Engine, out: Path, tag: str, name: str) -> None:
        self.adapter, self.engine = adapter, engine
        self.dir = out / name
        self.dir.mkdir(parents=True, exist_ok=True)
        base = f"rel_{tag}_{name}"[:50]
        self.src, self.dst, self.stg = f"{base}_src", f"{base}_dst", f"{base}_stg"
        self.spec = manifests.ManifestSpec(
            source="postgres",
            strategy="full_refresh",
            source_schema=self.src,
            target_schema=self.dst,
            staging_schema=self.stg,
        )
        manifests.write(self.spec, self.dir / "manifest.yaml")
        self.env = {
            **engine.dpone_env(manifests.SINK_CONNECTION),
            **engine.dpone_env(manifests.SOURCE_CONNECTION["postgres"]),
        }
        self.lock_dir, self.state_dir = self.dir / "locks", self.dir / "state"

    def sql(self, *statements: str) -> None:
        with self.engine.connect() as conn:
            for stmt in statements:
                conn.execute(stmt)

    def prepare(self, *, staging: bool = True, seed_rows: bool = True) -> None:
        self.drop()
        self.sql(f'CREATE SCHEMA "{self.dst}"')
        if staging:
            self.sql(f'CREATE SCHEMA "{self.stg}"')
        if seed_rows:
            with self.engine.connect() as conn:
                seed.pg_seed(conn, self.src, ROWS, WIDE_COLUMNS)  # creates the source schema
        else:
            self.sql(f'CREATE SCHEMA "{self.src}"')

    def drop(self) -> None:
        self.sql(*(f'DROP SCHEMA IF EXISTS "{s}" CASCADE' for s in (self.src, self.dst, self.stg)))

    def count(self, schema: str) -> int | None:
        with self.engine.connect() as conn:
            if conn.execute("SELECT to_regclass(%s)", (f'"{schema}"."{seed.TABLE}"',)).fetchone()[0] is None:
                return None
            row = conn.execute(f'SELECT count(*) FROM "{schema}"."{seed.TABLE}"').fetchone()
        return int(row[0]) if row else None

    def orchestrate(
        self, exp: Experiment, label: str, run_id: str, *extra: str, env: dict[str, str] | None = None
    ) -> DponeCall:
        argv = [
            "orchestrate",
            "run",
            "--manifest",
            "manifest.yaml",
            "--selector",
            self.spec.selector,
            "--run-id",
            run_id,
            "--lock-dir",
            str(self.lock_dir),
            "--state-dir",
            str(self.state_dir),
            "--output-dir",
            str(self.dir / f"out_{label}"),
            *extra,
            "--format",
            "json",
        ]
        call = self.adapter.cli("reliability_evidence", argv, cwd=self.dir, env={**self.env, **(env or {})})
        payload = call.payload if isinstance(call.payload, dict) else {}
        evidence = {
            "label": label,
            "command": call.command,
            "outcome": call.outcome.value,
            "rc": call.rc,
            "duration_seconds": round(call.duration_seconds, 3),
            "payload": payload or None,
            "stderr_tail": call.stderr_tail[-1500:] if call.outcome is not Outcome.OK else "",
        }
        path = write_json(self.dir / f"dpone_{label}.json", evidence)
        exp.calls.append(
            {
                "label": label,
                "rc": call.rc,
                "outcome": call.outcome.value,
                "evidence": path.name,
                "status": payload.get("status"),
                "blockers": payload.get("blockers"),
            }
        )
        return call

    def state(self, run_id: str) -> dict[str, Any]:
        path = self.state_dir / f"{run_id}.job_state.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _payload(call: DponeCall) -> dict[str, Any]:
    return call.payload if isinstance(call.payload, dict) else {}


def lock_path(lock_dir: Path, key: str) -> Path:
    """Where dpone's LocalRunLockManager keeps the lock of `key` (dpone.orchestration.locks._path, 0.88)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("._") or "default"
    return lock_dir / f"{safe}.lock.json"


def exp_lock(lab: _Lab, tag: str) -> tuple[Experiment, None]:
    exp = Experiment(
        "lock_blocks_concurrent_run",
        "Does a held lock block a second run of the same key?",
        blocker="reliability.lock_not_enforced",
    )
    lab.prepare()
    key = f"certify-{tag}-lock"
    held = lock_path(lab.lock_dir, key)
    held.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    held.write_text(json.dumps({"key": key, "token": token, "created_at_epoch": time.time()}) + "\n", encoding="utf-8")
    blocked = lab.orchestrate(exp, "while_locked", f"{tag}-lock-1", "--concurrency-key", key)
    p = _payload(blocked)
    exp.expect(
        "refused",
        "rc 1, blockers contain lock.concurrent_run",
        [blocked.rc, p.get("blockers")],
        blocked.rc == 1 and "lock.concurrent_run" in (p.get("blockers") or []),
    )
    exp.expect("not_acquired", "lock_acquired false", p.get("lock_acquired"), p.get("lock_acquired") is False)
    exp.expect("nothing_loaded", "target table not created", lab.count(lab.dst), lab.count(lab.dst) is None)
    still = json.loads(held.read_text(encoding="utf-8")).get("token") if held.exists() else None
    exp.expect("holder_untouched", "the holder's lock file is left as it was", still == token, still == token)
    held.unlink()
    after = lab.orchestrate(exp, "after_release", f"{tag}-lock-2", "--concurrency-key", key)
    pa = _payload(after)
    exp.expect(
        "runs_after_release",
        "committed once the lock is released",
        [after.rc, pa.get("status"), (pa.get("job_state") or {}).get("status")],
        after.rc == 0 and (pa.get("job_state") or {}).get("status") == "committed",
    )
    exp.expect("released", "no lock file left behind", held.exists(), not held.exists())
    return exp, None


def exp_committed(lab: _Lab, tag: str) -> tuple[Experiment, dict[str, Any] | None]:
    exp = Experiment(
        "committed_job_not_rerun",
        "Is a committed run id refused instead of loading again?",
        blocker="reliability.committed_rerun",
    )
    lab.prepare()
    run_id = f"{tag}-committed"
    first = lab.orchestrate(exp, "first", run_id, "--retry-attempts", str(RETRY_ATTEMPTS))
    p1 = _payload(first)
    rr = p1.get("run_result") or {}
    exp.expect(
        "first_commits",
        "rc 0, job state committed",
        [first.rc, (p1.get("job_state") or {}).get("status")],
        first.rc == 0 and lab.state(run_id).get("status") == "committed",
    )
    exp.expect(
        "retry_budget_recorded",
        f"max_attempts {RETRY_ATTEMPTS + 1}, attempts 1",
        [rr.get("attempts"), rr.get("max_attempts")],
        rr.get("attempts") == 1 and rr.get("max_attempts") == RETRY_ATTEMPTS + 1,
    )
    loaded = lab.count(lab.dst)
    with lab.engine.connect() as conn:  # new source rows: a re-run would be visible in the target
        conn.execute(f'DELETE FROM "{lab.src}"."{seed.TABLE}" WHERE id <= 10')
    second = lab.orchestrate(exp, "again", run_id)
    p2 = _payload(second)
    exp.expect(
        "refused",
        "rc 1, blockers == [job_state.already_committed]",
        [second.rc, p2.get("blockers")],
        second.rc == 1 and p2.get("blockers") == ["job_state.already_committed"],
    )
    exp.expect(
        "not_rerun",
        "no run result, target row count unchanged",
        [p2.get("run_result"), loaded, lab.count(lab.dst)],
        not p2.get("run_result") and loaded == ROWS and lab.count(lab.dst) == loaded,
    )
    exp.expect(
        "state_after_refusal", "observed (dpone marks the committed job blocked)", lab.state(run_id).get("status"), True
    )
    return exp, rr if first.rc == 0 and rr.get("passed") else None


def exp_crash_resume(lab: _Lab, tag: str) -> tuple[Experiment, dict[str, Any] | None]:
    exp = Experiment(
        "crashed_run_requires_resume",
        "Does a crashed run require an explicit resume, and resume?",
        blocker="reliability.resume_not_enforced",
    )
    lab.prepare(staging=False)  # dpone's stage table cannot be created: the run dies mid-way
    run_id = f"{tag}-crash"
    crashed = lab.orchestrate(exp, "crash", run_id)
    st = lab.state(run_id)
    exp.expect(
        "crashed",
        "no verdict (dpone raised), job state left running",
        [crashed.outcome.value, st.get("status")],
        crashed.outcome is Outcome.CRASHED and st.get("status") == "running",
    )
    refused = lab.orchestrate(exp, "default_policy", run_id)
    pr = _payload(refused)
    wanted = {"job_state.already_running", "job_state.resume_required"}
    exp.expect(
        "resume_required",
        "rc 1 and already_running or resume_required",
        [refused.rc, pr.get("blockers")],
        refused.rc == 1 and bool(wanted & set(pr.get("blockers") or [])),
    )
    exp.expect("not_loaded_yet", "target table not created", lab.count(lab.dst), lab.count(lab.dst) is None)
    lab.sql(f'CREATE SCHEMA "{lab.stg}"')  # the cause is fixed
    resumed = lab.orchestrate(exp, "resume", run_id, "--resume-policy", "resume")
    ps = _payload(resumed)
    exp.expect(
        "resumes",
        "rc 0, committed, every source row in the target",
        [resumed.rc, lab.state(run_id).get("status"), lab.count(lab.dst)],
        resumed.rc == 0 and lab.state(run_id).get("status") == "committed" and lab.count(lab.dst) == ROWS,
    )
    rr = ps.get("run_result") or {}
    return exp, rr if resumed.rc == 0 and rr.get("passed") else None


def exp_retries(lab: _Lab, tag: str) -> tuple[Experiment, None]:
    exp = Experiment(
        "failed_run_is_retried",
        f"Is a failing run retried --retry-attempts {RETRY_ATTEMPTS} times, and are the attempts recorded?",
        blocker="reliability.retry_not_attempted",
    )
    lab.prepare()
    run_id = f"{tag}-retry"
    refused_port = {
        f"DPONE_CONN_{manifests.SOURCE_CONNECTION['postgres'].upper()}_HOST": "127.0.0.1",
        f"DPONE_CONN_{manifests.SOURCE_CONNECTION['postgres'].upper()}_PORT": REFUSED_PORT,
    }
    call = lab.orchestrate(exp, "failing", run_id, "--retry-attempts", str(RETRY_ATTEMPTS), env=refused_port)
    p = _payload(call)
    rr = p.get("run_result") or {}
    st = lab.state(run_id)
    exp.expect(
        "verdict",
        "a JSON verdict (run.not_passed), not a crash",
        [call.outcome.value, p.get("blockers")],
        call.outcome is Outcome.OK and "run.not_passed" in (p.get("blockers") or []),
    )
    exp.expect(
        "attempted",
        f"attempts == max_attempts == {RETRY_ATTEMPTS + 1}",
        [rr.get("attempts"), rr.get("max_attempts"), "state attempt", st.get("attempt")],
        rr.get("attempts") == rr.get("max_attempts") == RETRY_ATTEMPTS + 1,
    )
    return exp, None


EXPERIMENTS: tuple[tuple[str, Callable[[_Lab, str], tuple[Experiment, dict[str, Any] | None]]], ...] = (
    ("lock", exp_lock),
    ("committed", exp_committed),
    ("crash", exp_crash_resume),
    ("retry", exp_retries),
)


def produce(
    *, adapter: DponeAdapter, out: Path, run_id: str, engine_factory: Callable[[], Engine] = postgres_engine
) -> ProducerResult:
    result = ProducerResult()
    out.mkdir(parents=True, exist_ok=True)
    try:
        engine = engine_factory()
    except EngineUnavailable as exc:
        result.block("reliability.engine_unavailable")
        result.domains.append(missing("reliability", f"no PostgreSQL for the experiments: {exc.reason}"))
        return result
    tag = re.sub(r"[^a-z0-9]", "", run_id.lower())[:8] or "run"
    experiments: list[Experiment] = []
    run_report: dict[str, Any] | None = None
    started = time.perf_counter()
    for name, fn in EXPERIMENTS:
        lab = _Lab(adapter, engine, out, tag, name)
        t0 = time.perf_counter()
        try:
            exp, report = fn(lab, tag)
        except Exception as exc:  # noqa: BLE001 - a harness failure is an unobserved experiment, never a pass
            exp, report = Experiment(name, "harness error", blocker="reliability.experiment_error"), None
            exp.expect("harness", "experiment ran", f"{type(exc).__name__}: {exc}"[:500], False)
        finally:
            with contextlib.suppress(Exception):
                lab.drop()
        result.metrics[f"{name}_seconds"] = round(time.perf_counter() - t0, 3)
        experiments.append(exp)
        run_report = run_report or report
    result.metrics["experiments_seconds"] = round(time.perf_counter() - started, 3)
    blockers = sorted({e.blocker for e in experiments if not e.passed})
    result.block(*blockers)
    passed = all(e.passed for e in experiments)
    summary = (
        f"{sum(e.passed for e in experiments)}/{len(experiments)} reliability experiments held, observed with "
        f"dpone orchestrate run on {engine.label} ({ROWS} rows x {WIDE_COLUMNS + 4} columns)"
    )
    artifact = {
        "passed": passed,
        "summary": summary,
        "engine": engine.describe(),
        "experiments": [e.to_json() for e in experiments],
        "blockers": blockers,
    }
    path = write_json(out / "reliability.json", artifact)
    result.artifacts["report"] = str(path)
    if run_report is not None:
        # dpone's own run result (RunManifestResult, the `dpone run --format json` shape) of a committed run.
        result.artifacts["run_report"] = str(write_json(out / "run_report.json", run_report))
    result.domains.append(produced("reliability", path, passed=passed))
    result.metrics.update(
        experiments=float(len(experiments)), experiments_passed=float(sum(e.passed for e in experiments))
    )
    result.summary = summary + ": " + ", ".join(f"{e.name}={'held' if e.passed else 'FAILED'}" for e in experiments)
    return result
