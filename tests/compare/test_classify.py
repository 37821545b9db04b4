"""Case classification and change impact over hand-made records and file lists (pure functions)."""

from __future__ import annotations

from typing import Any

from dpone_certify.compare.classify import Throughput, Verdict, compare_case, finding_class, summarize
from dpone_certify.compare.impact import impact
from dpone_certify.dpone.identity import BuildIdentity
from dpone_certify.matrix.records import CaseRecord, CaseSettings, CaseStatus, EvidenceStatus
from dpone_certify.settings import Profile

CASE = "postgres_to_postgres__full_refresh"


def rec(status: CaseStatus, blockers: list[str] | None = None, *, rows: int = 1000, seconds: float = 1.0) -> CaseRecord:
    fields: dict[str, Any] = {
        "case_id": CASE,
        "source": "postgres",
        "sink": "postgres",
        "strategy": "full_refresh",
        "profile": Profile.LOCAL,
        "status": status,
        "evidence_status": EvidenceStatus.PASS if status is CaseStatus.PASSED else EvidenceStatus.FAIL,
        "run_id": "r",
        "settings": CaseSettings(row_count=rows, change_ratio=0.2, delete_ratio=0.05),
        "blockers": blockers or [],
        "rows_moved": rows,
        "load_seconds": seconds,
    }
    return CaseRecord(**fields)


P, F = CaseStatus.PASSED, CaseStatus.FAILED


def test_every_verdict_class() -> None:
    rows = f"correctness.row_count_mismatch:{CASE}"
    sums = f"correctness.checksum_mismatch:{CASE}"
    assert compare_case([rec(F, [rows])], [rec(P)]).verdict is Verdict.REGRESSION
    assert compare_case([rec(P)], [rec(F, [rows])]).verdict is Verdict.FIXED
    assert compare_case([rec(P)], [rec(P)]).verdict is Verdict.STILL_PASSING
    assert compare_case([rec(F, [rows])], [rec(F, [rows])]).verdict is Verdict.STILL_FAILING_SAME
    different = compare_case([rec(F, [rows, sums])], [rec(F, [rows])])
    assert different.verdict is Verdict.STILL_FAILING_DIFFERENT
    assert different.appeared == ["correctness.checksum_mismatch"] and different.vanished == []
    skipped = compare_case([rec(P)], [rec(CaseStatus.NOT_COVERED, [f"case.absent_in_build:{CASE}"])])
    assert skipped.verdict is Verdict.NOT_COMPARED and "control" in skipped.reason
    unproven = compare_case([rec(F, [f"harness.unproven:{CASE}"])], [rec(P)])
    assert unproven.verdict is Verdict.NOT_COMPARED and "unproven" in unproven.reason
    assert finding_class(rows) == "correctness.row_count_mismatch" and finding_class("run.failed") == "run.failed"


def test_throughput_ratio_only_beyond_the_noise_band() -> None:
    # candidate 1000 and 960 rows/s, control 1000 and 1000: band = max(4%, 0%, 5% floor) -> within noise
    within = compare_case([rec(P, seconds=1.0), rec(P, seconds=1000 / 960)], [rec(P), rec(P)])
    assert within.throughput is Throughput.WITHIN_NOISE and within.noise_band == 0.05
    # candidate at half the control's speed, repeats within 10% of each other: a throughput regression
    slow = compare_case([rec(P, seconds=2.0), rec(P, seconds=2.2)], [rec(P, seconds=1.0), rec(P, seconds=1.05)])
    assert (
        slow.throughput is Throughput.REGRESSION and slow.throughput_ratio is not None and slow.throughput_ratio < 0.6
    )
    # a noisy control (repeats 2x apart) widens the band: the same ratio is not called a regression
    noisy = compare_case([rec(P, seconds=1.5), rec(P, seconds=1.5)], [rec(P, seconds=0.7), rec(P, seconds=1.4)])
    assert noisy.throughput is Throughput.WITHIN_NOISE
    # one run per build: the ratio is shown, never judged
    single = compare_case([rec(P, seconds=2.0)], [rec(P, seconds=1.0)])
    assert single.throughput is Throughput.UNMEASURED and single.throughput_ratio == 0.5
    assert summarize([slow, within])["throughput_regression"] == 1


def test_change_impact_maps_files_to_engines_and_coverage() -> None:
    control = {
        "dpone/runtime/sinks/strategies/mssql/bcp_loader.py": "a",
        "dpone/runtime/sources/clickhouse/native.py": "b",
        "dpone/runtime/sinks/strategies/postgres/postgres_increment_append.py": "c",
        "dpone/version.py": "d",
    }
    candidate = {**control, "dpone/version.py": "e", "dpone/runtime/sources/clickhouse/native.py": "f"}
    candidate["dpone/runtime/sinks/strategies/mssql/bcp_loader.py"] = "g"
    candidate["dpone/runtime/sinks/strategies/postgres/postgres_increment_append.py"] = "h"
    report = impact(
        candidate,
        control,
        covered_engines={"postgres"},
        covered_strategies={"full_refresh"},
        how_to_enable={"mssql": "start mssql and set DPONE_IT_MSSQL_HOST", "clickhouse": "start it, set ..."},
        hints={"mssql": "set DPONE_IT_MSSQL_HOST", "clickhouse": "set DPONE_IT_CLICKHOUSE_HOST"},
    )
    by_path = {f.path: f for f in report.files}
    assert report.changed_files == 4
    assert by_path["dpone/runtime/sources/clickhouse/native.py"].exercised == "no"
    assert by_path["dpone/version.py"].exercised == "shared"
    # a postgres file of another strategy than the ones that ran is not exercised
    assert by_path["dpone/runtime/sinks/strategies/postgres/postgres_increment_append.py"].exercised == "no"
    assert report.not_covered_engines == {  # the full instructions, for the report
        "clickhouse": "start it, set ...",
        "mssql": "start mssql and set DPONE_IT_MSSQL_HOST",
    }
    # the summary (one terminal line) names the engines and the variable to set
    assert report.summary.endswith(
        "not covered here: clickhouse, mssql (set DPONE_IT_CLICKHOUSE_HOST, set DPONE_IT_MSSQL_HOST)"
    )
    assert impact(control, control, covered_engines=(), covered_strategies=()).changed_files == 0


def _in(mode: str, record: CaseRecord) -> CaseRecord:
    record.build = BuildIdentity(
        dpone_version="0.88.0",
        distribution_digest="installed:ab",
        digest_kind="installed",
        installed_digest="ab",
        python_version="3.11.7",
        interpreter=mode,  # type: ignore[arg-type]
    )
    return record


def test_throughput_is_compared_within_one_execution_mode() -> None:
    # The candidate's matrix run in the fork server is 5x faster than any isolated run: that is the mode, not
    # the build. Only its isolated repeat is compared with the control's isolated runs (A B A: judged).
    fork = _in("orchestrator", rec(P, seconds=0.2))
    mixed = compare_case(
        [fork, _in("isolated", rec(P, seconds=1.0))],
        [_in("isolated", rec(P, seconds=1.0)), _in("isolated", rec(P, seconds=1.02))],
    )
    assert mixed.candidate_rows_per_second == [1000.0] and mixed.throughput is Throughput.WITHIN_NOISE
    assert mixed.throughput_ratio is not None and 0.95 < mixed.throughput_ratio < 1.05
    only_fork = compare_case([fork], [_in("isolated", rec(P)), _in("isolated", rec(P))])
    assert only_fork.throughput_ratio is None and only_fork.throughput is Throughput.UNMEASURED
    assert only_fork.throughput_note.startswith("not compared: no candidate run in the control's execution mode")
    assert only_fork.verdict is Verdict.STILL_PASSING  # the correctness verdict does not depend on the mode
