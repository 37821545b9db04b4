"""production-maturity and industrial-readiness over the domains the producers really produced.

Only a domain whose producer wrote an artifact is passed (`--artifact domain=path`); a missing one is simply
not passed, so dpone reports `<domain>.missing` itself. The verdict, level, score and blockers are dpone's."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dpone_certify.certification.records import GateRecord
from dpone_certify.dpone.adapter import DponeAdapter, DponeCallError
from dpone_certify.dpone.models import ReadinessReport
from dpone_certify.release.common import Domain, DomainStatus, domains_of

PRODUCTION_DEFAULT = ("cdc", "performance", "security", "supply_chain", "governance", "docs")
INDUSTRIAL_DEFAULT = (
    "local_matrix",
    "correctness",
    "reliability",
    "performance_lab",
    "ux",
    "governance",
    "schema_evolution",
)
# No producer measures anything real for these; what evidence would satisfy them (reported, never stubbed).
NO_PRODUCER = {
    "governance": (
        "no producer: dpone-certify has nothing real to measure for governance yet (release approvals, change "
        "records, data ownership); evidence would be a signed approval/change record of this release"
    ),
    "ux": (
        "no producer: needs a measured usability check of dpone's CLI (e.g. scripted first-run of `dpone init` / "
        "`dpone check` with their outcomes recorded); `dpone init --help` crashes in 0.88"
    ),
}


@dataclass
class Readiness:
    report: ReadinessReport | None
    blockers: list[str]
    command: str
    argv_domains: dict[str, str]
    table: list[dict[str, Any]] = field(default_factory=list)
    report_path: str = ""


def collect(records: Iterable[GateRecord | None], wanted: Iterable[str]) -> dict[str, tuple[Domain, str]]:
    """Domain -> (domain, producer gate) for the domains wanted, from the producers' records."""
    wanted = set(wanted)
    found: dict[str, tuple[Domain, str]] = {}
    for rec in records:
        if rec is None:
            continue
        for name, dom in domains_of(rec.extra).items():
            if name in wanted:
                found[name] = (dom, rec.gate)
    return found


def local_service_cases() -> list[str]:
    """Every case dpone's catalogue says can run on local services, as `source:sink:strategy`."""
    from dpone_certify.matrix.catalogue import cases_by_id

    return [f"{c.source}:{c.sink}:{c.strategy}" for c in cases_by_id().values() if c.local_service_supported]


def evaluate(
    *,
    adapter: DponeAdapter,
    command: str,
    out: Path,
    release: str,
    domains: dict[str, tuple[Domain, str]],
    defaults: tuple[str, ...],
    cases: list[str] | None = None,
) -> Readiness:
    argv = ["ops", command, "--output-dir", str(out), "--release", release]
    passed_in: dict[str, str] = {}
    for name, (produced_dom, _) in sorted(domains.items()):
        if (
            produced_dom.status is not DomainStatus.MISSING
            and produced_dom.artifact
            and Path(produced_dom.artifact).is_file()
        ):
            argv += ["--artifact", f"{name}={produced_dom.artifact}"]
            passed_in[name] = produced_dom.artifact
    for case in cases or []:
        argv += ["--case", case]
    call = adapter.cli(command.replace("-", "_"), [*argv, "--format", "json"], cwd=out)
    shown = call.command if not cases else call.command.split(" --case ")[0] + f" --case ... ({len(cases)} cases)"
    blockers: list[str] = []
    report: ReadinessReport | None = None
    try:
        report = call.parse(ReadinessReport)
        blockers += report.blockers
        if not report.passed and not blockers:
            blockers.append(f"{command.replace('-', '_')}.not_passed")
    except DponeCallError as exc:
        blockers.append(exc.blocker)
    items = {i.domain: i for i in report.items} if report else {}
    table = []
    for name in sorted({*defaults, *domains, *items}):
        dom: Domain | None = domains[name][0] if name in domains else None
        producer = domains[name][1] if name in domains else ""
        item = items.get(name)
        status = dom.status.value if dom else "missing"
        reason = dom.reason if dom else NO_PRODUCER.get(name, "no producer in this graph")
        table.append(
            {
                "domain": name,
                "producer": producer or "none",
                "status": status,
                "passed_to_dpone": name in passed_in,
                "dpone_passed": bool(item.passed) if item else False,
                "artifact": passed_in.get(name, ""),
                "reason": reason,
            }
        )
    return Readiness(report, blockers, shown, passed_in, table, str(out / f"{command.replace('-', '_')}.json"))


@dataclass
class ReadinessVerdict:
    """What a release gate's record says about dpone's readiness answer."""

    passed: bool
    level: str
    metrics: dict[str, float]
    summary: str
    case_missing: list[str]


def verdict_of(outcome: Readiness) -> ReadinessVerdict:
    report = outcome.report
    case_missing = [b.split(":", 1)[1] for b in outcome.blockers if b.startswith("local_matrix.case_missing:")]
    counts = {s: sum(1 for row in outcome.table if row["status"] == s) for s in ("produced", "failed", "missing")}
    metrics = {
        "score": float(report.score) if report else 0.0,
        "domains_produced": float(counts["produced"]),
        "domains_failed": float(counts["failed"]),
        "domains_missing": float(counts["missing"]),
        "domains_passed_by_dpone": float(sum(row["dpone_passed"] for row in outcome.table)),
    }
    if report and report.matrix:
        metrics["cases_required"] = float(len(report.matrix.get("required_cases") or []))
        metrics["cases_covered"] = float(len(report.matrix.get("covered_cases") or []))
        metrics["cases_missing"] = float(len(report.matrix.get("missing_cases") or []))
    level = report.level if report else "no verdict"
    summary = (
        f"Level **{level}**, score {metrics['score']:.2f}. Domains handed to dpone: "
        f"{', '.join(sorted(outcome.argv_domains)) or 'none'}; missing (no real producer output): "
        f"{', '.join(r['domain'] for r in outcome.table if not r['passed_to_dpone']) or 'none'}."
        + (f" {len(case_missing)} required local-service case(s) not covered." if case_missing else "")
    )
    passed = bool(report and report.passed) and not outcome.blockers
    return ReadinessVerdict(passed=passed, level=level, metrics=metrics, summary=summary, case_missing=case_missing)
