"""dpone's strategy contracts as data (`strategies.yaml`): what each load strategy promises for the first load,
the second load, updates, deletes and history, each promise with the dpone passage it comes from. Reconciliation
builds its expected side from these promises, never from what we assume a strategy should do; where dpone's own
texts disagree, the contradiction is listed here and reported as `docs.contradiction:<topic>`."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

CONTRACTS_FILE = "strategies.yaml"


class Passage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    heading: str
    quote: str
    in_distribution: bool = False  # a path inside the installed dpone package, not the repository docs

    def to_json(self) -> dict[str, str | bool]:
        return self.model_dump()


class StrategyContract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    first_load: Literal["source_boundary"]
    second_load: Literal["converge", "append_changes", "upsert", "replace_window", "history_versions"]
    same_campaign: Literal["no_op"] | None = None  # backfill: a rerun with the same backfill_id
    updates: Literal["applied", "new_version"]
    deletes: Literal["applied", "kept", "expired"]
    history: Literal["none", "versions"]
    cite: list[Passage] = Field(min_length=1)


class Contradiction(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    applies_to: list[str]
    sources: list[str]
    summary: str
    quotes: list[Passage] = Field(min_length=2)

    def concerns(self, source: str, strategy: str) -> bool:
        return strategy in self.applies_to and ("*" in self.sources or source in self.sources)


class Contracts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal["dpone_certify.strategy_contracts.v1"]
    distribution: str
    docs_commits: dict[str, str]
    strategies: dict[str, StrategyContract]
    contradictions: dict[str, Contradiction]

    def for_strategy(self, strategy: str) -> StrategyContract:
        try:
            return self.strategies[strategy]
        except KeyError:
            raise KeyError(f"no dpone contract recorded for strategy {strategy!r} in {CONTRACTS_FILE}") from None

    def contradictions_for(self, source: str, strategy: str) -> dict[str, Contradiction]:
        return {topic: c for topic, c in self.contradictions.items() if c.concerns(source, strategy)}


@cache
def load_contracts() -> Contracts:
    text = resources.files(__package__).joinpath(CONTRACTS_FILE).read_text(encoding="utf-8")
    return Contracts.model_validate(yaml.safe_load(text))


def contract_for(strategy: str) -> StrategyContract:
    return load_contracts().for_strategy(strategy)
