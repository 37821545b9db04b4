"""Blocker -> remediation lookup over the catalogue in `remediations.yaml`.

A catalogue entry's `blocker` is either a literal blocker string or a pattern with `<placeholder>` segments
(`matrix_behavior.missing:<case_id>`, `artifact.<name>.missing`). A placeholder matches one `:`-separated
segment (`[^:]+`); when it is the last segment after a colon it matches the rest of the string (`.+`), so a
file name or a `source:sink:strategy` triple may contain colons. A literal entry always wins over a pattern;
among patterns the one with the longest literal prefix wins (then the most literal characters, then file
order).

Entry text may use `{asset}`, `{partition}`, `{evidence_dir}` and the names of the entry's own placeholders
(`{case_id}`, `{metric}`, ...; `<source:sink:strategy>` is `{source_sink_strategy}`); they are filled when an
entry is looked up. Everything else, including JSON braces, is left as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator, model_validator

from dpone_certify.certification.keys import ALL_GATES

CATALOGUE_FILE = "remediations.yaml"
GENERIC_PATTERN = "*"
DAGSTER_MATERIALIZE = "dagster asset materialize"
# Shell expression, so a rendered command works as pasted whether or not the evidence root is configured.
DEFAULT_EVIDENCE_DIR = "${DPONE_CERTIFY_EVIDENCE_ROOT:-.dpone-certify/evidence}"

# Asset keys of the code location: an entry's `gate` must be one of these or one of its own placeholders.
ASSET_KEYS: frozenset[str] = frozenset(ALL_GATES)

_PLACEHOLDER = re.compile(r"<([^<>]+)>")
_FILL = re.compile(r"\{([a-z_]+)\}")
_STANDARD_FILLS = frozenset({"asset", "partition", "evidence_dir"})
_CASE_TRIPLE = "source:sink:strategy"


def _fill_name(placeholder: str) -> str:
    """The `{fill}` name of a placeholder: `<source:sink:strategy>` is filled as `{source_sink_strategy}`."""
    return re.sub(r"\W", "_", placeholder)


class CatalogueError(ValueError):
    """The remediation catalogue is malformed; the message names the offending entry."""


class Guidance(BaseModel):
    """What a catalogue entry says about a blocker (shared by the entry and the lookup's answer)."""

    blocker: str
    gate: str
    meaning: str
    inspect: list[str]
    reproduce: list[str]
    fix: list[str]
    do_not: list[str]


class RunbookEntry(Guidance):
    """One validated entry of `remediations.yaml`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("blocker", "gate", "meaning")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("inspect", "reproduce", "fix", "do_not")
    @classmethod
    def _non_empty_list(cls, value: list[str]) -> list[str]:
        items = [item.strip() for item in value]
        if not items or not all(items):
            raise ValueError("must be a non-empty list of non-empty strings")
        return items

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> RunbookEntry:
        asset_keys = (info.context or {}).get("asset_keys", ASSET_KEYS)
        names = self.placeholders
        if len(set(names)) != len(names):
            raise ValueError(f"placeholder used twice in blocker {self.blocker!r}")
        gate_ref = _PLACEHOLDER.fullmatch(self.gate)
        if gate_ref is not None:
            if gate_ref.group(1) not in names:
                raise ValueError(f"gate {self.gate!r} is not a placeholder of blocker {self.blocker!r}")
        elif self.gate not in asset_keys:
            raise ValueError(f"gate {self.gate!r} is not an asset key of the code location")
        if not any(DAGSTER_MATERIALIZE in command for command in self.reproduce):
            raise ValueError(f"reproduce must contain a `{DAGSTER_MATERIALIZE}` command")
        allowed = _STANDARD_FILLS | {_fill_name(name) for name in names}
        for text in self.texts():
            for fill in _FILL.findall(text):
                if fill not in allowed:
                    raise ValueError(f"unknown fill {{{fill}}} in {text!r}; allowed: {sorted(allowed)}")
        return self

    @property
    def placeholders(self) -> list[str]:
        return _PLACEHOLDER.findall(self.blocker)

    @property
    def is_pattern(self) -> bool:
        return bool(self.placeholders)

    def texts(self) -> list[str]:
        return [self.meaning, *self.inspect, *self.reproduce, *self.fix, *self.do_not]


class Remediation(Guidance):
    """What the person on call gets for one blocker (`blocker`: the concrete blocker that was looked up)."""

    pattern: str  # the catalogue entry's `blocker` that matched, or "*" for the generic triage
    known: bool  # False when no entry matched


@dataclass(frozen=True)
class _CompiledPattern:
    entry: RunbookEntry
    regex: re.Pattern[str]
    names: tuple[str, ...]
    specificity: tuple[int, int, int]


@dataclass(frozen=True)
class _Index:
    entries: tuple[RunbookEntry, ...]
    literals: dict[str, RunbookEntry]
    patterns: tuple[_CompiledPattern, ...]  # most specific first


def _compile(entry: RunbookEntry) -> _CompiledPattern:
    parts: list[str] = []
    names: list[str] = []
    position = 0
    matches = list(_PLACEHOLDER.finditer(entry.blocker))
    for number, match in enumerate(matches):
        parts.append(re.escape(entry.blocker[position : match.start()]))
        is_last = number == len(matches) - 1 and match.end() == len(entry.blocker)
        after_colon = match.start() > 0 and entry.blocker[match.start() - 1] == ":"
        parts.append("(.+)" if is_last and after_colon else "([^:]+)")
        names.append(match.group(1))
        position = match.end()
    parts.append(re.escape(entry.blocker[position:]))
    literal_chars = len(_PLACEHOLDER.sub("", entry.blocker))
    specificity = (matches[0].start(), literal_chars, -len(matches))
    return _CompiledPattern(entry, re.compile("".join(parts)), tuple(names), specificity)


def _validate(raw: Any, asset_keys: Iterable[str] | None = None) -> tuple[RunbookEntry, ...]:
    context = {"asset_keys": frozenset(asset_keys if asset_keys is not None else ASSET_KEYS)}
    if not isinstance(raw, list):
        raise CatalogueError(f"{CATALOGUE_FILE} must be a YAML list of entries, got {type(raw).__name__}")
    entries: list[RunbookEntry] = []
    seen: dict[str, int] = {}
    for number, item in enumerate(raw, start=1):
        name = item.get("blocker", "<no blocker field>") if isinstance(item, dict) else repr(item)
        try:
            entry = RunbookEntry.model_validate(item, context=context)
        except ValidationError as exc:
            raise CatalogueError(f"{CATALOGUE_FILE} entry #{number} ({name!r}) is invalid:\n{exc}") from exc
        if entry.blocker in seen:
            first = seen[entry.blocker]
            raise CatalogueError(f"{CATALOGUE_FILE} entry #{number} ({entry.blocker!r}) duplicates entry #{first}")
        seen[entry.blocker] = number
        entries.append(entry)
    return tuple(entries)


def parse_catalogue(text: str, asset_keys: Iterable[str] | None = None) -> list[RunbookEntry]:
    """Parse and validate catalogue YAML text (gates must be among `asset_keys`, default: the code location's).
    Raises `CatalogueError` naming the first bad entry."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{CATALOGUE_FILE} is not valid YAML: {exc}") from exc
    return list(_validate(raw, asset_keys))


@cache
def _index() -> _Index:
    text = resources.files(__package__).joinpath(CATALOGUE_FILE).read_text(encoding="utf-8")
    entries = tuple(parse_catalogue(text))
    literals = {entry.blocker: entry for entry in entries if not entry.is_pattern}
    # sorted() is stable, so equally specific patterns keep their file order.
    compiled = sorted(
        (_compile(entry) for entry in entries if entry.is_pattern), key=lambda p: p.specificity, reverse=True
    )
    return _Index(entries, literals, tuple(compiled))


def load_catalogue() -> list[RunbookEntry]:
    """The catalogue entries in file order (parsed and validated once per process)."""
    return list(_index().entries)


def all_patterns() -> list[str]:
    """Every entry's `blocker` field (literals and patterns), in file order."""
    return [entry.blocker for entry in _index().entries]


def normalise_chain_blocker(broken_entry: str) -> str:
    """Map one item of dpone's `evidence-chain-verify` `broken_entries` to a blocker.

    dpone reports a broken chain entry as the bare release id; its own codes already start with `chain.`."""
    broken_entry = broken_entry.strip()
    return broken_entry if broken_entry.startswith("chain.") else f"chain.broken_entry:{broken_entry}"


def _match(blocker: str) -> tuple[RunbookEntry, dict[str, str]] | None:
    index = _index()
    literal = index.literals.get(blocker)
    if literal is not None:
        return literal, {}
    for pattern in index.patterns:
        found = pattern.regex.fullmatch(blocker)
        if found is not None:
            return pattern.entry, dict(zip(pattern.names, found.groups(), strict=True))
    return None


def _partition(captured: dict[str, str]) -> str | None:
    if "case_id" in captured:
        return captured["case_id"]
    triple = captured.get(_CASE_TRIPLE, "").split(":")
    if len(triple) == 3 and all(triple):
        source, sink, strategy = triple
        return f"{source}_to_{sink}__{strategy}"  # dpone's IntegrationMatrixCase.case_id
    return None


def _filler(values: dict[str, str]) -> Callable[[str], str]:
    def fill(text: str) -> str:
        return _FILL.sub(lambda m: values.get(m.group(1), m.group(0)), text)

    return fill


def _generic(blocker: str, gate: str | None, evidence_dir: str, problem: str | None = None) -> Remediation:
    asset = gate or "<asset>"
    inspect = [
        f"The failing check of asset `{asset}` in the Dagster UI: its metadata lists every blocker, "
        "the dpone command that ran, its exit code and the tail of its stderr.",
        f"The gate's own JSON and Markdown output in the run folder under {evidence_dir}.",
        "The dpone 0.88 contracts notes (shared docs, section 7, blocker index) for where dpone emits this string.",
    ]
    if problem:
        inspect.insert(0, f"The remediation catalogue could not be loaded: {problem}")
    return Remediation(
        blocker=blocker,
        pattern=GENERIC_PATTERN,
        known=False,
        gate=gate or "unknown",
        meaning=(
            f"`{blocker}` has no entry in the remediation catalogue. It is either a blocker string that a "
            "newer dpone build started to emit, a string copied from an input artifact's own `blockers[]`, "
            "or a new blocker of dpone-certify that nobody has documented yet. Treat it as a failed gate "
            "until explained."
        ),
        inspect=inspect,
        reproduce=[f"dagster asset materialize -m dpone_certify.definitions --select {asset}"],
        fix=[
            "Find which gate emitted the string (check metadata), reproduce it with the command above, "
            "and read the dpone output that carries it.",
            "Once the cause is understood, add an entry for it to dpone_certify/runbooks/remediations.yaml "
            "so the next person on call gets a real answer.",
        ],
        do_not=[
            "Do not treat an unknown blocker as noise and re-run until it disappears.",
            "Do not filter the string out of the gate's verdict to make the check green.",
        ],
    )


def remediation_for(blocker: str, *, gate: str | None = None, evidence_dir: str | None = None) -> Remediation:
    """The remediation for one blocker. Never raises: an unknown blocker gets a generic triage (known=False).

    `gate` is the asset the blocker was reported on; it overrides the entry's default gate and fills
    `{asset}`. `evidence_dir` fills `{evidence_dir}` (default: the configured evidence root as a shell
    expression)."""
    blocker = str(blocker).strip()
    evidence_dir = evidence_dir or DEFAULT_EVIDENCE_DIR
    try:
        found = _match(blocker)
    except (CatalogueError, OSError) as exc:  # a broken or missing catalogue must not take a gate down
        return _generic(blocker, gate, evidence_dir, problem=str(exc).splitlines()[0])
    if found is None:
        return _generic(blocker, gate, evidence_dir)
    entry, captured = found
    gate_ref = _PLACEHOLDER.fullmatch(entry.gate)
    resolved_gate = gate or (captured[gate_ref.group(1)] if gate_ref else entry.gate)
    values = {_fill_name(name): value for name, value in captured.items()}
    values.update(asset=resolved_gate, evidence_dir=evidence_dir, partition=_partition(captured) or "<case_id>")
    fill = _filler(values)
    return Remediation(
        blocker=blocker,
        pattern=entry.blocker,
        known=True,
        gate=resolved_gate,
        meaning=fill(entry.meaning),
        inspect=[fill(text) for text in entry.inspect],
        reproduce=[fill(text) for text in entry.reproduce],
        fix=[fill(text) for text in entry.fix],
        do_not=[fill(text) for text in entry.do_not],
    )


def remediations_for(
    blockers: Iterable[str], *, gate: str | None = None, evidence_dir: str | None = None
) -> list[Remediation]:
    """One remediation per distinct blocker, in the order first seen."""
    unique = dict.fromkeys(str(blocker).strip() for blocker in blockers)
    return [remediation_for(blocker, gate=gate, evidence_dir=evidence_dir) for blocker in unique]


def _bullets(items: list[str]) -> list[str]:
    return [f"- {item}" for item in items]


def render_markdown(remediations: list[Remediation]) -> str:
    """A Markdown section per remediation (`###` headings, so it nests under a report's `##`).

    Returns an empty string for an empty list."""
    sections: list[str] = []
    for item in remediations:
        source = (
            f"catalogue entry `{item.pattern}`" if item.known else "no catalogue entry: generic triage, please add one"
        )
        lines = [
            f"### `{item.blocker}`",
            "",
            f"Gate: `{item.gate}` ({source})",
            "",
            f"**What it means.** {item.meaning}",
            "",
            "**Look at**",
            "",
            *_bullets(item.inspect),
            "",
            "**Reproduce**",
            "",
            "```bash",
            *item.reproduce,
            "```",
            "",
            "**Fix**",
            "",
            *_bullets(item.fix),
            "",
            "**Do not**",
            "",
            *_bullets(item.do_not),
        ]
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + ("\n" if sections else "")
