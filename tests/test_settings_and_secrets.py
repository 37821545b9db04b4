from __future__ import annotations

from pathlib import Path

import pytest

from dpone_certify import settings
from dpone_certify.secrets import redact, redact_obj


def test_profile_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.PROFILE_ENV, raising=False)
    assert settings.env_profile() is settings.Profile.CONTRACT
    monkeypatch.setenv(settings.PROFILE_ENV, "local")
    assert settings.env_profile() is settings.Profile.LOCAL
    monkeypatch.setenv(settings.PROFILE_ENV, "prod")
    with pytest.raises(ValueError, match="contract, local, live"):
        settings.env_profile()


def test_evidence_root_is_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(settings.EVIDENCE_ROOT_ENV, raising=False)
    assert settings.env_evidence_root() == tmp_path / ".dpone-certify" / "evidence"
    monkeypatch.setenv(settings.EVIDENCE_ROOT_ENV, "rel/ev")
    assert settings.env_evidence_root() == tmp_path / "rel" / "ev"


def test_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DPONE_IT_PG_PASSWORD", "hunter22x")
    text = "connect postgresql://app:pa55w0rd@db:5432/x password=topsecret token: abcd1234 hunter22x"
    out = redact(text)
    for secret in ("pa55w0rd", "topsecret", "abcd1234", "hunter22x"):
        assert secret not in out
    assert "postgresql://app:***@db:5432/x" in out
    assert redact_obj({"a": ["x hunter22x"], "n": 3}) == {"a": ["x ***"], "n": 3}
