"""dpone's strategy contracts as data: complete, cited, and quoting the distribution verbatim where they say so."""

from __future__ import annotations

import re
from pathlib import Path

import dpone
import pytest

from dpone_certify.matrix.catalogue import default_cases
from dpone_certify.matrix.contracts import contract_for, load_contracts

DPONE_ROOT = Path(dpone.__file__).resolve().parent


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_every_local_strategy_has_a_cited_contract() -> None:
    contracts = load_contracts()
    strategies = {c.strategy for c in default_cases() if c.sink == "postgres"} - {"cdc"}
    assert strategies <= set(contracts.strategies)
    for name, contract in contracts.strategies.items():
        assert contract.cite, name
        for passage in contract.cite:
            assert passage.file and passage.heading and passage.quote, name
            assert passage.in_distribution or passage.file in contracts.docs_commits, passage.file


def test_promises_the_reconciliation_relies_on() -> None:
    assert contract_for("incremental_merge").deletes == "kept"
    assert contract_for("xmin").second_load == "upsert"
    assert contract_for("incremental_append").history == "versions"
    assert contract_for("backfill").same_campaign == "no_op"
    assert contract_for("replace").second_load == "replace_window"
    assert contract_for("snapshot_diff").deletes == "applied"
    merge_cites = " ".join(p.quote for p in contract_for("incremental_merge").cite)
    assert "never inferred silently from incremental cursors" in merge_cites
    with pytest.raises(KeyError, match="no dpone contract"):
        contract_for("teleport")


def test_contradictions_quote_both_sides_and_the_distribution_verbatim() -> None:
    contracts = load_contracts()
    assert set(contracts.contradictions) == {"merge_deletes", "api_snapshot_diff"}
    assert set(contracts.contradictions_for("api", "snapshot_diff")) == {"api_snapshot_diff"}
    assert set(contracts.contradictions_for("postgres", "xmin")) == {"merge_deletes"}
    assert contracts.contradictions_for("postgres", "snapshot_diff") == {}
    for topic, contradiction in contracts.contradictions.items():
        assert len(contradiction.quotes) == 2, topic
        for quote in contradiction.quotes:
            if quote.in_distribution:  # read from the installed build under test: must be there word for word
                source = (DPONE_ROOT.parent / quote.file).read_text(encoding="utf-8")
                assert _squash(quote.quote) in _squash(source), (topic, quote.file)
