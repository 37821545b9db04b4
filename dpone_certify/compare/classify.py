"""What a candidate build changed, case by case, against a control build (pure functions over case records).

Verdict classes (the candidate's first run against the control's first run):
- regression: the control passed, the candidate failed;
- fixed: the control failed, the candidate passed;
- still_failing_same: both failed with the same finding classes;
- still_failing_different: both failed, with classes that appeared or vanished;
- still_passing: both passed;
- not_compared: one side did not run the case for real (not covered, absent in that build, harness error), or
  the reconciliation instrument was not proven in this run (`harness.unproven`).

Throughput: rows per second of our wall clock around dpone's calls, per run; the candidate/control ratio of the
means, and a noise band from the spread between repeats (runs interleaved so a drift of the machine cancels). Only
runs in the same execution mode are compared (a run in the fork server skips the interpreter start and dpone's
import that an isolated run pays per call: comparing the two measures the mode, not the build). A throughput
regression only when the ratio is below 1 - band; with no repeat on either side the ratio is shown but not
judged (no band to judge it by).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from statistics import mean

from pydantic import BaseModel, Field

from dpone_certify.matrix.records import CaseRecord, CaseStatus

MIN_NOISE_BAND = 0.05  # two runs that happen to agree do not make a 0% band


class Verdict(StrEnum):
    REGRESSION = "regression"
    FIXED = "fixed"
    STILL_FAILING_SAME = "still_failing_same"
    STILL_FAILING_DIFFERENT = "still_failing_different"
    STILL_PASSING = "still_passing"
    NOT_COMPARED = "not_compared"


class Throughput(StrEnum):
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    WITHIN_NOISE = "within_noise"
    UNMEASURED = "unmeasured"


class CaseComparison(BaseModel):
    case_id: str
    verdict: Verdict
    candidate_status: str
    control_status: str
    candidate_findings: list[str] = Field(default_factory=list)  # finding classes (blocker without the case id)
    control_findings: list[str] = Field(default_factory=list)
    appeared: list[str] = Field(default_factory=list)
    vanished: list[str] = Field(default_factory=list)
    reason: str = ""
    candidate_rows_per_second: list[float] = Field(default_factory=list)
    control_rows_per_second: list[float] = Field(default_factory=list)
    throughput_ratio: float | None = None  # candidate / control
    noise_band: float | None = None
    throughput: Throughput = Throughput.UNMEASURED
    unstable: bool = False  # a build's repeats disagreed on pass/fail
    throughput_note: str = ""  # why the throughput was not compared or not judged


def finding_class(blocker: str) -> str:
    """`correctness.row_count_mismatch:pg_to_pg__x` -> `correctness.row_count_mismatch` (the case id goes)."""
    head, _, tail = blocker.rpartition(":")
    return head if head and "__" in tail else blocker


def findings(record: CaseRecord) -> list[str]:
    classes = {finding_class(b) for b in record.blockers}
    if record.status is CaseStatus.FAILED and not classes:
        classes.add("matrix_case.failed")
    return sorted(classes)


def rows_per_second(record: CaseRecord) -> float | None:
    if not record.covered or record.load_seconds <= 0 or record.rows_moved <= 0:
        return None
    return record.rows_moved / record.load_seconds


def _spread(values: Sequence[float]) -> float:
    return (max(values) - min(values)) / mean(values) if len(values) > 1 and mean(values) > 0 else 0.0


def _mode(record: CaseRecord) -> str:
    """How the build ran: `orchestrator` (the fork server of this process) or `isolated` (its own interpreter)."""
    return record.build.interpreter if record.build else "unknown"


def compare_case(candidate: Sequence[CaseRecord], control: Sequence[CaseRecord]) -> CaseComparison:
    """`candidate` and `control`: the runs of one case by each build, first run first."""
    cand, ctrl = candidate[0], control[0]
    result = CaseComparison(
        case_id=cand.case_id,
        verdict=Verdict.NOT_COMPARED,
        candidate_status=cand.status.value,
        control_status=ctrl.status.value,
        candidate_findings=findings(cand),
        control_findings=findings(ctrl),
        unstable=len({r.status for r in candidate}) > 1 or len({r.status for r in control}) > 1,
    )
    unproven = [b for r in (*candidate, *control) for b in r.blockers if b.startswith("harness.unproven")]
    if unproven:  # the reconciliation instrument was not proven in this run: no verdict either way
        result.reason = f"reconciliation instrument unproven ({unproven[0]}): select reconciliation_selftest"
        return result
    if not cand.covered or not ctrl.covered:
        side = "candidate" if not cand.covered else "control"
        rec = cand if not cand.covered else ctrl
        why = rec.reason or ", ".join(rec.blockers)
        result.reason = f"the {side} did not run it for real ({rec.status.value}): {why}"
        return result
    cand_pass, ctrl_pass = cand.status is CaseStatus.PASSED, ctrl.status is CaseStatus.PASSED
    if ctrl_pass and not cand_pass:
        result.verdict = Verdict.REGRESSION
    elif cand_pass and not ctrl_pass:
        result.verdict = Verdict.FIXED
    elif cand_pass:
        result.verdict = Verdict.STILL_PASSING
    else:
        same = result.candidate_findings == result.control_findings
        result.verdict = Verdict.STILL_FAILING_SAME if same else Verdict.STILL_FAILING_DIFFERENT
    result.appeared = sorted(set(result.candidate_findings) - set(result.control_findings))
    result.vanished = sorted(set(result.control_findings) - set(result.candidate_findings))
    mode = _mode(ctrl)
    same_mode = [r for r in candidate if _mode(r) == mode]
    cand_rps = [v for v in (rows_per_second(r) for r in same_mode) if v is not None]
    ctrl_rps = [v for v in (rows_per_second(r) for r in control) if v is not None]
    result.candidate_rows_per_second = [round(v, 1) for v in cand_rps]
    result.control_rows_per_second = [round(v, 1) for v in ctrl_rps]
    if not same_mode:
        result.throughput_note = f"not compared: no candidate run in the control's execution mode ({mode})"
    if cand_rps and ctrl_rps:
        ratio = mean(cand_rps) / mean(ctrl_rps)
        result.throughput_ratio = round(ratio, 4)
        if len(cand_rps) < 2 and len(ctrl_rps) < 2:
            result.throughput_note = "one run each: shown, not judged (no repeat, no noise band)"
            return result
        band = max(_spread(cand_rps), _spread(ctrl_rps), MIN_NOISE_BAND)
        result.noise_band = round(band, 4)
        if ratio < 1 - band:
            result.throughput = Throughput.REGRESSION
        elif ratio > 1 + band:
            result.throughput = Throughput.IMPROVEMENT
        else:
            result.throughput = Throughput.WITHIN_NOISE
    return result


def summarize(comparisons: Sequence[CaseComparison]) -> dict[str, int]:
    counts = {v.value: 0 for v in Verdict}
    for c in comparisons:
        counts[c.verdict.value] += 1
    counts["throughput_regression"] = sum(c.throughput is Throughput.REGRESSION for c in comparisons)
    return counts
