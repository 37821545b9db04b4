"""The full-certification gates, in dependency order: one `GateSpec` each.

Seven of them are dpone calls declared here completely (argv, answer model, blockers); the matrix, its report,
the benchmark and the evidence chain are hand-written assets (`gates/matrix.py`, `gates/benchmark.py`,
`gates/evidence_chain.py`) that this list still places in the graph."""

from __future__ import annotations

import json
from pathlib import Path

from dpone_certify.certification.evidence_case import case_rows, pick_evidence_case, split_case_id
from dpone_certify.certification.run_result import build_run_result
from dpone_certify.certification.spec import (
    DponeCommand,
    GateInputs,
    GateSpec,
    InputMissing,
    Judgement,
    blockers_or,
    ops,
)
from dpone_certify.dpone.models import (
    ArtifactIndex,
    CertificationPlan,
    CertificationSuite,
    EvidenceBundle,
    LineageReport,
    RunRegistryEntry,
    StrategyBundle,
    StrategyBundleStdout,
)
from dpone_certify.evidence.atomic import atomic_write_json
from dpone_certify.matrix.records import EvidenceStatus

NAMESPACE = "dpone_certify"


def _run_tag(inputs: GateInputs) -> str:
    return f"{inputs.settings.release_name()}-{inputs.run_id[:8]}"


# ---- certification_plan --------------------------------------------------------------------------------
def _plan_argv(inputs: GateInputs) -> list[str]:
    profile = inputs.settings.resolved_profile()
    return ops(
        inputs,
        "certification-automation-plan",
        "--profile",
        profile.dpone_profile,
        "--row-count",
        str(inputs.settings.row_count),
    )


def _plan_judge(inputs: GateInputs, plan: CertificationPlan) -> Judgement:
    from dpone_certify.certification.keys import PLAN_STEP_TO_ASSET

    steps = [{"name": s.name, "required": s.required, "asset": PLAN_STEP_TO_ASSET.get(s.name)} for s in plan.steps]
    blockers = [] if plan.passed else ["plan.not_passed"]
    blockers += [f"plan.step_unmodelled:{s.name}" for s in plan.steps if s.name not in PLAN_STEP_TO_ASSET]
    profile = inputs.settings.resolved_profile()
    return Judgement(
        blockers=blockers,
        metrics={"plan_steps": float(len(steps)), "required_steps": float(sum(bool(s["required"]) for s in steps))},
        extra={"steps": steps},
        summary=f"dpone plans {len(steps)} steps for profile `{profile.dpone_profile}`; each maps to an asset here.",
    )


CERTIFICATION_PLAN = GateSpec(
    name="certification_plan",
    description="dpone's certification-automation-plan for the selected profile; fails when dpone plans a step "
    "that this graph does not model, so a new gate in dpone cannot be skipped silently.",
    plan_steps=(),  # the plan itself
    scanned=False,  # the plan holds no run evidence
    command=DponeCommand(argv=_plan_argv, answer=CertificationPlan, judge=_plan_judge),
    artifacts={"report": "certification_automation_plan.json"},
    summary=lambda i: f"dpone's plan for profile `{i.settings.resolved_profile().dpone_profile}`.",
    judges_settings_profile=True,
)

# Hand-written assets: the spec only places them in the graph.
RECONCILIATION_SELFTEST = GateSpec(
    "reconciliation_selftest",
    "Our reconciliation proves itself on the cases' engines before the matrix uses it (hand-written: no dpone "
    "call; `gates/selftest.py`).",
    plan_steps=(),  # ours, not a step of dpone's plan
    kinds=frozenset({"postgres"}),
)
SOURCE_SINK_MATRIX = GateSpec(
    "source_sink_matrix",
    "One partition per dpone matrix case (hand-written: partitioned, runs the cases itself).",
    ("certification_plan", "reconciliation_selftest"),
    scanned=False,  # security loads the matrix separately, per case
)
MATRIX_REPORT = GateSpec("matrix_report", "dpone's report over this run's cases", ("source_sink_matrix",), indexed=True)
BENCHMARK_BASELINE = GateSpec("benchmark_baseline", "the matrix against a baseline", ("matrix_report",), indexed=True)


# ---- run_registry --------------------------------------------------------------------------------------
def _registry_argv(inputs: GateInputs) -> list[str]:
    out = inputs.out
    result_path = out / "run_result.json"
    atomic_write_json(result_path, build_run_result(inputs.run_id, inputs.record("matrix_report")), durable=False)
    argv = ops(inputs, "run-registry", "--run-result", str(result_path))
    artifacts = [
        ("matrix_report", "matrix_report", "report"),
        ("matrix_certification", "matrix_report", "matrix_certification"),
    ]
    bench = inputs.records.get("benchmark_baseline")
    if bench is not None and bench.passed and bench.warnings:
        # The benchmark judged nothing (a baseline from another machine, or dpone's simulation): dpone's report
        # of it is no verdict about this run, so it is not registered as one. The benchmark gate shows why.
        inputs.state["benchmark_note"] = f"benchmark not registered, informative only: {', '.join(bench.warnings)}"
    else:
        artifacts.append(("benchmark_baseline", "benchmark_baseline", "report"))
    for name, gate, artifact in artifacts:
        # A missing path is passed on anyway: dpone then reports artifact.<name>.missing itself.
        argv += ["--artifact", f"{name}={inputs.artifact(gate, artifact) or out / f'{name}.missing.json'}"]
    return argv


def _registry_judge(inputs: GateInputs, entry: RunRegistryEntry) -> Judgement:
    note = inputs.state.get("benchmark_note")
    return Judgement(
        blockers=list(entry.blockers),
        artifacts={"report": entry.entry_path},
        extra={"entry_path": entry.entry_path, **({"benchmark_note": note} if note else {})},
    )


RUN_REGISTRY = GateSpec(
    name="run_registry",
    description="dpone's run registry entry for this certification run, with the real matrix report and benchmark.",
    upstream=("matrix_report", "benchmark_baseline"),
    indexed=True,
    command=DponeCommand(argv=_registry_argv, answer=RunRegistryEntry, judge=_registry_judge),
    artifacts={"run_result": "run_result.json"},
    summary="Run registry entry of this certification run; its run result is built from the matrix records.",
)


# ---- lineage_report ------------------------------------------------------------------------------------
def _lineage_argv(inputs: GateInputs) -> list[str]:
    entry = inputs.record("run_registry").extra.get("entry_path") or str(inputs.out / "run_registry_entry.missing.json")
    return ops(
        inputs,
        "lineage-export",
        "--run-registry-entry",
        entry,
        "--namespace",
        NAMESPACE,
        "--input",
        f"{NAMESPACE}=source_sink_matrix",
        "--output",
        f"{NAMESPACE}=matrix_report",
    )


def _lineage_judge(inputs: GateInputs, report: LineageReport) -> Judgement:
    # dpone prints the report only to stdout; keep it so the suite can consume it.
    atomic_write_json(inputs.out / "lineage_report.json", inputs.state["payload"], durable=False)
    return Judgement(blockers=list(report.blockers), artifacts={"openlineage_event": report.event_path or ""})


LINEAGE_REPORT = GateSpec(
    name="lineage_report",
    description="OpenLineage event exported by dpone from this run's registry entry.",
    upstream=("run_registry",),
    plan_steps=("lineage_export",),
    kinds=frozenset({"dpone", "openlineage"}),
    indexed=True,
    command=DponeCommand(argv=_lineage_argv, answer=LineageReport, judge=_lineage_judge),
    artifacts={"report": "lineage_report.json"},
    summary="OpenLineage event of this certification run (exported from the run registry entry).",
)


# ---- evidence_bundle -----------------------------------------------------------------------------------
CONTRACT = {"required_columns": ["id"], "not_null": ["id"], "unique": ["id"], "min_rows": 1}


def _bundle_argv(inputs: GateInputs) -> list[str]:
    matrix_report = inputs.record("matrix_report")
    case = pick_evidence_case(inputs.settings.evidence_case, matrix_report)
    if case is None:
        raise InputMissing("source_sink_matrix")
    rows = case_rows(matrix_report, case["case_id"])
    inputs.state.update(case_id=case["case_id"], rows=len(rows))
    inputs.state["extra"] = {"case_id": case["case_id"], "dpone_embedded_unverified": False}
    source, sink, strategy = split_case_id(case["case_id"])
    return [
        "ops",
        "evidence-bundle",
        "--artifact-dir",
        str(inputs.out),
        "--run-id",
        inputs.run_id,
        "--source",
        source,
        "--sink",
        sink,
        "--strategy",
        strategy,
        "--rows-json",
        json.dumps(rows, default=str),
        "--contract-json",
        json.dumps(CONTRACT),
        "--row-count",
        str(inputs.settings.row_count),
    ]


def _bundle_judge(inputs: GateInputs, bundle: EvidenceBundle) -> Judgement:
    blockers: list[str] = []
    unverified_inside = False
    for item in bundle.items:
        if item.passed:
            continue
        if item.name == "data_contract" and item.path and Path(item.path).exists():
            results = json.loads(Path(item.path).read_text(encoding="utf-8")).get("results", [])
            blockers += [r["code"] for r in results if not r.get("passed")]
        unverified_inside |= item.evidence_status == "UNVERIFIED"
    if not bundle.passed:
        blockers.append("evidence_bundle.not_passed")
    if unverified_inside:
        # On simulated inputs the fix is the local profile; on real inputs it is dpone's own re-simulation.
        simulated_input = inputs.record("matrix_report").evidence_status is EvidenceStatus.UNVERIFIED
        blockers.append(
            "evidence.unverified:evidence_bundle" if simulated_input else "evidence_bundle.embedded_simulation"
        )
    return Judgement(blockers=blockers, extra={"dpone_embedded_unverified": unverified_inside})


EVIDENCE_BUNDLE = GateSpec(
    name="evidence_bundle",
    description="dpone's ops evidence bundle for one case: its target rows checked against a data contract (key "
    "`id` present, not null, unique; at least one row). dpone 0.88 re-runs its own simulation inside this command "
    "and judges that UNVERIFIED report, so this gate cannot pass with 0.88 whatever the profile.",
    upstream=("matrix_report",),
    indexed=True,
    command=DponeCommand(argv=_bundle_argv, answer=EvidenceBundle, judge=_bundle_judge),
    artifacts={"report": "ops_evidence_bundle.json", "data_contract": "data_contract_report.json"},
    summary=lambda i: (
        f"Evidence bundle for `{i.state['case_id']}` ({i.state['rows']} sample rows checked against the contract)."
    ),
)


# ---- strategy_certification_bundle ---------------------------------------------------------------------
def _strategy_argv(inputs: GateInputs) -> list[str]:
    out = inputs.out
    return [
        "strategy",
        "certification-bundle",
        "--bundle-id",
        _run_tag(inputs),
        "--output-dir",
        str(out),
        "--matrix-artifact",
        inputs.artifact("matrix_report", "matrix_certification") or str(out / "matrix.missing.json"),
        "--benchmark-artifact",
        inputs.artifact("benchmark_baseline") or str(out / "benchmark.missing.json"),
    ]


def _strategy_judge(inputs: GateInputs, stdout: StrategyBundleStdout) -> Judgement:
    # dpone always exits 0 here, so the verdict is read from the bundle file.
    bundle_path = Path(stdout.json_path)
    try:
        bundle = StrategyBundle.model_validate_json(bundle_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Judgement(blockers=["artifact.invalid_json"], artifacts={"report": str(bundle_path)})
    blockers = blockers_or(bundle.passed, bundle.blockers, "strategy_bundle.not_passed")
    return Judgement(blockers=blockers, artifacts={"report": str(bundle_path)})


STRATEGY_CERTIFICATION_BUNDLE = GateSpec(
    name="strategy_certification_bundle",
    description="dpone's strategy certification bundle over our matrix certification report (whose "
    "evidence_status is computed) and the benchmark.",
    upstream=("matrix_report", "benchmark_baseline"),
    trust_gate=True,
    indexed=True,
    command=DponeCommand(argv=_strategy_argv, answer=StrategyBundleStdout, judge=_strategy_judge),
    artifacts={"report": "strategy_certification_bundle.json"},
    summary="Strategy certification bundle over the matrix certification report and the benchmark.",
)


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


def _suite_argv(inputs: GateInputs) -> list[str]:
    argv = ops(inputs, "certification-suite", "--suite-id", _run_tag(inputs))
    for name, (flag, require, artifact) in SUITE_INPUTS.items():
        path = inputs.artifact(name, artifact)
        if path is None:
            # dpone crashes (IsADirectoryError) on --require-* without a path: report the gap ourselves.
            inputs.state.setdefault("blockers", []).append(f"gate.input_missing:{name}")
            continue
        argv += [flag, path] + ([require] if require else [])
    return argv


CERTIFICATION_SUITE = GateSpec(
    name="certification_suite",
    description="dpone's certification suite over everything upstream produced, every evidence kind required.",
    upstream=tuple(SUITE_INPUTS),
    trust_gate=True,
    indexed=True,
    command=DponeCommand(argv=_suite_argv, answer=CertificationSuite),  # judged by the suite's own verdict
    artifacts={"report": "certification_suite.json"},
    summary="dpone's certification suite with benchmark, lineage, evidence bundle and strategy bundle required.",
    partial_inputs=True,
)


# ---- artifact_index ------------------------------------------------------------------------------------
def _index_argv(inputs: GateInputs) -> list[str]:
    argv = ops(inputs, "artifact-index", "--release", inputs.settings.release_name())
    # The run's lineage: the records handed between gates, the plan, the matrix's case records.
    lineage = inputs.settings.layout(inputs.run_id).lineage_root
    argv += ["--root", str(lineage)] if lineage.is_dir() else []
    for name, rec in inputs.records.items():
        if rec is None:
            inputs.state.setdefault("blockers", []).append(f"gate.input_missing:{name}")
        else:
            argv += ["--root", rec.output_dir]
    return argv


def _index_judge(inputs: GateInputs, index: ArtifactIndex) -> Judgement:
    # One blocker per artifact type (237 behavior files fail for one reason), counts in the metrics.
    failed = [i for i in index.items if i.passed is False]
    failed_types = sorted({i.artifact_type or Path(i.path).name for i in failed})
    blockers = [f"artifact_index.item_failed:{kind}" for kind in failed_types]
    return Judgement(
        blockers=blockers_or(index.passed, blockers, "artifact_index.not_passed"),
        metrics={
            "artifacts": float(index.total_artifacts),
            "bytes": float(index.total_bytes),
            "failed_items": float(len(failed)),
        },
        extra={"failed_items": [f"{i.artifact_type}: {i.path}" for i in failed][:1000]},
    )


_BEFORE_INDEX: tuple[GateSpec, ...] = (
    CERTIFICATION_PLAN,
    RECONCILIATION_SELFTEST,
    SOURCE_SINK_MATRIX,
    MATRIX_REPORT,
    BENCHMARK_BASELINE,
    RUN_REGISTRY,
    LINEAGE_REPORT,
    EVIDENCE_BUNDLE,
    STRATEGY_CERTIFICATION_BUNDLE,
    CERTIFICATION_SUITE,
)

ARTIFACT_INDEX = GateSpec(
    name="artifact_index",
    description="dpone's artifact index over the output folders of exactly the gates this certification consumed.",
    upstream=tuple(s.name for s in _BEFORE_INDEX if s.indexed),  # every gate marked `indexed`, in graph order
    trust_gate=True,
    command=DponeCommand(argv=_index_argv, answer=ArtifactIndex, judge=_index_judge),
    artifacts={"report": "artifact_index.json"},
    summary="Index (sha256, size, trust verdict) of every artifact the consumed gates wrote.",
    partial_inputs=True,
    records_release=True,
    runs_on_crashed_inputs=True,  # the index of a crashed run's evidence is still evidence
)

EVIDENCE_CHAIN = GateSpec(
    "evidence_chain",
    "Appends this run's artifact index to the tamper-evident chain and verifies it (hand-written).",
    ("artifact_index",),
    plan_steps=("evidence_chain", "evidence_chain_verify"),
)

FULL_CERTIFICATION: tuple[GateSpec, ...] = (*_BEFORE_INDEX, ARTIFACT_INDEX, EVIDENCE_CHAIN)
