"""A run's certification report, rendered from the gate records it left in its evidence folder."""

from dpone_certify.report.render import (
    GATE_ORDER,
    GateSection,
    MatrixSummary,
    ReportPaths,
    RunReport,
    collect,
    render_html,
    render_markdown,
    write_report,
)

__all__ = [
    "GATE_ORDER",
    "GateSection",
    "MatrixSummary",
    "ReportPaths",
    "RunReport",
    "collect",
    "render_html",
    "render_markdown",
    "write_report",
]
