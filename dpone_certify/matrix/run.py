"""Running a list of matrix cases with one build on the run's profile (contract simulation or real engines)."""

from pathlib import Path

from dpone_certify.dpone.adapter import DponeAdapter
from dpone_certify.matrix.contract import run_contract_cases
from dpone_certify.matrix.records import CaseRecord, CaseSpec
from dpone_certify.resources import CertifyResource
from dpone_certify.settings import Profile


def run_specs(
    run_id: str,
    certify: CertifyResource,
    specs: list[CaseSpec],
    adapter: DponeAdapter,
    out_dir: Path,
    *,
    release_engines: bool = True,
) -> dict[str, CaseRecord]:
    """Run `specs` with one build (`adapter`) on this run's profile; with `release_engines`, the embedded
    PostgreSQL is stopped (and its data folder removed) afterwards unless keep_schemas."""
    profile = certify.resolved_profile()
    if not specs:
        return {}
    if profile is Profile.CONTRACT:
        return run_contract_cases(
            specs,
            out_dir=out_dir,
            run_id=run_id,
            settings=certify.case_settings(),
            adapter=adapter,
            max_parallel=certify.max_parallel,
        )
    from dpone_certify.matrix.local import LocalContext, run_local_cases
    from dpone_certify.matrix.local.engines import configure_embedded, stop_embedded

    configure_embedded(certify.embedded_pg_dir, keep=certify.keep_schemas)
    ctx = LocalContext(
        out_dir=out_dir,
        run_id=run_id,
        settings=certify.case_settings(),
        adapter=adapter,
        max_parallel=certify.max_parallel,
        profile=profile,
        keep_schemas=certify.keep_schemas,
    )
    try:
        return run_local_cases(specs, ctx)
    finally:
        if release_engines and not certify.keep_schemas:
            stop_embedded()  # the data folder goes with it (kept with keep_schemas, to inspect them)
