"""docs: `dpone ops docs-publish-pack` over the release-facing reports of this certification (benchmark, run
registry, lineage, artifact index), taken from the upstream records. dpone refuses to publish a pack whose
sections fail; its blockers are section names, reported here as `docs.section_failed:<name>`."""

from __future__ import annotations

from pathlib import Path

from dpone_certify.dpone.adapter import DponeAdapter
from dpone_certify.dpone.release_models import DocsPublishPack
from dpone_certify.release.common import ProducerResult, ask_dpone, missing, produced


def produce(*, adapter: DponeAdapter, out: Path, release: str, sections: dict[str, str | None]) -> ProducerResult:
    result = ProducerResult()
    out.mkdir(parents=True, exist_ok=True)
    present = {name: path for name, path in sections.items() if path}
    for name in sorted(set(sections) - set(present)):
        result.block(f"gate.input_missing:{name}")
    if not present:
        result.domains.append(missing("docs", "no upstream report to publish; materialize the full certification"))
        return result
    argv = ["ops", "docs-publish-pack", "--output-dir", str(out / "pack"), "--release", release]
    for name, path in sorted(present.items()):
        argv += ["--artifact", f"{name}={path}"]
    pack, _ = ask_dpone(result, adapter, "docs_evidence", argv, DocsPublishPack, "docs", out)
    if pack is None:
        return result
    report = out / "pack" / "docs_publish_pack.json"
    result.block(*(f"docs.section_failed:{name}" for name in pack.blockers))
    result.artifacts.update(
        report=str(report), readme_snippet=pack.readme_snippet_path, pages_index=pack.pages_index_path
    )
    result.domains.append(produced("docs", report, passed=pack.passed))
    result.metrics.update(sections=float(len(pack.sections)), failed_sections=float(len(pack.blockers)))
    result.summary = (
        f"Docs publish pack over {len(pack.sections)} section(s) ({', '.join(sorted(present))}); "
        f"dpone passed={pack.passed}."
    )
    return result
