"""local_matrix, correctness, schema_evolution: the local profile's domain artifacts (`build_domains`) over the
`source_sink_matrix` records. Simulated (contract) records are never turned into these domains."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dpone_certify.matrix.local import build_domains
from dpone_certify.matrix.records import CaseRecord, EvidenceStatus
from dpone_certify.release.common import ProducerResult, missing, produced, read_json
from dpone_certify.settings import Profile

LOCAL_PROFILES = (Profile.LOCAL, Profile.LIVE)


def produce(domain: str, records: Mapping[str, CaseRecord], out: Path) -> ProducerResult:
    result = ProducerResult()
    ordered = [records[k] for k in sorted(records)]
    real = [r for r in ordered if r.profile in LOCAL_PROFILES and r.evidence_status is not EvidenceStatus.UNVERIFIED]
    if not ordered or len(real) != len(ordered):
        simulated = len(ordered) - len(real)
        reason = (
            "no source_sink_matrix record"
            if not ordered
            else f"{simulated}/{len(ordered)} matrix records are dpone's simulation (contract profile, UNVERIFIED)"
        ) + "; materialize source_sink_matrix with the local profile (real dpone runs on local engines)"
        result.block(f"{domain}.missing")
        result.domains.append(missing(domain, reason))
        result.summary = f"Not produced: {reason}."
        return result
    paths = build_domains(real, out / "domains")
    path = paths[domain]
    payload = read_json(path)
    passed = payload.get("passed") is True
    result.block(*(payload.get("blockers") or []))
    if not passed and not result.blockers:
        result.block(f"{domain}.not_passed")
    result.artifacts["report"] = str(path)
    result.domains.append(produced(domain, path, passed=passed))
    result.metrics.update(cases=float(len(real)), covered_cases=float(sum(r.covered for r in real)))
    result.summary = f"{domain} from {len(real)} local-profile case record(s): {payload.get('summary', '')}"
    return result
