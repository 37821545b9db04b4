"""reconciliation_selftest: the instrument proves itself before the matrix judges dpone with it.

local/live: `matrix/local/selftest.py` on the engines the cases use (an exact copy reconciles clean; every seeded
corruption is caught with its own finding class). If it fails, `harness_unproven` turns every local case into
`harness.unproven:<case_id>`: a verdict about our instrument, never about dpone.

contract: dpone's simulation moves no data and our reconciliation is never used, so there is nothing to prove;
the gate records that it did not run (NOT_COVERED, not required, WARN) and never reports passed. It imports no
engine code, so the contract run does not get slower.
"""

from typing import Any

import dagster as dg

from dpone_certify.certification.records import GateRecord
from dpone_certify.evidence.atomic import atomic_write_json
from dpone_certify.gates.common import GROUP, Evaluation, finish, no_record, record_verdict, verdict_check
from dpone_certify.matrix.records import CaseRecord, CaseStatus, EvidenceStatus
from dpone_certify.resources import CertifyResource
from dpone_certify.settings import Profile

GATE = "reconciliation_selftest"
UNPROVEN = "harness.unproven"
NOT_APPLICABLE = "selftest.not_applicable"


def _record(run_id: str, certify: CertifyResource, profile: Profile, **fields: Any) -> GateRecord:
    """This gate's record in run `run_id`, with its output folder."""
    return GateRecord(
        gate=GATE, run_id=run_id, profile=profile, output_dir=str(certify.gate_dir(run_id, GATE)), **fields
    )


def _not_applicable(run_id: str, certify: CertifyResource, profile: Profile) -> GateRecord:
    return _record(
        run_id,
        certify,
        profile,
        evidence_status=EvidenceStatus.NOT_COVERED,
        passed=False,
        required=False,
        blockers=[NOT_APPLICABLE],
        summary=(
            "Not run: under the contract profile dpone's simulation moves no data and our reconciliation judges "
            "nothing, so there is no instrument to prove. The self-test runs under the local and live profiles, "
            "on the engines the cases use."
        ),
        extra={"ran": False},
    )


@dg.asset(group_name=GROUP, backfill_policy=dg.BackfillPolicy.single_run(), kinds={"postgres"})
def reconciliation_selftest(context: dg.AssetExecutionContext, certify: CertifyResource) -> dg.Output[GateRecord]:
    """Positive control and seeded corruptions on the cases' own engines (PostgreSQL, and MariaDB -> PostgreSQL
    when MariaDB is configured); the matrix downstream trusts its reconciliation only if this passed."""
    profile = certify.resolved_profile()
    if profile is Profile.CONTRACT:
        return finish(certify, _not_applicable(context.run_id, certify, profile))
    from dpone_certify.matrix.local.runner import object_name
    from dpone_certify.matrix.local.selftest import CORRUPTIONS, run_selftest

    out = certify.gate_dir(context.run_id, GATE)
    # The cases' wide columns (the row text of >50 columns is assembled in chunks); fewer rows than a case.
    wide_columns = certify.case_settings().wide_columns
    result = run_selftest(object_name("selftest", context.run_id, "reconcile"), wide_columns=wide_columns)
    report = result.to_json()
    report_path = out / "reconciliation_selftest.json"
    atomic_write_json(report_path, report, durable=False)
    blockers = result.blockers()
    legs = [leg.name for leg in result.legs if not leg.error]
    record = _record(
        context.run_id,
        certify,
        profile,
        evidence_status=EvidenceStatus.PASS if result.passed else EvidenceStatus.FAIL,
        passed=result.passed,
        blockers=blockers,
        artifacts={"report": str(report_path)},
        metrics={
            "corruptions_planned": float(result.planned),
            "corruptions_seeded": float(result.seeded),
            "corruptions_caught": float(result.caught),
            "corruptions_missed": float(result.seeded - result.caught),
            "controls_clean": float(sum(leg.control_clean for leg in result.legs)),
            "legs": float(len(result.legs)),
            "selftest_seconds": result.seconds,
        },
        summary=(
            f"{result.caught}/{result.seeded} seeded corruptions caught with their finding class "
            f"({len(CORRUPTIONS)} classes) on {', '.join(legs) or 'no engine'}; exact copies reconciled clean: "
            f"{sum(leg.control_clean for leg in result.legs)}/{len(result.legs)}."
            + "".join(f" Not run: {leg} ({why})." for leg, why in result.skipped.items())
            + ("" if result.passed else " Every local case of this run is harness.unproven.")
        ),
        extra={
            "ran": True,
            "missed_by_class": result.missed_by_class(),
            "legs_not_run": result.skipped,
            "engines": {leg.name: {"source": leg.source, "sink": leg.sink} for leg in result.legs},
        },
    )
    return finish(certify, record)


def _verdict(certify: CertifyResource, run_id: str, record: GateRecord | None) -> Evaluation:
    # Required where it applies (the record says; without one, the profile): dpone's plan knows nothing of it.
    required = record.required if record else certify.resolved_profile() is not Profile.CONTRACT
    if record is None:
        return no_record(GATE, run_id, required)
    not_run = None if record.passed or required else f"{GATE} did not run (not required here): {record.summary}"
    return record_verdict(GATE, record, required, not_run)


reconciliation_selftest_verdict = verdict_check(
    GATE,
    "The reconciliation caught every seeded corruption with its class and passed its exact copy; not required "
    "(WARN) where it does not apply (contract profile).",
    _verdict,
)


def harness_unproven(
    records: dict[str, CaseRecord], selftest: GateRecord | None, profile: Profile, run_id: str
) -> dict[str, CaseRecord]:
    """Every covered local/live case becomes `harness.unproven:<case_id>` unless the reconciliation self-test
    passed in the same run (`run_id`; the instrument tests itself in the run whose cases it judges): a broken
    instrument's findings (or passes) are no verdict about dpone. The case's own findings are kept in its
    reason, labelled as unproven. Contract cases are dpone's simulation, which does not use the instrument;
    not-covered cases judged nothing and stay as they are."""
    if profile is Profile.CONTRACT:
        return records
    if selftest is None or selftest.run_id != run_id:
        earlier = f" (its latest record is from run {selftest.run_id})" if selftest else ""
        why = f"{GATE} did not run in this run{earlier}; select it with the matrix"
    elif not selftest.passed:
        why = f"{GATE} failed: {', '.join(selftest.blockers[:5])}"
    else:
        return records
    out: dict[str, CaseRecord] = {}
    for key, record in records.items():
        if not record.covered:
            out[key] = record
            continue
        findings = ", ".join(record.blockers) or record.status.value
        out[key] = record.model_copy(
            update={
                "status": CaseStatus.FAILED,
                "evidence_status": EvidenceStatus.FAIL,
                "blockers": [f"{UNPROVEN}:{record.case_id}"],
                "reason": f"reconciliation instrument unproven ({why}); unproven findings, not a verdict about "
                f"dpone: {findings}"[:1000],
            }
        )
    return out
