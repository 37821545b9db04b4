"""The evidence half of full certification: run registry, OpenLineage, evidence bundle, strategy bundle,
certification suite, artifact index and the tamper-evident evidence chain.

Every input comes from the upstream asset's record (lineage), never from a folder scan."""

import json
from pathlib import Path
from typing import Any

import dagster as dg

from dpone_certify.dpone.adapter import DponeCall, DponeCallError
from dpone_certify.dpone.models import (
    ArtifactIndex,
    CertificationSuite,
    EvidenceBundle,
    LineageReport,
    RunRegistryEntry,
    StrategyBundle,
    StrategyBundleStdout,
)
from dpone_certify.gates.common import GROUP, add_unverified_blocker, finish, input_missing
from dpone_certify.gates.io_manager import write_json_atomic
from dpone_certify.gates.keys import FULL_CERTIFICATION_GATES
from dpone_certify.gates.records import GateRecord
from dpone_certify.matrix.records import EvidenceStatus
from dpone_certify.resources import CertifyResource

NAMESPACE = "dpone_certify"
PREFERRED_EVIDENCE_CASE = "postgres_to_postgres__incremental_merge"


def consumed_status(*records: GateRecord) -> EvidenceStatus:
    """The weakest evidence among the inputs: simulated evidence anywhere makes the result UNVERIFIED."""
    statuses = {r.evidence_status for r in records}
    if EvidenceStatus.UNVERIFIED in statuses:
        return EvidenceStatus.UNVERIFIED
    return EvidenceStatus.PASS if statuses <= {EvidenceStatus.PASS} else EvidenceStatus.FAIL


def _record(
    context: dg.AssetExecutionContext,
    gate: str,
    inputs: list[GateRecord],
    *,
    passed: bool,
    blockers: list[str],
    out: Path,
    call: DponeCall | None,
    artifacts: dict[str, str],
    summary: str,
    metrics: dict[str, float] | None = None,
    extra: dict[str, Any] | None = None,
    release: str | None = None,
    trust_gate: bool = False,
) -> GateRecord:
    upstream = consumed_status(*inputs) if inputs else EvidenceStatus.PASS
    status = upstream if passed or upstream is EvidenceStatus.UNVERIFIED else EvidenceStatus.FAIL
    if call is not None and call.outcome.value != "ok":
        summary = f"{summary}\n\n{call.describe()}"
    record = GateRecord(
        gate=gate,
        run_id=context.run_id,
        profile=inputs[0].profile if inputs else context.resources.certify.resolved_profile(),
        evidence_status=status,
        passed=passed and not blockers,
        blockers=blockers,
        artifacts={k: v for k, v in artifacts.items() if Path(v).exists()},
        metrics=metrics or {},
        dpone_command=call.command if call else None,
        summary=summary,
        output_dir=str(out),
        extra=extra or {},
        release=release,
    )
    if trust_gate:
        add_unverified_blocker(record)
    return record


def _missing(context: dg.AssetExecutionContext, certify: CertifyResource, gate: str, **inputs: GateRecord | None):
    for name, rec in inputs.items():
        if rec is None:
            return finish(certify, input_missing(context.run_id, certify, gate, name))
    return None


# ---- run_registry ---------------------------------------------------------------------------------------
def build_run_result(run_id: str, matrix_report: GateRecord) -> dict[str, Any]:
    """dpone's run-result shape, filled from what the matrix really did."""
    cert = json.loads(Path(matrix_report.artifacts["matrix_certification"]).read_text(encoding="utf-8"))
    cases = cert["cases"]
    rows = sum(int(c["rows_moved"]) for c in cases)
    m = matrix_report.metrics
    return {
        "manifest": "dpone_certify:source_sink_matrix",
        "process": "source_sink_matrix",
        "selector": f"{len(cases)} case(s), profiles {','.join(cert['profiles'])}",
        "run_id": run_id,
        "passed": bool(cert["passed"]),
        "result": {
            "status": "success" if cert["passed"] else "failed",
            "extracted_rows": rows,
            "inserted_rows": rows,
            "updated_rows": 0,
            "final_rows": rows,
            "duration_seconds": m.get("load_seconds", 0.0),
            "errors": cert["blockers"],
            "details": {
                "cases": len(cases),
                "passed_cases": sum(c["status"] == "passed" for c in cases),
                "covered_cases": int(m.get("covered_cases", 0)),
                "evidence_status": cert["evidence_status"],
                "run_throughput": {"rows_per_second": m.get("rows_per_second", 0.0)},
            },
        },
        "attempts": 1,
        "max_attempts": 1,
        "retry_backoff_seconds": 0,
    }


@dg.asset(group_name=GROUP, backfill_policy=dg.BackfillPolicy.single_run(), kinds={"dpone"})
def run_registry(
    context: dg.AssetExecutionContext,
    certify: CertifyResource,
    matrix_report: GateRecord | None,
    benchmark_baseline: GateRecord | None,
) -> dg.Output[GateRecord]:
    """dpone's run registry entry for this certification run, with the real matrix report and benchmark."""
    if early := _missing(
        context, certify, "run_registry", matrix_report=matrix_report, benchmark_baseline=benchmark_baseline
    ):
        return early
    assert matrix_report and benchmark_baseline
    out = certify.gate_dir(context.run_id, "run_registry")
    result_path = out / "run_result.json"
    write_json_atomic(result_path, build_run_result(context.run_id, matrix_report))
    argv = ["ops", "run-registry", "--output-dir", str(out), "--run-result", str(result_path)]
    for name, path in (
        ("matrix_report", matrix_report.artifacts.get("report")),
        ("matrix_certification", matrix_report.artifacts.get("matrix_certification")),
        ("benchmark_baseline", benchmark_baseline.artifacts.get("report")),
    ):
        # A missing path is passed on anyway: dpone then reports artifact.<name>.missing itself.
        argv += ["--artifact", f"{name}={path or out / f'{name}.missing.json'}"]
    call = certify.adapter().cli("run_registry", [*argv, "--format", "json"])
    blockers: list[str] = []
    entry_path = ""
    try:
        entry = call.parse(RunRegistryEntry)
        blockers += entry.blockers
        entry_path = entry.entry_path
    except DponeCallError as exc:
        blockers.append(exc.blocker)
    record = _record(
        context,
        "run_registry",
        [matrix_report, benchmark_baseline],
        passed=not blockers,
        blockers=blockers,
        out=out,
        call=call,
        artifacts={"report": entry_path, "run_result": str(result_path)},
        summary="Run registry entry of this certification run; its run result is built from the matrix records.",
        extra={"entry_path": entry_path},
    )
    return finish(certify, record)


# ---- lineage_report ------------------------------------------------------------------------------------
@dg.asset(group_name=GROUP, backfill_policy=dg.BackfillPolicy.single_run(), kinds={"dpone", "openlineage"})
def lineage_report(
    context: dg.AssetExecutionContext, certify: CertifyResource, run_registry: GateRecord | None
) -> dg.Output[GateRecord]:
    """OpenLineage event exported by dpone from this run's registry entry."""
    if early := _missing(context, certify, "lineage_report", run_registry=run_registry):
        return early
    assert run_registry
    out = certify.gate_dir(context.run_id, "lineage_report")
    entry = run_registry.extra.get("entry_path") or str(out / "run_registry_entry.missing.json")
    argv = [
        "ops",
        "lineage-export",
        "--output-dir",
        str(out),
        "--run-registry-entry",
        entry,
        "--namespace",
        NAMESPACE,
        "--input",
        f"{NAMESPACE}=source_sink_matrix",
        "--output",
        f"{NAMESPACE}=matrix_report",
        "--format",
        "json",
    ]
    call = certify.adapter().cli("lineage_report", argv)
    blockers: list[str] = []
    report_path = out / "lineage_report.json"
    event_path = ""
    try:
        report = call.parse(LineageReport)
        blockers += report.blockers
        event_path = report.event_path or ""
        # dpone prints the report only to stdout; keep it so the suite can consume it.
        write_json_atomic(report_path, call.payload)
    except DponeCallError as exc:
        blockers.append(exc.blocker)
    record = _record(
        context,
        "lineage_report",
        [run_registry],
        passed=not blockers,
        blockers=blockers,
        out=out,
        call=call,
        artifacts={"report": str(report_path), "openlineage_event": event_path},
        summary="OpenLineage event of this certification run (exported from the run registry entry).",
    )
    return finish(certify, record)


# ---- evidence_bundle -----------------------------------------------------------------------------------
def pick_evidence_case(certify: CertifyResource, matrix_report: GateRecord) -> dict[str, Any] | None:
    cert = json.loads(Path(matrix_report.artifacts["matrix_certification"]).read_text(encoding="utf-8"))
    covered = [c for c in cert["cases"] if c["status"] in ("passed", "failed")]
    wanted = certify.evidence_case or PREFERRED_EVIDENCE_CASE
    for case in covered:
        if case["case_id"] == wanted:
            return case
    return covered[0] if covered and not certify.evidence_case else None


@dg.asset(group_name=GROUP, backfill_policy=dg.BackfillPolicy.single_run(), kinds={"dpone"})
def evidence_bundle(
    context: dg.AssetExecutionContext, certify: CertifyResource, matrix_report: GateRecord | None
) -> dg.Output[GateRecord]:
    """dpone's ops evidence bundle for one case: its target rows checked against a data contract (key `id`
    present, not null, unique; at least one row). dpone 0.88 re-runs its own simulation inside this command and
    judges that UNVERIFIED report, so this gate cannot pass with 0.88 whatever the profile."""
    if early := _missing(context, certify, "evidence_bundle", matrix_report=matrix_report):
        return early
    assert matrix_report
    out = certify.gate_dir(context.run_id, "evidence_bundle")
    case = pick_evidence_case(certify, matrix_report)
    if case is None:
        return finish(certify, input_missing(context.run_id, certify, "evidence_bundle", "source_sink_matrix"))
    behavior = Path(matrix_report.output_dir) / "input" / f"{case['case_id']}__behavior.json"
    rows = json.loads(behavior.read_text(encoding="utf-8")).get("actual_rows", []) if behavior.exists() else []
    contract = {"required_columns": ["id"], "not_null": ["id"], "unique": ["id"], "min_rows": 1}
    source, rest = case["case_id"].split("_to_", 1)
    sink, strategy = rest.split("__", 1)
    argv = [
        "ops",
        "evidence-bundle",
        "--artifact-dir",
        str(out),
        "--run-id",
        context.run_id,
        "--source",
        source,
        "--sink",
        sink,
        "--strategy",
        strategy,
        "--rows-json",
        json.dumps(rows, default=str),
        "--contract-json",
        json.dumps(contract),
        "--row-count",
        str(certify.row_count),
        "--format",
        "json",
    ]
    call = certify.adapter().cli("evidence_bundle", argv)
    blockers: list[str] = []
    unverified_inside = False
    try:
        bundle = call.parse(EvidenceBundle)
        for item in bundle.items:
            if item.passed:
                continue
            if item.name == "data_contract" and item.path and Path(item.path).exists():
                results = json.loads(Path(item.path).read_text(encoding="utf-8")).get("results", [])
                blockers += [r["code"] for r in results if not r.get("passed")]
            unverified_inside |= item.evidence_status == "UNVERIFIED"
        if not bundle.passed:
            blockers.append("evidence_bundle.not_passed")
    except DponeCallError as exc:
        blockers.append(exc.blocker)
    record = _record(
        context,
        "evidence_bundle",
        [matrix_report],
        passed=not blockers,
        blockers=blockers,
        out=out,
        call=call,
        artifacts={
            "report": str(out / "ops_evidence_bundle.json"),
            "data_contract": str(out / "data_contract_report.json"),
        },
        summary=f"Evidence bundle for `{case['case_id']}` ({len(rows)} sample rows checked against the contract).",
        extra={"case_id": case["case_id"], "dpone_embedded_unverified": unverified_inside},
    )
    if unverified_inside:
        # On simulated inputs the fix is the local profile; on real inputs it is dpone's own re-simulation.
        simulated_input = matrix_report.evidence_status is EvidenceStatus.UNVERIFIED
        record.blockers.append(
            "evidence.unverified:evidence_bundle" if simulated_input else "evidence_bundle.embedded_simulation"
        )
    return finish(certify, record)


# ---- strategy_certification_bundle ---------------------------------------------------------------------
@dg.asset(group_name=GROUP, backfill_policy=dg.BackfillPolicy.single_run(), kinds={"dpone"})
def strategy_certification_bundle(
    context: dg.AssetExecutionContext,
    certify: CertifyResource,
    matrix_report: GateRecord | None,
    benchmark_baseline: GateRecord | None,
) -> dg.Output[GateRecord]:
    """dpone's strategy certification bundle over our matrix certification report (whose evidence_status is
    computed) and the benchmark. dpone always exits 0 here, so the verdict is read from the bundle file."""
    if early := _missing(
        context,
        certify,
        "strategy_certification_bundle",
        matrix_report=matrix_report,
        benchmark_baseline=benchmark_baseline,
    ):
        return early
    assert matrix_report and benchmark_baseline
    out = certify.gate_dir(context.run_id, "strategy_certification_bundle")
    argv = [
        "strategy",
        "certification-bundle",
        "--bundle-id",
        f"{certify.release_name()}-{context.run_id[:8]}",
        "--output-dir",
        str(out),
        "--matrix-artifact",
        matrix_report.artifacts.get("matrix_certification", str(out / "matrix.missing.json")),
        "--benchmark-artifact",
        benchmark_baseline.artifacts.get("report", str(out / "benchmark.missing.json")),
        "--format",
        "json",
    ]
    call = certify.adapter().cli("strategy_certification_bundle", argv)
    blockers: list[str] = []
    bundle_path = out / "strategy_certification_bundle.json"
    try:
        stdout = call.parse(StrategyBundleStdout)
        bundle_path = Path(stdout.json_path)
        bundle = StrategyBundle.model_validate_json(bundle_path.read_text(encoding="utf-8"))
        blockers += bundle.blockers
        if not bundle.passed and not blockers:
            blockers.append("strategy_bundle.not_passed")
    except DponeCallError as exc:
        blockers.append(exc.blocker)
    except (OSError, ValueError):
        blockers.append("artifact.invalid_json")
    record = _record(
        context,
        "strategy_certification_bundle",
        [matrix_report, benchmark_baseline],
        passed=not blockers,
        blockers=blockers,
        out=out,
        call=call,
        artifacts={"report": str(bundle_path)},
        summary="Strategy certification bundle over the matrix certification report and the benchmark.",
        trust_gate=True,
    )
    return finish(certify, record)


# ---- certification_suite -------------------------------------------------------------------------------
SUITE_INPUTS = {
    "matrix_report": ("--certification-report", None, "matrix_certification"),
    "benchmark_baseline": ("--benchmark-baseline", "--require-benchmark", "report"),
    "lineage_report": ("--lineage-report", "--require-lineage", "report"),
    "evidence_bundle": ("--evidence-bundle", "--require-evidence", "report"),
    "strategy_certification_bundle": (
        "--strategy-certification-bundle",
        "--require-strategy-certification",
        "report",
    ),
}


@dg.asset(group_name=GROUP, backfill_policy=dg.BackfillPolicy.single_run(), kinds={"dpone"})
def certification_suite(
    context: dg.AssetExecutionContext,
    certify: CertifyResource,
    matrix_report: GateRecord | None,
    benchmark_baseline: GateRecord | None,
    lineage_report: GateRecord | None,
    evidence_bundle: GateRecord | None,
    strategy_certification_bundle: GateRecord | None,
) -> dg.Output[GateRecord]:
    """dpone's certification suite over everything upstream produced, every evidence kind required."""
    inputs = {
        "matrix_report": matrix_report,
        "benchmark_baseline": benchmark_baseline,
        "lineage_report": lineage_report,
        "evidence_bundle": evidence_bundle,
        "strategy_certification_bundle": strategy_certification_bundle,
    }
    out = certify.gate_dir(context.run_id, "certification_suite")
    argv = [
        "ops",
        "certification-suite",
        "--output-dir",
        str(out),
        "--suite-id",
        f"{certify.release_name()}-{context.run_id[:8]}",
    ]
    blockers: list[str] = []
    for name, (flag, require, artifact) in SUITE_INPUTS.items():
        rec = inputs[name]
        path = rec.artifacts.get(artifact) if rec else None
        if path is None:
            # dpone crashes (IsADirectoryError) on --require-* without a path: report the gap ourselves.
            blockers.append(f"gate.input_missing:{name}")
            continue
        argv += [flag, path] + ([require] if require else [])
    present = [r for r in inputs.values() if r is not None]
    call = certify.adapter().cli("certification_suite", [*argv, "--format", "json"])
    try:
        suite = call.parse(CertificationSuite)
        blockers += suite.blockers
        if not suite.passed and not suite.blockers:
            blockers.append("certification_suite.not_passed")
    except DponeCallError as exc:
        blockers.append(exc.blocker)
    record = _record(
        context,
        "certification_suite",
        present,
        passed=not blockers,
        blockers=blockers,
        out=out,
        call=call,
        artifacts={"report": str(out / "certification_suite.json")},
        summary="dpone's certification suite with benchmark, lineage, evidence bundle and strategy bundle required.",
        trust_gate=True,
    )
    return finish(certify, record)


# ---- artifact_index ------------------------------------------------------------------------------------
# The gates between the matrix and the index, whose output folders the index covers.
INDEXED = FULL_CERTIFICATION_GATES[
    FULL_CERTIFICATION_GATES.index("matrix_report") : FULL_CERTIFICATION_GATES.index("artifact_index")
]


@dg.asset(group_name=GROUP, backfill_policy=dg.BackfillPolicy.single_run(), kinds={"dpone"})
def artifact_index(
    context: dg.AssetExecutionContext,
    certify: CertifyResource,
    matrix_report: GateRecord | None,
    benchmark_baseline: GateRecord | None,
    run_registry: GateRecord | None,
    lineage_report: GateRecord | None,
    evidence_bundle: GateRecord | None,
    strategy_certification_bundle: GateRecord | None,
    certification_suite: GateRecord | None,
) -> dg.Output[GateRecord]:
    """dpone's artifact index over the output folders of exactly the gates this certification consumed."""
    records = dict(
        zip(
            INDEXED,
            (
                matrix_report,
                benchmark_baseline,
                run_registry,
                lineage_report,
                evidence_bundle,
                strategy_certification_bundle,
                certification_suite,
            ),
            strict=True,
        )
    )
    out = certify.gate_dir(context.run_id, "artifact_index")
    blockers = [f"gate.input_missing:{name}" for name, rec in records.items() if rec is None]
    present = [r for r in records.values() if r is not None]
    release = certify.release_name()
    argv = ["ops", "artifact-index", "--output-dir", str(out), "--release", release]
    for rec in present:
        argv += ["--root", rec.output_dir]
    call = certify.adapter().cli("artifact_index", [*argv, "--format", "json"])
    metrics: dict[str, float] = {}
    failed_items: list[str] = []
    try:
        index = call.parse(ArtifactIndex)
        # One blocker per artifact type (237 behavior files fail for one reason), counts in the metrics.
        failed = [i for i in index.items if i.passed is False]
        failed_types = sorted({i.artifact_type or Path(i.path).name for i in failed})
        blockers += [f"artifact_index.item_failed:{kind}" for kind in failed_types]
        if not index.passed and not failed:
            blockers.append("artifact_index.not_passed")
        metrics = {
            "artifacts": float(index.total_artifacts),
            "bytes": float(index.total_bytes),
            "failed_items": float(len(failed)),
        }
        failed_items = [f"{i.artifact_type}: {i.path}" for i in failed]
    except DponeCallError as exc:
        blockers.append(exc.blocker)
    record = _record(
        context,
        "artifact_index",
        present,
        passed=not blockers,
        blockers=blockers,
        out=out,
        call=call,
        artifacts={"report": str(out / "artifact_index.json")},
        metrics=metrics,
        release=release,
        extra={"failed_items": failed_items[:1000]},
        summary="Index (sha256, size, trust verdict) of every artifact the consumed gates wrote.",
        trust_gate=True,
    )
    return finish(certify, record)


# ---- evidence_chain ------------------------------------------------------------------------------------
def store_indexed_artifacts(root: Path, index_path: Path, run_id: str) -> dict[str, float]:
    """Keep every artifact the index lists (and the index) in the content-addressed store, once per content,
    with this run's manifest (name -> digest, size, producer gate, run id)."""
    from dpone_certify.evidence.store import INDEX_ARTIFACT_NAME, EvidenceStore, artifact_store_name

    # zlib level 1: half the time of level 6 on behavior JSON, 10% of raw size instead of 6% (measured).
    store = EvidenceStore(root, compress_level=1)
    index = ArtifactIndex.model_validate_json(index_path.read_text(encoding="utf-8"))
    stored = [
        store.put_file(index_path, name=INDEX_ARTIFACT_NAME, producer="artifact_index", run_id=run_id)
    ]
    for item in index.items:
        path = Path(item.path)
        name = artifact_store_name(path, index.roots)
        producer = name.split("/", 1)[0]
        if path.exists():
            stored.append(store.put_file(path, name=name, producer=producer, run_id=run_id))
    store.write_run_manifest(run_id, stored)
    raw = sum(a.size for a in stored)
    added = sum(a.added_bytes for a in stored)
    return {
        "store_raw_bytes": float(raw),
        "store_added_bytes": float(added),
        "store_added_ratio": added / raw if raw else 0.0,
    }


@dg.asset(group_name=GROUP, backfill_policy=dg.BackfillPolicy.single_run(), kinds={"dpone"})
def evidence_chain(
    context: dg.AssetExecutionContext, certify: CertifyResource, artifact_index: GateRecord | None
) -> dg.Output[GateRecord]:
    """Appends this run's artifact index to the tamper-evident chain (one release id per append, so a retried
    step never appends twice), then verifies the whole chain twice: dpone's evidence-chain-verify, and our strict
    verification that also re-hashes every artifact every index lists and compares against the recorded head."""
    from dpone_certify.evidence.anchor import instance_state, state_metadata
    from dpone_certify.evidence.chain import unique_release_id
    from dpone_certify.evidence.guard import guarded_append
    from dpone_certify.evidence.verify import verify_evidence

    if early := _missing(context, certify, "evidence_chain", artifact_index=artifact_index):
        return early
    assert artifact_index
    out = certify.gate_dir(context.run_id, "evidence_chain")
    root = certify.root()
    adapter = certify.adapter()
    anchor, instance_halt = instance_state(context.instance, root)
    release_id = unique_release_id(certify.release_name(), context.run_id)
    index_path = artifact_index.artifacts.get("report")
    blockers: list[str] = []
    store_metrics: dict[str, float] = {}
    guarded = None
    if index_path is None:
        blockers.append("gate.input_missing:artifact_index")
        report = verify_evidence(root, run_dpone=True, expected_head=anchor, adapter=adapter)
        blockers += [b for b in report.blockers if b not in blockers]
    else:
        store_metrics = store_indexed_artifacts(root, Path(index_path), context.run_id)
        # A break stops the chain: verified before and after the append, nothing appended while halted.
        guarded = guarded_append(
            root,
            release_id=release_id,
            artifact_index_path=index_path,
            adapter=adapter,
            anchor=anchor,
            instance_halt=instance_halt,
        )
        report = guarded.report
        blockers += guarded.blockers
    appended = guarded.appended if guarded else None
    report_path = out / "verification.json"
    write_json_atomic(report_path, report.model_dump(mode="json"))
    record = GateRecord(
        gate="evidence_chain",
        run_id=context.run_id,
        profile=artifact_index.profile,
        # The chain's integrity is its own evidence: it does not inherit the certification's status.
        evidence_status=EvidenceStatus.PASS if not blockers else EvidenceStatus.FAIL,
        passed=not blockers,
        blockers=blockers,
        artifacts={
            "report": str(report_path),
            "chain_index": str(root / "chain" / "evidence_chain_index.json"),
        },
        metrics={
            "entry_count": float(report.entry_count),
            "artifacts_rehashed": float(report.artifacts_checked),
            "verify_seconds": report.duration_seconds,
            **store_metrics,
        },
        dpone_command=(
            f"dpone ops evidence-chain --chain-dir {root / 'chain'} --release {release_id} "
            f"--artifact-index {index_path}"
        ),
        summary=(
            f"Release `{release_id}`: {appended.reason if appended else 'not appended'}"
            f"{'; ' + guarded.detail if guarded and guarded.halted else ''}. {report.summary()}. "
            f"Breaks: {'; '.join(b.describe() for b in report.breaks) or 'none'}."
        ),
        output_dir=str(out),
        release=release_id,
        extra={
            "append": appended.model_dump(mode="json") if appended else None,
            "halt": guarded.halt if guarded else None,
        },
    )
    # The instance keeps the last head that verified (never one from a broken chain) and the halt, if any.
    head = guarded.publish_head if guarded else anchor
    extra_md: dict[str, Any] = {
        "dpone_verified": str(report.dpone_verified),
        **state_metadata(root, head, guarded.halt if guarded else instance_halt),
    }
    return finish(certify, record, extra_md)
