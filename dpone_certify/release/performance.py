"""performance (production-maturity) and performance_lab (industrial-readiness) from the benchmark_baseline
record: dpone's own benchmark-baseline report, and only when that benchmark measured real data movement.

Under the contract profile the benchmark measured dpone's simulation; simulated throughput is never passed
off as performance evidence: both domains are missing, with the reason."""

from __future__ import annotations

from pathlib import Path

from dpone_certify.certification.records import GateRecord
from dpone_certify.release.common import ProducerResult, missing, produced, read_json
from dpone_certify.settings import Profile

DOMAINS = ("performance", "performance_lab")


def produce(benchmark: GateRecord | None) -> ProducerResult:
    if benchmark is None:
        result = ProducerResult(summary="benchmark_baseline was never materialized.")
        result.block("gate.input_missing:benchmark_baseline", "performance.missing")
        result.domains = [missing(d, "benchmark_baseline was never materialized") for d in DOMAINS]
        return result
    result = ProducerResult()
    report = benchmark.artifacts.get("report")
    if benchmark.profile is Profile.CONTRACT:
        reason = (
            "the benchmark measured dpone's mock_contract simulation (contract profile), not data movement; "
            "run the matrix and benchmark with the local profile"
        )
        result.block("performance.missing")
    elif not report or not Path(report).is_file():
        reason = (
            f"the {benchmark.profile.value} benchmark produced no dpone report "
            f"({', '.join(benchmark.blockers) or 'no report'}); accept a baseline and re-measure"
        )
        result.block("performance.missing", *benchmark.blockers)
    else:
        passed = read_json(report).get("passed") is True
        if not passed:
            result.block(*(benchmark.blockers or ["benchmark_baseline.not_passed"]))
        result.domains += [produced(d, report, passed=passed) for d in DOMAINS]
        result.artifacts["report"] = report
        result.metrics.update({k: v for k, v in benchmark.metrics.items() if not k.startswith("baseline_")})
        result.summary = (
            f"dpone benchmark-baseline of the {benchmark.profile.value} matrix (run `{benchmark.run_id}`), "
            f"passed={passed}; used as performance and performance_lab."
        )
        return result
    result.domains += [missing(d, reason) for d in DOMAINS]
    result.summary = f"Not produced: {reason}."
    return result
