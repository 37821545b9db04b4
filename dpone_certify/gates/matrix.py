"""source_sink_matrix (one partition per dpone case) and matrix_report (dpone's report over the cases)."""

import json
import time
from collections.abc import Iterator
from typing import Any

import dagster as dg

from dpone_certify.certification.case_statements import write_case_statements
from dpone_certify.certification.layout import MATRIX_RUN_FILE
from dpone_certify.certification.matrix_certification import (
    case_blockers,
    matrix_certification,
    matrix_evidence_status,
    matrix_stats,
    positive_controls,
    stage_case_inputs,
    weakest_profile,
)
from dpone_certify.certification.records import GateRecord, crashed
from dpone_certify.dpone.adapter import DponeCallError
from dpone_certify.dpone.models import MatrixReport
from dpone_certify.evidence.atomic import atomic_write_json
from dpone_certify.gates.common import GROUP, GateFailed, finish, is_required
from dpone_certify.gates.presentation import UNVERIFIED_LABEL, blockers_table, case_table
from dpone_certify.gates.selftest import harness_unproven
from dpone_certify.matrix.catalogue import (
    ABSENT_IN_BUILD,
    CatalogueDiff,
    build_catalogue,
    case_ids,
    cases_by_id,
    compare_catalogues,
)
from dpone_certify.matrix.records import CaseRecord, CaseStatus, EvidenceStatus
from dpone_certify.matrix.run import run_specs
from dpone_certify.report.partitions import case_metadata
from dpone_certify.resources import CertifyResource, DponeResource
from dpone_certify.runbooks import remediations_for
from dpone_certify.settings import Profile

CASES = dg.StaticPartitionsDefinition(case_ids())
RUN_FILE = MATRIX_RUN_FILE
__all__ = ["CASES", "RUN_FILE", "matrix_evidence_status", "weakest_profile", "write_case_statements"]


def _run_cases(
    context: dg.AssetExecutionContext, certify: CertifyResource, dpone: DponeResource, keys: list[str]
) -> tuple[dict[str, CaseRecord], CatalogueDiff]:
    """The selected cases, as the build under test lists them, each record carrying that build's identity (the one
    place a case record gets it). Partitions the build lacks become `case.absent_in_build` records."""
    adapter = dpone.adapter(certify)
    identity = certify.build_identity()
    _version, build_cases = build_catalogue(adapter)
    diff = compare_catalogues(keys, build_cases)
    out_dir = certify.gate_dir(context.run_id, "source_sink_matrix")
    records = run_specs(context.run_id, certify, [build_cases[k] for k in diff.present], adapter, out_dir)
    for key in diff.absent_in_build:
        records[key] = CaseRecord.for_case(
            cases_by_id()[key],
            profile=certify.resolved_profile(),
            status=CaseStatus.NOT_COVERED,
            evidence_status=EvidenceStatus.NOT_COVERED,
            run_id=context.run_id,
            settings=certify.case_settings(),
            blockers=[f"{ABSENT_IN_BUILD}:{key}"],
            reason=(
                f"dpone {identity.dpone_version} (the build under test) has no case {key} in its integration "
                "matrix: nothing of that build to certify here; not a dpone failure"
            ),
        )
    for record in records.values():
        record.build = identity
    return records, diff


@dg.asset(
    group_name=GROUP,
    partitions_def=CASES,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["certification_plan"],
    kinds={"dpone"},
)
def source_sink_matrix(
    context: dg.AssetExecutionContext,
    certify: CertifyResource,
    dpone: DponeResource,
    reconciliation_selftest: GateRecord | None,
) -> dg.Output[dict[str, CaseRecord]]:
    """One partition per dpone matrix case. Writes the case's preflight file and `<case_id>__behavior.json`
    (what `dpone ops integration-matrix-report` reads). contract profile: dpone's simulation, UNVERIFIED;
    local/live: real dpone runs, reconciled independently, and `harness.unproven:<case_id>` unless
    `reconciliation_selftest` passed."""
    keys = list(context.partition_keys)
    started = time.perf_counter()
    records, diff = _run_cases(context, certify, dpone, keys)
    records = harness_unproven(records, reconciliation_selftest, certify.resolved_profile(), context.run_id)
    wall = time.perf_counter() - started
    ordered = [records[k] for k in sorted(records)]
    for key, record in records.items():  # each case's verdict and evidence files on its own materialization
        context.add_asset_metadata(case_metadata(record), partition_key=key)
    identity = certify.build_identity()
    atomic_write_json(
        certify.layout(context.run_id).matrix_run_path,
        {
            "run_id": context.run_id,
            "build": identity.model_dump(mode="json"),
            "catalogue": {
                "absent_in_build": diff.absent_in_build,
                "not_in_this_catalogue": diff.not_in_this_catalogue,
            },
            "records": [r.model_dump(mode="json") for r in ordered],
        },
        durable=False,
    )
    stats = matrix_stats(ordered)
    profile = certify.resolved_profile()
    label = UNVERIFIED_LABEL if profile is Profile.CONTRACT else "computed per case by reconciliation"
    summary = (
        f"## source_sink_matrix: {int(stats['passed_cases'])}/{len(ordered)} cases passed\n\n"
        f"- Build under test: {identity.label}\n"
        f"- Profile: `{profile.value}`; evidence: **{label}**\n"
        f"- Covered (really ran): {int(stats['covered_cases'])}/{len(ordered)}\n"
        f"- Wall time: {wall:.2f} s\n"
        + (
            f"- Selected but absent in this build: {len(diff.absent_in_build)} "
            f"({', '.join(diff.absent_in_build[:5])})\n"
            if diff.absent_in_build
            else ""
        )
        + (
            f"- In the build but not in this catalogue (no partition here): {len(diff.not_in_this_catalogue)} "
            f"({', '.join(diff.not_in_this_catalogue[:5])})\n"
            if diff.not_in_this_catalogue
            else ""
        )
    )
    # This metadata is copied onto every partition's materialization event (237 in a full run): keep it to
    # numbers and a short summary; the table of cases that did not pass is on the check.
    metadata: dict[str, Any] = {
        "summary": dg.MetadataValue.md(summary),
        "profile": profile.value,
        "evidence_status": EvidenceStatus.UNVERIFIED.value if profile is Profile.CONTRACT else "per case",
        "wall_seconds": wall,
        "build": identity.label,
        "not_in_this_catalogue": len(diff.not_in_this_catalogue),
        **stats,
    }
    return dg.Output(records, metadata=metadata)


@dg.asset_check(  # type: ignore[arg-type]
    asset=source_sink_matrix,
    name="verdict",
    blocking=False,
    description="Every case selected in this run ran and passed; not-covered cases are never a pass.",
)
def source_sink_matrix_verdict(
    context: dg.AssetCheckExecutionContext, certify: CertifyResource
) -> Iterator[dg.AssetCheckResult]:
    path = certify.layout(context.run.run_id).matrix_run_path
    required = is_required(certify, context.run.run_id, "source_sink_matrix")
    severity = dg.AssetCheckSeverity.ERROR if required else dg.AssetCheckSeverity.WARN
    if not path.exists():
        yield dg.AssetCheckResult(passed=False, severity=severity, description="the matrix left no record in this run")
        if required:
            raise GateFailed("source_sink_matrix: no record in this run")
        return
    records = [CaseRecord.model_validate(r) for r in json.loads(path.read_text(encoding="utf-8"))["records"]]
    blockers = case_blockers(records)
    passed = bool(records) and not blockers
    unverified = any(r.evidence_status is EvidenceStatus.UNVERIFIED for r in records)
    description = (
        f"{sum(r.status is CaseStatus.PASSED for r in records)}/{len(records)} cases passed"
        + (f"; evidence {UNVERIFIED_LABEL}" if unverified else "")
        + (f"; blockers: {', '.join(blockers[:5])}" if blockers else "")
    )
    metadata: dict[str, Any] = {**matrix_stats(records), "evidence_unverified": unverified}
    if blockers:
        metadata["blockers"] = blockers_table(remediations_for(blockers[:500], gate="source_sink_matrix"))
        metadata["cases_not_passed"] = case_table([r for r in records if r.status is not CaseStatus.PASSED][:500])
    yield dg.AssetCheckResult(passed=passed, severity=severity, description=description, metadata=metadata)
    if not passed and required:
        raise GateFailed(f"source_sink_matrix: {description}; blockers: {', '.join(blockers[:10])}")


@dg.asset(group_name=GROUP, backfill_policy=dg.BackfillPolicy.single_run(), kinds={"dpone"})
def matrix_report(
    context: dg.AssetExecutionContext,
    certify: CertifyResource,
    dpone: DponeResource,
    source_sink_matrix: dict[str, CaseRecord],
) -> dg.Output[GateRecord]:
    """dpone's integration-matrix-report over the latest record of every case, plus our matrix certification
    report whose evidence_status is computed (PASS only for real, reconciled data movement)."""
    out = certify.gate_dir(context.run_id, "matrix_report")
    input_dir = out / "input"
    input_dir.mkdir(exist_ok=True)
    # Judge the cases of this run's profile only: the latest record of a case may come from another profile's
    # run (a one-case local run after a full contract run), and simulated and real evidence never mix.
    profile = certify.resolved_profile()
    loaded = [source_sink_matrix[k] for k in sorted(source_sink_matrix)]
    records = [r for r in loaded if r.profile is profile]
    other_profiles = sorted({r.profile.value for r in loaded if r.profile is not profile})
    blockers = stage_case_inputs(records, input_dir)
    if not records:
        blockers.append("matrix.no_cases")
    if any(not r.covered for r in records):
        blockers.append("matrix.coverage_incomplete")
    if any(crashed(r.blockers) for r in records):
        blockers.append("input.crashed:source_sink_matrix")  # cases that measured nothing, not dpone's verdict
    dpone_out = out / "dpone"
    # The body of `dpone ops integration-matrix-report` through its service class: same files and JSON,
    # without the ~3 s import of dpone's whole CLI, which matters for a focused one-case re-run.
    call = dpone.adapter(certify).service(
        "matrix_report",
        "matrix_report",
        {"artifact_dir": str(input_dir), "output_dir": str(dpone_out)},
        cli_equivalent=[
            "ops",
            "integration-matrix-report",
            "--artifact-dir",
            str(input_dir),
            "--output-dir",
            str(dpone_out),
            "--format",
            "json",
        ],
    )
    dpone_passed = False
    try:
        report = call.parse(MatrixReport)
        dpone_passed = report.passed
        blockers += [b for b in report.blockers if b not in blockers]
    except DponeCallError as exc:
        blockers.append(exc.blocker)
    status = matrix_evidence_status(records, dpone_passed)
    stats = matrix_stats(records)
    controls = positive_controls(records)
    stats["positive_controls"] = float(controls["count"])
    profiles = sorted({r.profile.value for r in records})
    passed = dpone_passed and not blockers
    certification = matrix_certification(
        records,
        passed=passed,
        status=status,
        blockers=blockers,
        dpone_report=str(dpone_out / "certification_report.json"),
    )
    earlier = sorted({r.run_id for r in records if r.run_id != context.run_id})  # a report over an earlier matrix
    cert_path = out / "matrix_certification.json"
    atomic_write_json(cert_path, certification, durable=False)
    bundle_path = write_case_statements(out / "intoto_statements.jsonl", records, input_dir)
    record = GateRecord(
        gate="matrix_report",
        run_id=context.run_id,
        profile=weakest_profile(profiles) if profiles else profile,
        evidence_status=status,
        passed=passed,
        blockers=blockers,
        artifacts={
            "report": str(dpone_out / "certification_report.json"),
            "matrix_certification": str(cert_path),
            "intoto_statements": str(bundle_path),
        },
        metrics=stats,
        dpone_command=call.command,
        consumed_runs={"source_sink_matrix": earlier[0]} if earlier else {},
        summary=(
            f"Judged: the {len(records)} case(s) of profile `{profile.value}`: {int(stats['passed_cases'])} passed, "
            f"{int(stats['covered_cases'])} covered."
            + (
                f" Not judged: {len(loaded) - len(records)} latest case record(s) of profile(s) "
                f"{', '.join(other_profiles)} (never mixed in)."
                if other_profiles
                else ""
            )
            + f" {controls['statement']}"
        ),
        output_dir=str(out),
        extra={
            "case_ids": [r.case_id for r in records],
            "row_counts": sorted({r.settings.row_count for r in records}),
            "profiles": profiles,
            "not_judged_other_profiles": len(loaded) - len(records),
        },
    )
    return finish(
        certify,
        record,
        {"cases_not_passed": case_table([r for r in records if r.status is not CaseStatus.PASSED][:500])},
    )
