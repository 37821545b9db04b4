"""Blocker -> remediation, as data: `remediations.yaml` plus the lookup and Markdown rendering over it."""

from dpone_certify.runbooks.lookup import (
    ASSET_KEYS,
    CatalogueError,
    Remediation,
    RunbookEntry,
    all_patterns,
    load_catalogue,
    normalise_chain_blocker,
    parse_catalogue,
    remediation_for,
    remediations_for,
    render_markdown,
)

__all__ = [
    "ASSET_KEYS",
    "CatalogueError",
    "Remediation",
    "RunbookEntry",
    "all_patterns",
    "load_catalogue",
    "normalise_chain_blocker",
    "parse_catalogue",
    "remediation_for",
    "remediations_for",
    "render_markdown",
]
