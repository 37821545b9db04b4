"""A gate, declared: `GateSpec`. The keys, the plan-step mapping and the indexing/scanning order are derived
from the ordered spec lists (`certification.keys`); the Dagster builder (`gates.factory`) turns a spec with a
dpone call into an asset and its verdict check.

A spec without a `command` is a *hand-written* gate: the spec still places it in the graph (upstream, plan steps,
indexing, scanning), and its asset is written by hand where the gate really differs (the partitioned matrix,
the evidence chain, the release producers)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from dpone_certify.certification.records import GateRecord

FULL_CERTIFICATION_GROUP = "full_certification"
RELEASE_GROUP = "release"


class InputMissing(Exception):
    """Raised by a command's `argv` when an upstream record lacks what the call needs (the gate then reports
    `gate.input_missing:<upstream>`, the same as an upstream that never ran)."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.upstream = upstream


@dataclass
class GateInputs:
    """What a spec's functions see: this run, this gate's folder, the run settings and the upstream records.

    `settings` is the run's settings resource (release name, row count, evidence case, ...); `state` carries
    what `argv` decided (e.g. the evidence case) to `judge` and `summary`."""

    gate: str
    run_id: str
    out: Path
    settings: Any
    records: Mapping[str, GateRecord | None]
    state: dict[str, Any] = field(default_factory=dict)

    def record(self, name: str) -> GateRecord:
        rec = self.records.get(name)
        if rec is None:
            raise InputMissing(name)
        return rec

    def artifact(self, name: str, artifact: str = "report") -> str | None:
        rec = self.records.get(name)
        return rec.artifacts.get(artifact) if rec else None

    @property
    def present(self) -> list[GateRecord]:
        return [r for r in self.records.values() if r is not None]


@dataclass
class Judgement:
    """What a spec reads from dpone's answer (merged into the gate's record)."""

    blockers: list[str] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    summary: str | None = None


Argv = Callable[[GateInputs], list[str]]
Judge = Callable[[GateInputs, Any], Judgement]


def ops(inputs: GateInputs, command: str, *args: str) -> list[str]:
    """`dpone ops <command> --output-dir <this gate's folder> ...`: the argv most gates start with."""
    return ["ops", command, "--output-dir", str(inputs.out), *args]


def blockers_or(passed: bool, blockers: Iterable[str], not_passed: str) -> list[str]:
    """dpone's blockers; `not_passed` (e.g. `<gate>.not_passed`) when dpone failed without naming one, so a
    failed answer never becomes a record without a blocker."""
    found = list(blockers)
    return found if passed or found else [not_passed]


def own_verdict(inputs: GateInputs, answer: Any) -> Judgement:
    """The default judge, for an answer that carries its verdict (`passed`, `blockers`): dpone's blockers, or
    `<gate>.not_passed`."""
    return Judgement(blockers=blockers_or(answer.passed, answer.blockers, f"{inputs.gate}.not_passed"))


@dataclass(frozen=True)
class DponeCommand:
    """The one dpone call of a gate, as one line of its spec: what to ask, what comes back, what it means."""

    argv: Argv  # dpone's argv without `--format json` (the builder appends it)
    answer: type[BaseModel]  # the pydantic model of dpone's JSON answer
    judge: Judge = own_verdict  # answer -> blockers, artifacts, metrics, extra


@dataclass(frozen=True)
class GateSpec:
    name: str
    description: str
    upstream: tuple[str, ...] = ()
    # dpone plan steps this gate answers (dpone's plan says which are required); None: the step of its own name
    plan_steps: tuple[str, ...] | None = None
    kinds: frozenset[str] = frozenset({"dpone"})
    group: str = FULL_CERTIFICATION_GROUP
    trust_gate: bool = False  # a failure on simulated evidence adds `evidence.unverified:<gate>`
    indexed: bool = False  # artifact_index covers this gate's output folder
    scanned: bool = True  # security_evidence scans this gate's files
    # ---- a dpone gate (None: hand-written asset; the fields below apply to a gate with a command) ------
    command: DponeCommand | None = None
    # artifact -> its file in the gate's folder, known before the call (the judge may name others)
    artifacts: Mapping[str, str] = field(default_factory=dict, hash=False)  # a dict: keeps the spec hashable
    summary: str | Callable[[GateInputs], str] = ""
    partial_inputs: bool = False  # call dpone even when some upstream is missing (argv reports the gaps)
    records_release: bool = False  # the record carries the release name
    runs_on_crashed_inputs: bool = False  # still call dpone when an input crashed (it judges what exists)
    judges_settings_profile: bool = False  # no upstream records: the profile is the run's (the plan)

    @property
    def steps(self) -> tuple[str, ...]:
        return (self.name,) if self.plan_steps is None else self.plan_steps

    @property
    def hand_written(self) -> bool:
        return self.command is None

    def summary_for(self, inputs: GateInputs) -> str:
        return self.summary(inputs) if callable(self.summary) else self.summary

    def artifact_paths(self, inputs: GateInputs) -> dict[str, str]:
        return {name: str(inputs.out / file) for name, file in self.artifacts.items()}
