from __future__ import annotations

import re
from collections import Counter
from importlib import resources

import pytest
import yaml

from dpone_certify.runbooks import (
    ASSET_KEYS,
    CatalogueError,
    all_patterns,
    load_catalogue,
    normalise_chain_blocker,
    parse_catalogue,
    remediation_for,
    remediations_for,
    render_markdown,
)

CASE = "postgres_to_mssql__full_refresh"
PG_CASE = "postgres_to_postgres__full_refresh"

SUITE_ITEMS = [
    "certification_report",
    "benchmark_baseline",
    "lineage_report",
    "dbt_lineage_report",
    "evidence_bundle",
    "strategy_certification_bundle",
]
SUITE_SUFFIXES = ["missing", "release_id_missing", "release_id_mismatch", "not_passed"]
BUNDLE_KINDS = ["replay", "matrix", "connector", "benchmark", "native_transfer"]
MATURITY_DOMAINS = ["cdc", "performance", "security", "supply_chain", "governance", "docs", "certification"]
READINESS_DOMAINS = [
    "local_matrix",
    "correctness",
    "reliability",
    "performance_lab",
    "ux",
    "schema_evolution",
]


def _literal(*blockers: str) -> list[tuple[str, str]]:
    return [(blocker, blocker) for blocker in blockers]


# (concrete blocker as a gate reports it, the catalogue entry that must answer it)
CASES: list[tuple[str, str]] = [
    # integration-matrix-report
    *_literal("artifact.invalid_json", "artifact.non_object"),
    (f"matrix_behavior.missing:{CASE}", "matrix_behavior.missing:<case_id>"),
    (f"matrix_rows.mismatch:{CASE}", "matrix_rows.mismatch:<case_id>"),
    # run-registry
    *_literal("run_result.missing", "run_result.invalid_json", "run_result.not_passed"),
    ("artifact.benchmark.missing", "artifact.<name>.missing"),
    ("artifact.lineage_report.not_passed", "artifact.<name>.not_passed"),
    # lineage-export
    *_literal("run_registry.missing", "run_registry.invalid_json", "run_registry.not_passed"),
    *_literal(
        *(
            f"airflow_correlation.{reason}"
            for reason in ("symlink_forbidden", "missing", "too_large", "invalid", "incomplete")
        )
    ),
    # strategy certification-bundle
    *[(f"{kind}.missing:{kind}_evidence.json", f"{kind}.missing:<file>") for kind in BUNDLE_KINDS],
    *[(f"{kind}.not_passed:{kind}_evidence.json", f"{kind}.not_passed:<file>") for kind in BUNDLE_KINDS],
    # certification-suite: 24 literal entries
    *_literal(*(f"{item}.{suffix}" for item in SUITE_ITEMS for suffix in SUITE_SUFFIXES)),
    # evidence-chain-verify
    *_literal(
        "chain.empty",
        "chain.index_invalid",
        "chain.index_mismatch",
        "chain.release_mismatch",
        "chain.artifact_index_unbound",
    ),
    ("chain.broken_entry:rel-2024.06.1", "chain.broken_entry:<release>"),
    # production-maturity
    *_literal(*(f"{domain}.{suffix}" for domain in MATURITY_DOMAINS for suffix in ("missing", "not_passed"))),
    # industrial-readiness
    *_literal(*(f"{domain}.{suffix}" for domain in READINESS_DOMAINS for suffix in ("missing", "not_passed"))),
    (
        "local_matrix.case_missing:postgres:mssql:incremental_merge",
        "local_matrix.case_missing:<source:sink:strategy>",
    ),
    *_literal("artifact.unreadable"),
    ("observability.missing", "<domain>.missing"),
    ("observability.not_passed", "<domain>.not_passed"),
    # metrics-export
    *_literal("metrics.empty", "run_report.missing", "run_report.invalid_json", "run_report.invalid_shape"),
    # slo-evaluate
    ("slo.dpone_duration_seconds.max", "slo.<metric>.max"),
    ("slo.dpone_throughput_rows_per_second.min", "slo.<metric>.min"),
    ("slo.dpone_final_rows.missing", "slo.<metric>.missing"),
    *_literal("slo.no_objectives"),
    # orchestrate run
    *_literal(
        "lock.concurrent_run",
        "lock.not_acquired",
        "job_state.already_committed",
        "job_state.already_running",
        "job_state.resume_required",
        "run.not_passed",
    ),
    # evidence-bundle contract codes
    ("required_columns.id", "required_columns.<column>"),
    ("not_null.wide_005", "not_null.<column>"),
    ("unique.id", "unique.<column>"),
    *_literal("min_rows"),
    ("max_null_ratio.wide_005", "max_null_ratio.<column>"),
    *_literal("contract.empty"),
    # security-audit codes
    ("manifest.inline_secret.defaults.source.password", "manifest.inline_secret.<path>"),
    ("manifest.unsafe_connection_type.defaults.sink", "manifest.unsafe_connection_type.<path>"),
    ("log.unredacted_secret.DPONE_CONN_PG_SRC_PASSWORD", "log.unredacted_secret.<name>"),
    *_literal("security.no_findings"),
    # ours: gate calls
    *_literal("evidence_bundle.embedded_simulation"),
    *_literal(
        "signature.missing_key",
        "subjects.empty",
        "supply_chain.wheel_unavailable",
        "supply_chain.wheel_mismatch",
        "reliability.lock_not_enforced",
        "reliability.committed_rerun",
        "reliability.resume_not_enforced",
        "reliability.retry_not_attempted",
        "reliability.experiment_error",
        "reliability.engine_unavailable",
        "observability.resource_attributes_missing",
    ),
    ("subject.missing.dist/dpone-0.88.0-py3-none-any.whl", "subject.missing.<path>"),
    ("docs.section_failed:artifact_index", "docs.section_failed:<name>"),
    ("observability.index_checksum_mismatch:prometheus_metrics.prom", "observability.index_checksum_mismatch:<name>"),
    ("gate.crashed:certification_suite", "gate.crashed:<gate>"),
    ("gate.timeout:source_sink_matrix", "gate.timeout:<gate>"),
    ("artifact.invalid_shape:lineage_report", "artifact.invalid_shape:<gate>"),
    ("gate.input_missing:evidence_chain", "gate.input_missing:<gate>"),
    ("evidence.unverified:certification_suite", "evidence.unverified:<gate>"),
    # ours: matrix
    (f"matrix_case.failed:{CASE}", "matrix_case.failed:<case_id>"),
    (f"matrix_case.not_covered:{CASE}", "matrix_case.not_covered:<case_id>"),
    *_literal("matrix.no_cases", "matrix.coverage_incomplete"),
    # ours: plan
    *_literal("plan.not_passed"),
    ("plan.step_unmodelled:release_signing", "plan.step_unmodelled:<step>"),
    # ours: benchmarks
    ("benchmark.metric_missing:rows_per_second", "benchmark.metric_missing:<metric>"),
    ("benchmark.metric_not_finite:rows_per_second", "benchmark.metric_not_finite:<metric>"),
    *_literal("benchmark.baseline_missing", "benchmark.baseline_incomparable"),
    ("benchmark.regression:duration_seconds", "benchmark.regression:<metric>"),
    # ours: aggregate verdicts
    *_literal("strategy_bundle.not_passed", "certification_suite.not_passed", "artifact_index.not_passed"),
    ("artifact_index.item_failed:certification_report.json", "artifact_index.item_failed:<name>"),
    # ours: chain
    *_literal("chain.append_failed", "chain.dpone_verify_failed"),
    *[
        (f"chain.{kind}:rel-1", f"chain.{kind}:<release>")
        for kind in (
            "artifact_edited",
            "artifact_deleted",
            "index_edited",
            "entry_edited",
            "entries_reordered",
            "entry_inserted",
            "entry_deleted",
            "truncated",
        )
    ],
    # ours: chain, from the evidence layer (append refusals, bare break classes without a release)
    *_literal(
        "chain.truncated",
        "chain.entry_edited",
        "chain.entry_inserted",
        "chain.index_unreadable",
        "chain.head_missing",
        "chain.head_mismatch",
        "chain.artifact_index_missing",
        "chain.append_invalid_answer",
        "chain.halted",
        "chain.chain_halted",
        "chain.store_object_corrupt",
        "chain.store_object_missing",
        "chain.manifest_mismatch",
        "chain.manifest_invalid",
        "chain.head_signature_invalid",
    ),
    ("chain.release_collision:rel/1", "chain.release_collision:<release>"),
    # ours: correctness of real loads
    *[
        (f"correctness.{check}:{PG_CASE}", f"correctness.{check}:<case_id>")
        for check in (
            "rows_mismatch",
            "checksum_mismatch",
            "empty_string_to_null",
            "deletes_not_applied",
            "updates_not_applied",
            "history_not_kept",
        )
    ],
    (f"correctness.duplicate_key:{PG_CASE}", "correctness.duplicate_key:<case_id>"),
    (f"correctness.timestamp_offset:{PG_CASE}", "correctness.timestamp_offset:<case_id>"),
    (f"type_fidelity.timestamptz_to_timestamp:{PG_CASE}", "type_fidelity.<from>_to_<to>:<case_id>"),
    # ours: the reconciliation self-test
    (f"harness.unproven:{PG_CASE}", "harness.unproven:<case_id>"),
    *_literal("selftest.not_applicable"),
    ("selftest.error:mysql_to_postgres", "selftest.error:<leg>"),
    ("selftest.false_positive:postgres_to_postgres", "selftest.false_positive:<leg>"),
    ("selftest.missed:postgres_to_postgres:changed_cell", "selftest.missed:<leg>:<corruption>"),
    (
        "selftest.misclassified:mysql_to_postgres:type_change_numeric_to_text",
        "selftest.misclassified:<leg>:<corruption>",
    ),
    (f"rerun.failed:{PG_CASE}", "rerun.failed:<case_id>"),
    (f"run.failed:{PG_CASE}", "run.failed:<case_id>"),
    (f"engine.unavailable:{CASE}", "engine.unavailable:<case_id>"),
    (f"engine.auth_failed:{CASE}", "engine.auth_failed:<case_id>"),
    # ours: secrets
    ("secret.leaked:matrix/postgres_to_postgres__full_refresh/run_result.json", "secret.leaked:<path>"),
    # the build under test and candidate vs control (issue 13)
    (f"case.absent_in_build:{CASE}", "case.absent_in_build:<case_id>"),
    (f"comparison.regression:{CASE}", "comparison.regression:<case_id>"),
    (f"comparison.new_findings:{CASE}", "comparison.new_findings:<case_id>"),
    (f"comparison.throughput_regression:{CASE}", "comparison.throughput_regression:<case_id>"),
    ("comparison.control_unavailable", "comparison.control_unavailable"),
    ("comparison.no_control", "comparison.no_control"),
]

_FILL_LEFT = re.compile(r"\{[a-z_]+\}")  # any `{name}` still in the text after lookup
_ABSOLUTE = re.compile(r"(?<![\w.~$-])/(work|tmp|root|home|usr|opt|var|etc|mnt|srv)\b")


def _catalogue_text() -> str:
    return resources.files("dpone_certify.runbooks").joinpath("remediations.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(("blocker", "pattern"), CASES, ids=[blocker for blocker, _ in CASES])
def test_every_listed_blocker_resolves_to_its_own_entry(blocker: str, pattern: str) -> None:
    remediation = remediation_for(blocker)
    assert remediation.known
    assert remediation.blocker == blocker
    assert remediation.pattern == pattern
    assert remediation.gate in ASSET_KEYS
    texts = [
        remediation.meaning,
        *remediation.inspect,
        *remediation.reproduce,
        *remediation.fix,
        *remediation.do_not,
    ]
    assert not [text for text in texts if _FILL_LEFT.search(text)], "a fill placeholder was left unfilled"


def test_every_catalogue_entry_is_exercised_by_the_list() -> None:
    expected = {pattern for _, pattern in CASES}
    assert set(all_patterns()) == expected
    assert len(CASES) == len({blocker for blocker, _ in CASES})


def test_literal_entry_beats_a_matching_pattern() -> None:
    # `<domain>.not_passed` / `<domain>.missing` would match these too; the literal entries must answer.
    for blocker in (
        "evidence_bundle.not_passed",
        "cdc.missing",
        "governance.not_passed",
        "local_matrix.missing",
    ):
        assert remediation_for(blocker).pattern == blocker
    assert remediation_for("certification.not_passed").pattern != "<domain>.not_passed"


def test_most_specific_pattern_wins() -> None:
    assert remediation_for("artifact.marketplace.missing").pattern == "artifact.<name>.missing"
    assert remediation_for("slo.rows_per_second.missing").pattern == "slo.<metric>.missing"
    assert remediation_for("artifact.marketplace.not_passed").pattern == "artifact.<name>.not_passed"
    assert remediation_for("observability.missing").pattern == "<domain>.missing"


def test_placeholders_match_one_segment_except_a_trailing_one_after_a_colon() -> None:
    # A trailing placeholder after a colon takes the rest, colons included.
    assert remediation_for("replay.missing:dir:with:colons.json").pattern == "replay.missing:<file>"
    # An inner placeholder must not cross a colon.
    assert not remediation_for("artifact.a:b.missing").known


def test_concrete_blockers_sharing_a_suffix_have_their_own_text() -> None:
    not_passed = [f"{item}.not_passed" for item in SUITE_ITEMS]
    meanings = {remediation_for(blocker).meaning for blocker in not_passed}
    assert len(meanings) == len(not_passed)
    assert (
        remediation_for("evidence_bundle.not_passed").meaning
        != remediation_for("certification_report.not_passed").meaning
        != remediation_for("lineage_report.not_passed").meaning
    )
    fixes = {tuple(remediation_for(blocker).fix) for blocker in not_passed}
    assert len(fixes) == len(not_passed)


def test_every_entry_has_its_own_meaning() -> None:
    counts = Counter(entry.meaning for entry in load_catalogue())
    assert [meaning for meaning, count in counts.items() if count > 1] == []


def test_unknown_blocker_gets_generic_triage() -> None:
    remediation = remediation_for("frobnicate.exploded:42")
    assert remediation.known is False
    assert remediation.pattern == "*"
    assert "frobnicate.exploded:42" in remediation.meaning
    assert any("dagster asset materialize" in command for command in remediation.reproduce)
    assert remediation.fix and remediation.do_not and remediation.inspect
    with_gate = remediation_for("frobnicate.exploded:42", gate="matrix_report")
    assert with_gate.gate == "matrix_report"
    assert "--select matrix_report" in with_gate.reproduce[0]


@pytest.mark.parametrize("blocker", ["", "   ", "::", "<case_id>", "chain.", ".missing:"])
def test_lookup_never_raises(blocker: str) -> None:
    assert remediation_for(blocker).blocker == blocker.strip()


def test_every_entry_is_complete_and_reproducible_in_dagster() -> None:
    entries = load_catalogue()
    assert len(entries) == len(CASES)
    for entry in entries:
        assert entry.meaning.strip(), entry.blocker
        for field in (entry.inspect, entry.reproduce, entry.fix, entry.do_not):
            assert field and all(text.strip() for text in field), entry.blocker
        assert any("dagster asset materialize -m dpone_certify.definitions" in c for c in entry.reproduce), (
            entry.blocker
        )


def test_no_two_entries_share_a_blocker_field() -> None:
    raw = yaml.safe_load(_catalogue_text())
    counts = Counter(item["blocker"] for item in raw)
    assert [blocker for blocker, count in counts.items() if count > 1] == []


def test_no_absolute_machine_paths_in_the_catalogue() -> None:
    text = _catalogue_text()
    assert not _ABSOLUTE.search(text), _ABSOLUTE.search(text)
    for blocker, _ in CASES:
        remediation = remediation_for(blocker)
        for line in [*remediation.inspect, *remediation.reproduce, *remediation.fix]:
            assert not _ABSOLUTE.search(line), (blocker, line)


def test_partition_is_filled_from_a_trailing_case_id() -> None:
    remediation = remediation_for(f"matrix_behavior.missing:{CASE}")
    assert f"--select source_sink_matrix --partition {CASE}" in "\n".join(remediation.reproduce)
    assert "{partition}" not in "\n".join(remediation.reproduce)
    assert CASE in remediation.meaning


def test_partition_is_derived_from_a_source_sink_strategy_triple() -> None:
    remediation = remediation_for("local_matrix.case_missing:postgres:mssql:incremental_merge")
    assert "--partition postgres_to_mssql__incremental_merge" in "\n".join(remediation.reproduce)


def test_type_fidelity_fills_both_types() -> None:
    remediation = remediation_for(f"type_fidelity.timestamptz_to_timestamp:{PG_CASE}")
    assert "`timestamptz`" in remediation.meaning and "`timestamp`" in remediation.meaning
    assert f"--partition {PG_CASE}" in "\n".join(remediation.reproduce)


def test_gate_placeholder_becomes_the_asset() -> None:
    remediation = remediation_for("gate.crashed:lineage_report")
    assert remediation.gate == "lineage_report"
    assert "dagster asset materialize -m dpone_certify.definitions --select lineage_report" in remediation.reproduce
    assert "stderr" in " ".join(remediation.inspect)


def test_explicit_gate_overrides_the_entry_default() -> None:
    assert remediation_for("evidence_bundle.not_passed").gate == "evidence_bundle"
    on_suite = remediation_for("evidence_bundle.not_passed", gate="certification_suite")
    assert on_suite.gate == "certification_suite"
    assert on_suite.meaning == remediation_for("evidence_bundle.not_passed").meaning


def test_evidence_dir_is_filled() -> None:
    remediation = remediation_for("chain.empty", evidence_dir="evidence/run-7")
    assert any("evidence/run-7" in text for text in remediation.inspect)
    default = remediation_for("chain.empty")
    assert any("DPONE_CERTIFY_EVIDENCE_ROOT" in text for text in default.inspect)


def test_key_facts_are_stated() -> None:
    unverified = remediation_for("evidence.unverified:certification_suite")
    fix = " ".join(unverified.fix)
    assert "DPONE_CERTIFY_PROFILE=local" in fix
    assert '{"resources": {"certify": {"config": {"profile": "local"}}}}' in fix
    assert "evidence_status PASS" in " ".join(unverified.do_not)
    assert "defect" in remediation_for("security.no_findings").meaning
    assert "always fails" in remediation_for("certification.not_passed").meaning
    assert "-Infinity" in remediation_for("benchmark.metric_missing:rows_per_second").meaning
    baseline = " ".join(remediation_for("benchmark.baseline_missing").fix)
    assert "accept_benchmark_baseline" in baseline and "dpone-certify accept-baseline" in baseline
    timeout = remediation_for("gate.timeout:matrix_report").meaning
    assert "DPONE_CERTIFY_GATE_TIMEOUT_SECONDS" in timeout
    not_covered = " ".join(remediation_for(f"matrix_case.not_covered:{CASE}").fix)
    assert "DPONE_IT_PG_HOST" in not_covered and "docker/" in not_covered and "MariaDB" in not_covered


def test_remediations_for_keeps_order_and_drops_repeats() -> None:
    result = remediations_for(["chain.empty", "min_rows", "chain.empty", "nope"], gate="evidence_chain")
    assert [r.blocker for r in result] == ["chain.empty", "min_rows", "nope"]
    assert [r.known for r in result] == [True, True, False]
    assert {r.gate for r in result} == {"evidence_chain"}


def test_render_markdown_has_a_section_per_blocker() -> None:
    markdown = render_markdown(remediations_for([f"matrix_rows.mismatch:{CASE}", "unheard.of"]))
    assert markdown.count("\n### ") + markdown.startswith("### ") == 2
    assert f"### `matrix_rows.mismatch:{CASE}`" in markdown
    assert "```bash\n" in markdown
    assert f"--partition {CASE}" in markdown
    assert "**Do not**" in markdown and "**Fix**" in markdown
    assert "generic triage" in markdown
    assert render_markdown([]) == ""


def test_normalise_chain_blocker() -> None:
    assert normalise_chain_blocker("rel-1") == "chain.broken_entry:rel-1"
    assert normalise_chain_blocker("chain.index_invalid") == "chain.index_invalid"
    assert remediation_for(normalise_chain_blocker("rel-1")).pattern == "chain.broken_entry:<release>"


_GOOD = {
    "blocker": "x.failed:<case_id>",
    "gate": "source_sink_matrix",
    "meaning": "m",
    "inspect": ["i"],
    "reproduce": ["dagster asset materialize -m dpone_certify.definitions --select {asset} --partition {partition}"],
    "fix": ["f"],
    "do_not": ["d"],
}


def _dump(*entries: dict[str, object]) -> str:
    return yaml.safe_dump(list(entries))


def test_parse_accepts_a_good_entry() -> None:
    assert [entry.blocker for entry in parse_catalogue(_dump(_GOOD))] == ["x.failed:<case_id>"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"meaning": ""}, "meaning"),
        ({"fix": []}, "fix"),
        ({"gate": "no_such_asset"}, "no_such_asset"),
        ({"gate": "<gate>"}, "not a placeholder"),
        ({"reproduce": ["dpone ops foo"]}, "dagster asset materialize"),
        ({"inspect": ["see {metric}"]}, "unknown fill {metric}"),
        ({"surprise": "field"}, "surprise"),
    ],
)
def test_malformed_entry_raises_an_error_naming_it(change: dict[str, object], message: str) -> None:
    bad = {**_GOOD, "blocker": "bad.entry:<case_id>", **change}
    with pytest.raises(CatalogueError) as error:
        parse_catalogue(_dump(_GOOD, bad))
    assert "entry #2" in str(error.value) and "bad.entry:<case_id>" in str(error.value)
    assert message in str(error.value)


def test_duplicate_and_non_list_catalogues_are_rejected() -> None:
    with pytest.raises(CatalogueError, match="duplicates entry #1"):
        parse_catalogue(_dump(_GOOD, _GOOD))
    with pytest.raises(CatalogueError, match="must be a YAML list"):
        parse_catalogue("blocker: x")
    with pytest.raises(CatalogueError, match="not valid YAML"):
        parse_catalogue("- [unclosed")
