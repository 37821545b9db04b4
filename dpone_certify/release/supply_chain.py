"""supply_chain: `dpone supply-chain attest` over the dpone distribution under test.

The subject is the dpone wheel: the configured `dpone_wheel` (isolated mode), else the wheel of the installed
version fetched with `pip download --no-deps` into the run folder. A fetched wheel is checked file by file
against the installed distribution (its RECORD hashes), so the attestation is about what was certified.
dpone's SBOM reader needs a `pyproject.toml`; the wheel carries no pyproject (and PyPI has no sdist of 0.88.0),
so one is transcribed from the wheel's own METADATA (name, version, Requires-Dist) and labelled as such.

The commit is taken from `DPONE_CERTIFY_DPONE_COMMIT_SHA` (the wheel does not record it; `unknown` otherwise,
noted in the record). The HMAC key comes from `DPONE_CERTIFY_SIGNING_SECRET`; without it dpone itself reports
`signature.missing_key`, and the domain fails: an unsigned attestation is not supply-chain evidence."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import subprocess
import sys
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path

from dpone_certify import settings
from dpone_certify.dpone.adapter import DponeAdapter
from dpone_certify.dpone.release_models import SupplyChainAttestation
from dpone_certify.release.common import ProducerResult, ask_dpone, missing, produced

COMMIT_ENV = "DPONE_CERTIFY_DPONE_COMMIT_SHA"
SIGNING_ENV = "DPONE_CERTIFY_SIGNING_SECRET"  # "SECRET" in the name: redacted and secret-scanned like any secret
BUILDER_ID = "dpone-certify"
DEFAULT_REPOSITORY = "https://github.com/PaulKov/dpone"


def fetch_wheel(version: str, dest: Path, *, timeout: float = 300.0) -> tuple[Path | None, str]:
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--disable-pip-version-check",
        "-d",
        str(dest),
        f"dpone=={version}",
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"pip download failed: {type(exc).__name__}"
    wheels = sorted(dest.glob(f"dpone-{version}-*.whl"))
    if proc.returncode != 0 or not wheels:
        return None, f"pip download exited {proc.returncode}: {proc.stderr.strip()[-300:]}"
    return wheels[0], ""


def _metadata_text(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return zf.read(name).decode("utf-8")


def wheel_mismatches(wheel: Path, dist_name: str = "dpone", limit: int = 20) -> tuple[int, list[str]]:
    """Compare every file the wheel's RECORD lists under the package with the installed distribution."""
    dist = metadata.distribution(dist_name)
    base = Path(str(dist.locate_file("")))
    checked = 0
    bad: list[str] = []
    with zipfile.ZipFile(wheel) as zf:
        record_name = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
        rows = csv.reader(io.StringIO(zf.read(record_name).decode("utf-8")))
        for row in rows:
            if len(row) < 2 or not row[1] or ".dist-info/" in row[0]:
                continue
            algo, _, expected = row[1].partition("=")
            installed = base / row[0]
            checked += 1
            if not installed.is_file():
                bad.append(f"{row[0]} (not installed)")
            else:
                digest = base64.urlsafe_b64encode(hashlib.new(algo, installed.read_bytes()).digest()).rstrip(b"=")
                if digest.decode() != expected:
                    bad.append(row[0])
            if len(bad) >= limit:
                break
    return checked, bad


def transcribe_pyproject(wheel: Path, project_dir: Path) -> tuple[Path, str]:
    """A pyproject.toml carrying exactly the wheel's METADATA (for dpone's SBOM reader). Returns (path, repo)."""
    msg = Parser().parsestr(_metadata_text(wheel))
    runtime: list[str] = []
    extras: dict[str, list[str]] = {}
    for req in msg.get_all("Requires-Dist") or []:
        spec, _, marker = req.partition(";")
        marker = marker.strip()
        if marker.startswith("extra =="):
            extras.setdefault(marker.split("==", 1)[1].strip().strip("'\""), []).append(spec.strip())
        else:
            runtime.append(req.strip())
    repo = DEFAULT_REPOSITORY
    for url in msg.get_all("Project-URL") or []:
        label, _, value = url.partition(",")
        if label.strip().lower() == "repository":
            repo = value.strip()

    def arr(items: list[str]) -> str:
        return "[" + ", ".join(_toml_str(i) for i in items) + "]"

    lines = [
        f"# Transcribed by dpone-certify from {wheel.name}'s METADATA (the wheel ships no pyproject.toml).",
        "[project]",
        f"name = {_toml_str(msg['Name'])}",
        f"version = {_toml_str(msg['Version'])}",
        f"dependencies = {arr(runtime)}",
        "",
        "[project.optional-dependencies]",
        *[f"{_toml_str(extra)} = {arr(reqs)}" for extra, reqs in sorted(extras.items())],
        "",
    ]
    project_dir.mkdir(parents=True, exist_ok=True)
    path = project_dir / "pyproject.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path, repo


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def produce(
    *, adapter: DponeAdapter, out: Path, release: str, version: str, wheel: str | None, check_installed: bool
) -> ProducerResult:
    result = ProducerResult()
    out.mkdir(parents=True, exist_ok=True)
    if wheel:
        subject: Path | None = Path(wheel).resolve() if Path(wheel).is_file() else None
        problem = "" if subject else f"the configured dpone_wheel {Path(wheel).name} does not exist"
    else:
        subject, problem = fetch_wheel(version, out / "dist")
    if subject is None:
        result.block("supply_chain.wheel_unavailable")
        result.domains.append(missing("supply_chain", f"no dpone {version} wheel to attest: {problem}"))
        return result
    result.artifacts["subject"] = str(subject)
    if check_installed and not wheel:
        checked, bad = wheel_mismatches(subject)
        result.metrics["wheel_files_checked"] = float(checked)
        result.extra["wheel_mismatches"] = bad
        if bad:
            result.block("supply_chain.wheel_mismatch")
    project_toml, repo = transcribe_pyproject(subject, out / "project")
    result.artifacts["pyproject_transcribed"] = str(project_toml)
    commit = settings.env(COMMIT_ENV) or "unknown"
    result.extra["commit_sha_source"] = COMMIT_ENV if commit != "unknown" else "not recorded in the wheel; unknown"
    key = settings.env(SIGNING_ENV)
    attest_dir = out / "attestation"
    argv = [
        "supply-chain",
        "attest",
        "--project-root",
        str(project_toml.parent),
        "--output-dir",
        str(attest_dir),
        "--release",
        release,
        "--subject",
        str(subject),
        "--repository",
        repo,
        "--commit-sha",
        commit,
        "--builder-id",
        BUILDER_ID,
    ]
    if key:
        argv += ["--signing-key", key, "--signing-key-id", SIGNING_ENV.lower()]
    report, _ = ask_dpone(result, adapter, "supply_chain_evidence", argv, SupplyChainAttestation, "supply_chain", out)
    if report is None:
        return result
    result.block(*report.blockers)
    result.artifacts["report"] = report.bundle_path
    for name in ("sbom_spdx_path", "sbom_cyclonedx_path", "provenance_path", "signature_path"):
        value = getattr(report, name)
        if value:
            result.artifacts[name.removesuffix("_path")] = value
    result.domains.append(
        produced(
            "supply_chain",
            report.bundle_path,
            passed=report.passed and not result.blockers,
            reason="" if key else f"no signing key: set {SIGNING_ENV} (dpone reports signature.missing_key)",
        )
    )
    result.metrics["subject_bytes"] = float(subject.stat().st_size)
    result.summary = (
        f"Attested `{subject.name}` (commit {commit}); dpone passed={report.passed}, "
        f"blockers: {', '.join(report.blockers) or 'none'}."
    )
    return result
