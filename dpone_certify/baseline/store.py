"""Where baselines live and how one is accepted.

Precedence: the last baseline accepted into the evidence root (<root>/baselines/<profile>.json), else the file
shipped in this package (dpone_certify/baseline/data/<profile>.json), which was itself produced by `accept`
from a measured run. Accepting is always an explicit action, never a side effect of a passing run."""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from pydantic import BaseModel

from dpone_certify.certification.layout import EvidenceLayout
from dpone_certify.dpone.identity import BuildIdentity
from dpone_certify.evidence.atomic import atomic_write_json

# metric -> direction. rows_per_second: matrix rows moved per second of load time; load_seconds: total load time.
TRACKED_METRICS = {"rows_per_second": "higher", "load_seconds": "lower"}


class BaselineMetric(BaseModel):
    value: float
    direction: str


class MachineIdentity(BaseModel):
    """The machine a measurement was taken on: a baseline only judges runs on the same machine."""

    cpu_model: str
    cores: int
    memory_gb: float
    python: str
    dpone_build: str

    def same_machine(self, other: MachineIdentity | None) -> bool:
        return other is not None and self.model_dump() == other.model_dump()

    def describe(self) -> str:
        return (
            f"{self.cpu_model}, {self.cores} core(s), {self.memory_gb:g} GB, python {self.python}, {self.dpone_build}"
        )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return 0.0


def current_machine(build: BuildIdentity | None) -> MachineIdentity:
    """This machine, running `build` (the dpone build whose measurement is judged or accepted, as its records
    carry it; never the orchestrator's own dpone, which may be another build)."""
    return MachineIdentity(
        cpu_model=_cpu_model(),
        cores=os.cpu_count() or 0,
        memory_gb=_memory_gb(),
        python=build.python_version if build else platform.python_version(),
        dpone_build=f"dpone {build.dpone_version} ({build.short_digest})" if build else "unknown build",
    )


class Baseline(BaseModel):
    schema_version: str = "dpone_certify.benchmark_baseline.v1"
    profile: str
    row_count: int
    case_count: int
    case_set_sha256: str
    metrics: dict[str, BaselineMetric]
    accepted_from: dict[str, str]
    machine: MachineIdentity | None = None  # None: measured before machines were recorded (another machine)


def case_set_digest(case_ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(case_ids)).encode()).hexdigest()


def accepted_path(root: Path, profile: str) -> Path:
    return EvidenceLayout(root).baseline_path(profile)


def load_baseline(root: Path, profile: str) -> tuple[Baseline | None, str]:
    """The baseline in force and where it came from."""
    accepted = accepted_path(root, profile)
    if accepted.exists():
        return Baseline.model_validate_json(accepted.read_text(encoding="utf-8")), str(accepted)
    shipped = resources.files("dpone_certify.baseline") / "data" / f"{profile}.json"
    if shipped.is_file():
        return Baseline.model_validate_json(shipped.read_text(encoding="utf-8")), f"package:{profile}.json"
    return None, ""


def metric_guard(measured: dict[str, float], wanted: dict[str, str]) -> list[str]:
    """dpone turns a metric missing from --metrics-json into -Infinity, which passes for direction lower:
    refuse to call it with anything missing or non-finite."""
    blockers = []
    for name in wanted:
        if name not in measured:
            blockers.append(f"benchmark.metric_missing:{name}")
        elif not math.isfinite(measured[name]):
            blockers.append(f"benchmark.metric_not_finite:{name}")
    return blockers


def accept(
    root: Path,
    *,
    profile: str,
    row_count: int,
    case_ids: list[str],
    metrics: dict[str, float],
    run_id: str,
    source: str,
    build: BuildIdentity | None,
) -> Path:
    problems = metric_guard(metrics, TRACKED_METRICS)
    if problems:
        raise ValueError(f"cannot accept a baseline with unusable metrics: {', '.join(problems)}")
    baseline = Baseline(
        profile=profile,
        row_count=row_count,
        case_count=len(case_ids),
        case_set_sha256=case_set_digest(case_ids),
        metrics={m: BaselineMetric(value=metrics[m], direction=d) for m, d in TRACKED_METRICS.items()},
        accepted_from={
            "run_id": run_id,
            "source": source,
            "accepted_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
        },
        machine=current_machine(build),
    )
    path = accepted_path(root, profile)
    atomic_write_json(path, baseline.model_dump(mode="json"))
    return path


def to_dpone_baseline(baseline: Baseline) -> str:
    return json.dumps({m: {"value": v.value, "direction": v.direction} for m, v in baseline.metrics.items()})
