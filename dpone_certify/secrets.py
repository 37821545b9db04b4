"""Secret scrubbing for everything we emit (artifacts, logs, metadata, reports)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from dpone_certify import settings

REDACTED = "***"

# Env var names whose values are credentials; their values are scrubbed wherever they appear.
_SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|APIKEY|CREDENTIAL|PRIVATE_KEY)", re.IGNORECASE)
_PATTERNS = (
    # scheme://user:password@host
    re.compile(r"(?P<pre>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^@\s]+)(?P<post>@)"),
    # password=..., "password": "...", token: ...
    re.compile(
        r"(?P<pre>(?:password|passwd|pwd|secret|token|api[_-]?key)[\"']?\s*[:=]\s*[\"']?)(?P<secret>[^\"'\s,;&}]+)(?P<post>)",
        re.IGNORECASE,
    ),
)


def secret_values_from_env(environ: dict[str, str] | None = None) -> list[str]:
    env = settings.environ() if environ is None else environ
    return [v for k, v in env.items() if _SECRET_NAME.search(k) and len(v) >= 4]


def redact(text: str, known: Iterable[str] = ()) -> str:
    """Remove known secret values and credential-looking patterns from text."""
    if not text:
        return text
    values = sorted({v for v in (*known, *secret_values_from_env()) if v and len(v) >= 4}, key=len, reverse=True)
    for value in values:
        text = text.replace(value, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: f"{m.group('pre')}{REDACTED}{m.group('post')}", text)
    return text


def redact_obj(obj: object, known: Iterable[str] = ()) -> object:
    """Redact every string inside a JSON-like structure."""
    known = tuple(known)
    if isinstance(obj, str):
        return redact(obj, known)
    if isinstance(obj, dict):
        return {k: redact_obj(v, known) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact_obj(v, known) for v in obj]
    return obj
