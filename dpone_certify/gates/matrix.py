"""source_sink_matrix (one partition per dpone case) and matrix_report (dpone's report over the cases)."""

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg

from dpone_certify.dpone.adapter import DponeCallError
from dpone_certify.dpone.models import MatrixReport
from dpone_certify.gates.common import GROUP, GateFailed, finish, is_required
from dpone_certify.gates.io_manager import write_json_atomic
from dpone_certify.gates.presentation import UNVERIFIED_LABEL, blockers_table
from dpone_certify.gates.records import GateRecord
from dpone_certify.matrix.catalogue import case_ids, cases_by_id
from dpone_certify.matrix.contract import run_contract_cases
from dpone_certify.matrix.records import CaseRecord, CaseStatus, EvidenceStatus
from dpone_certify.resources import CertifyResource
from dpone_certify.runbooks import remediations_for
from dpone_certify.settings import Profile

CASES = dg.StaticPartitionsDefinition(case_ids())
RUN_FILE = "matrix_run.json"


def _run_cases(context: dg.AssetExecutionContext, certify: CertifyResource, keys: list[str]) -> dict[str, CaseRecord]:
    profile = certify.resolved_profile()
    out_dir = certify.gate_dir(context.run_id, "source_sink_matrix")
    specs = [cases_by_id()[k] for k in keys]
    adapter = certify.adapter()
    if profile is Profile.CONTRACT:
        return run_contract_cases(
            specs,
            out_dir=out_dir,
            run_id=context.run_id,
            settings=certify.case_settings(),
            adapter=adapter,
            max_parallel=certify.max_parallel,
        )
    from dpone_certify.matrix.local import LocalContext, run_local_cases

    ctx = LocalContext(
        out_dir=out_dir,
        run_id=context.run_id,
        settings=certify.case_settings(),
        adapter=adapter,
        max_parallel=certify.max_parallel,
        profile=profile,
        keep_schemas=certify.keep_schemas,
    )
    return run_local_cases(specs, ctx)


def _case_table(records: list[CaseRecord]) -> dg.TableMetadataValue:
    return dg.MetadataValue.table(
        records=[
            dg.TableRecord(
                {
                    "case_id": r.case_id,
                    "status": r.status.value,
                    "evidence": r.evidence_status.value,
                    "engine": ", ".join(f"{k}={v}" for k, v in r.engine.items()),
                    "rows": r.rows_moved,
                    "blockers": ", ".join(r.blockers),
                    "reason": r.reason or "",
                    "dpone_error": "; ".join(r.dpone_errors)[:500],
                    "reference": next(
                        (
                            ("passed" if v.get("passed") else "failed")
                            for v in r.variants
                            if v.get("name") == "reference"
                        ),
                        "",
                    ),
                }
            )
            for r in records
        ],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("case_id", "string"),
                dg.TableColumn("status", "string"),
                dg.TableColumn("evidence", "string"),
                dg.TableColumn("engine", "string"),
                dg.TableColumn("rows", "int"),
                dg.TableColumn("blockers", "string"),
                dg.TableColumn("reason", "string"),
                dg.TableColumn("dpone_error", "string"),
                dg.TableColumn("reference", "string"),
            ]
        ),
    )


def _matrix_stats(records: list[CaseRecord]) -> dict[str, float]:
    covered = [r for r in records if r.covered]
    passed = [r for r in records if r.status is CaseStatus.PASSED]
    load = sum(r.load_seconds for r in covered)
    rows = sum(r.rows_moved for r in covered)
    return {
        "cases": float(len(records)),
        "covered_cases": float(len(covered)),
        "passed_cases": float(len(passed)),
        "pass_rate": len(passed) / len(records) if records else 0.0,
        "coverage": len(covered) / len(records) if records else 0.0,
        "rows_moved": float(rows),
        "load_seconds": load,
        "rows_per_second": rows / load if load > 0 else 0.0,
    }


@dg.asset(
    group_name=GROUP,
    partitions_def=CASES,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["certification_plan"],
    kinds={"dpone"},
)
def source_sink_matrix(context: dg.AssetExecutionContext, certify: CertifyResource) -> dg.Output[dict[str, CaseRecord]]:
    """One partition per dpone matrix case. Writes the case's preflight file and `<case_id>__behavior.json`
    (what `dpone ops integration-matrix-report` reads). contract profile: dpone's simulation, UNVERIFIED;
    local/live: real dpone runs, reconciled independently."""
    keys = list(context.partition_keys)
    started = time.perf_counter()
    records = _run_cases(context, certify, keys)
    wall = time.perf_counter() - started
    ordered = [records[k] for k in sorted(records)]
    write_json_atomic(
        certify.gate_dir(context.run_id, "source_sink_matrix") / RUN_FILE,
        {"run_id": context.run_id, "records": [r.model_dump(mode="json") for r in ordered]},
    )
    stats = _matrix_stats(ordered)
    profile = certify.resolved_profile()
    label = UNVERIFIED_LABEL if profile is Profile.CONTRACT else "computed per case by reconciliation"
    summary = (
        f"## source_sink_matrix: {int(stats['passed_cases'])}/{len(ordered)} cases passed\n\n"
        f"- Profile: `{profile.value}`; evidence: **{label}**\n"
        f"- Covered (really ran): {int(stats['covered_cases'])}/{len(ordered)}\n"
        f"- Wall time: {wall:.2f} s\n"
    )
    # This metadata is copied onto every partition's materialization event (237 in a full run): keep it to
    # numbers and a short summary; the table of cases that did not pass is on the check.
    metadata: dict[str, Any] = {
        "summary": dg.MetadataValue.md(summary),
        "profile": profile.value,
        "evidence_status": EvidenceStatus.UNVERIFIED.value if profile is Profile.CONTRACT else "per case",
        "wall_seconds": wall,
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
    path = certify.gate_dir(context.run.run_id, "source_sink_matrix") / RUN_FILE
    required = is_required(certify, "source_sink_matrix")
    severity = dg.AssetCheckSeverity.ERROR if required else dg.AssetCheckSeverity.WARN
    if not path.exists():
        yield dg.AssetCheckResult(passed=False, severity=severity, description="the matrix left no record in this run")
        if required:
            raise GateFailed("source_sink_matrix: no record in this run")
        return
    records = [CaseRecord.model_validate(r) for r in json.loads(path.read_text(encoding="utf-8"))["records"]]
    blockers = [
        b
        for r in records
        for b in (r.blockers or ([] if r.status is CaseStatus.PASSED else [f"matrix_case.failed:{r.case_id}"]))
    ]
    passed = bool(records) and not blockers
    unverified = any(r.evidence_status is EvidenceStatus.UNVERIFIED for r in records)
    description = (
        f"{sum(r.status is CaseStatus.PASSED for r in records)}/{len(records)} cases passed"
        + (f"; evidence {UNVERIFIED_LABEL}" if unverified else "")
        + (f"; blockers: {', '.join(blockers[:5])}" if blockers else "")
    )
    metadata: dict[str, Any] = {**_matrix_stats(records), "evidence_unverified": unverified}
    if blockers:
        metadata["blockers"] = blockers_table(remediations_for(blockers[:500], gate="source_sink_matrix"))
        metadata["cases_not_passed"] = _case_table([r for r in records if r.status is not CaseStatus.PASSED][:500])
    yield dg.AssetCheckResult(passed=passed, severity=severity, description=description, metadata=metadata)
    if not passed and required:
        raise GateFailed(f"source_sink_matrix: {description}; blockers: {', '.join(blockers[:10])}")


def _link(src: Path, dest: Path) -> None:
    dest.unlink(missing_ok=True)
    try:
        os.link(src, dest)  # same file system: no copy of ~120 MB of behavior files
    except OSError:
        shutil.copyfile(src, dest)


def write_case_statements(path: Path, records: list[CaseRecord], input_dir: Path) -> Path:
    """Each covered case as an in-toto test-result statement (JSON Lines bundle), its subjects the case's
    evidence files by sha256. A pass on simulated evidence is WARNED, never PASSED."""
    from dpone_certify.evidence.intoto import case_result_statement

    lines = []
    for r in records:
        files = {name: input_dir / name for name in (f"{r.case_id}.json", f"{r.case_id}__behavior.json")}
        files.update({name: Path(p) for name, p in r.artifacts.items() if Path(p).is_file()})
        if not r.covered or not all(Path(p).is_file() for p in files.values()):
            continue
        configuration = [
            {
                "name": "dpone_certify.case",
                "annotations": {
                    "profile": r.profile.value,
                    "evidence_status": r.evidence_status.value,
                    "engine": r.engine,
                    "run_id": r.run_id,
                    "blockers": r.blockers,
                },
            }
        ]
        passed = r.status is CaseStatus.PASSED
        unverified = r.evidence_status is EvidenceStatus.UNVERIFIED
        statement = case_result_statement(
            r.case_id, passed, files, configuration=configuration, warned=passed and unverified
        )
        lines.append(json.dumps(statement, sort_keys=True))
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    return path


def weakest_profile(profiles: list[str]) -> Profile:
    """The profile a mixed matrix is judged by: simulated evidence taints the whole report."""
    for candidate in (Profile.CONTRACT, Profile.LOCAL, Profile.LIVE):
        if candidate.value in profiles:
            return candidate
    return Profile.CONTRACT


def matrix_evidence_status(records: list[CaseRecord], dpone_passed: bool) -> EvidenceStatus:
    """PASS only when every selected case moved data for real and reconciled."""
    if not records:
        return EvidenceStatus.FAIL
    if any(r.evidence_status is EvidenceStatus.UNVERIFIED for r in records):
        return EvidenceStatus.UNVERIFIED
    if dpone_passed and all(
        r.status is CaseStatus.PASSED and r.evidence_status is EvidenceStatus.PASS for r in records
    ):
        return EvidenceStatus.PASS
    return EvidenceStatus.FAIL


def positive_controls(records: list[CaseRecord]) -> dict[str, Any]:
    """Cases whose `reference` variant passed: proof that the harness can say PASS where dpone works. With
    variants but none passing, the harness is unproven and the failures alone say little."""
    with_variants = [r for r in records if r.variants]
    cases = [r.case_id for r in with_variants if r.positive_control]
    if not with_variants:
        statement = "no case ran variants (no positive control possible in this profile)"
    elif not cases:
        statement = f"harness unproven: none of {len(with_variants)} reference variants passed"
    else:
        statement = f"positive controls: {len(cases)}/{len(with_variants)} reference variants passed"
    return {"count": len(cases), "cases": cases, "with_variants": len(with_variants), "statement": statement}


@dg.asset(group_name=GROUP, backfill_policy=dg.BackfillPolicy.single_run(), kinds={"dpone"})
def matrix_report(
    context: dg.AssetExecutionContext, certify: CertifyResource, source_sink_matrix: dict[str, CaseRecord]
) -> dg.Output[GateRecord]:
    """dpone's integration-matrix-report over the latest record of every case, plus our matrix certification
    report whose evidence_status is computed (PASS only for real, reconciled data movement)."""
    out = certify.gate_dir(context.run_id, "matrix_report")
    input_dir = out / "input"
    input_dir.mkdir(exist_ok=True)
    records = [source_sink_matrix[k] for k in sorted(source_sink_matrix)]
    blockers: list[str] = []
    for r in records:
        if not r.covered:
            blockers.append(f"matrix_case.not_covered:{r.case_id}")
            continue
        files = [(r.preflight_path, f"{r.case_id}.json"), (r.behavior_path, f"{r.case_id}__behavior.json")]
        for src, name in files:
            if src and Path(src).exists():
                _link(Path(src), input_dir / name)
            elif "gate.input_missing:source_sink_matrix" not in blockers:
                blockers.append("gate.input_missing:source_sink_matrix")
    if not records:
        blockers.append("matrix.no_cases")
    if any(not r.covered for r in records):
        blockers.append("matrix.coverage_incomplete")
    dpone_out = out / "dpone"
    # The body of `dpone ops integration-matrix-report` through its service class: same files and JSON,
    # without the ~3 s import of dpone's whole CLI, which matters for a focused one-case re-run.
    call = certify.adapter().service(
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
    stats = _matrix_stats(records)
    controls = positive_controls(records)
    stats["positive_controls"] = float(len(controls["cases"]))
    profiles = sorted({r.profile.value for r in records})
    passed = dpone_passed and not blockers
    certification = {
        "schema_version": "dpone_certify.matrix_certification.v1",
        "passed": passed,
        "evidence_status": status.value,
        "profiles": profiles,
        "coverage": {
            "selected": len(records),
            "covered": int(stats["covered_cases"]),
            "passed": int(stats["passed_cases"]),
        },
        "blockers": blockers,
        "positive_controls": controls,
        "docs_contradictions": sorted({f for r in records for f in r.findings if f.startswith("docs.contradiction:")}),
        "dpone_report": str(dpone_out / "certification_report.json"),
        "note": (
            "evidence_status is computed by dpone-certify: PASS only when every selected case moved data for real "
            "and reconciled; UNVERIFIED when any case comes from dpone's mock_contract simulation."
        ),
        "cases": [
            {
                "case_id": r.case_id,
                "status": r.status.value,
                "evidence_status": r.evidence_status.value,
                "profile": r.profile.value,
                "engine": r.engine,
                "rows_moved": r.rows_moved,
                "blockers": r.blockers,
                "run_id": r.run_id,
                "dpone_errors": r.dpone_errors,
                "findings": r.findings,
                "variants": [
                    {k: v.get(k) for k in ("name", "passed", "blockers", "root_causes", "dpone_errors", "manifest")}
                    for v in r.variants
                ],
            }
            for r in records
        ],
    }
    cert_path = out / "matrix_certification.json"
    write_json_atomic(cert_path, certification)
    bundle_path = write_case_statements(out / "intoto_statements.jsonl", records, input_dir)
    record = GateRecord(
        gate="matrix_report",
        run_id=context.run_id,
        profile=weakest_profile(profiles),
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
        summary=(
            f"{int(stats['passed_cases'])}/{len(records)} cases passed, {int(stats['covered_cases'])} covered; "
            f"profiles: {', '.join(profiles) or 'none'}. {controls['statement']}"
        ),
        output_dir=str(out),
        extra={
            "case_ids": [r.case_id for r in records],
            "row_counts": sorted({r.settings.row_count for r in records}),
            "profiles": profiles,
        },
    )
    return finish(
        certify,
        record,
        {"cases_not_passed": _case_table([r for r in records if r.status is not CaseStatus.PASSED][:500])},
    )
