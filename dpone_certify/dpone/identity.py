"""The identity of the dpone build under test, read from the interpreter that runs it (never from the dpone
installed next to this code, unless that is the build under test).

`BuildIdentity` is what every gate record, case record, chain entry and report header carries: dpone's version,
the distribution's digest (the wheel's sha256 when the build came from a wheel, else a digest of the files its
RECORD lists, hashed as they are on disk) and the interpreter. The default release id is built from it; a release
id that names another version than the build is refused (`release_mismatch`).
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from dpone_certify.dpone.adapter import DponeAdapter

# A dpone-like version (components of at most 3 digits, so a date such as 2026.12.01 is not read as one).
VERSION_RE = re.compile(r"(?<![0-9.])(\d{1,3}\.\d{1,3}\.\d{1,3}(?:(?:a|b|rc|\.dev|\.post)\d+)?)(?![0-9.])")


class IdentityError(RuntimeError):
    """The build under test could not say who it is (the interpreter or its dpone is broken)."""


class ReleaseMismatch(ValueError):
    """A release id names a dpone version other than the build under test's."""


class BuildIdentity(BaseModel):
    dpone_version: str
    distribution_digest: str  # "sha256:<hex>" of the wheel, or "installed:<hex>" of the installed files
    digest_kind: Literal["wheel", "installed"]
    installed_digest: str  # always present: identical for two installs of the same wheel
    file_count: int = 0
    modified_since_install: list[str] = Field(default_factory=list)  # files that differ from the RECORD
    python_version: str
    interpreter: Literal["orchestrator", "isolated"]  # this process's dpone, or another interpreter's
    executable: str | None = None
    wheel: str | None = None  # the wheel's file name, when the build came from one

    @property
    def short_digest(self) -> str:
        return self.distribution_digest.split(":", 1)[-1][:12]

    @property
    def label(self) -> str:
        """e.g. `dpone 0.87.4 (installed:1a2b3c4d5e6f, python 3.11.7, isolated)`."""
        kind = "sha256" if self.digest_kind == "wheel" else "installed"
        changed = len(self.modified_since_install)
        tampered = f", {changed} file(s) differ from RECORD" if changed else ""
        return (
            f"dpone {self.dpone_version} ({kind}:{self.short_digest}, python {self.python_version}, "
            f"{self.interpreter}{tampered})"
        )

    def default_release(self) -> str:
        return f"dpone-{self.dpone_version}"


def versions_named(release: str) -> list[str]:
    """The version strings a release id names, e.g. `dpone-0.87.4-rc` -> ['0.87.4']."""
    return VERSION_RE.findall(release)


def check_release(release: str, version: str) -> None:
    """Refuse a release id that names a version, none of which is the build's."""
    named = versions_named(release)
    if named and version not in named:
        raise ReleaseMismatch(
            f"release {release!r} names dpone {', '.join(named)}, but the build under test is dpone {version}; "
            f"name the release after the build (default: dpone-{version}) or certify the build it names"
        )


_cache: dict[tuple[str | None, str | None], BuildIdentity] = {}
_lock = threading.Lock()


def read_identity(adapter: DponeAdapter, *, wheel_sha256: str | None = None, wheel: str | None = None) -> BuildIdentity:
    """Ask the build's own interpreter (cached per interpreter and wheel for this process)."""
    key = (adapter.python, wheel_sha256)
    with _lock:
        if key in _cache:
            return _cache[key]
    call = adapter.call("identity", "identity", {}, timeout_seconds=300)
    payload = call.payload if isinstance(call.payload, dict) else None
    if payload is None or "dpone_version" not in payload:
        raise IdentityError(
            f"dpone at {adapter.python or 'this process'} could not report its identity: {call.describe()}"
        )
    identity = BuildIdentity(
        dpone_version=str(payload["dpone_version"]),
        distribution_digest=f"sha256:{wheel_sha256}" if wheel_sha256 else f"installed:{payload['installed_digest']}",
        digest_kind="wheel" if wheel_sha256 else "installed",
        installed_digest=str(payload["installed_digest"]),
        file_count=int(payload.get("file_count", 0)),
        modified_since_install=list(payload.get("modified_since_install", [])),
        python_version=str(payload.get("python_version", "")),
        interpreter="isolated" if adapter.python else "orchestrator",
        executable=payload.get("executable"),
        wheel=wheel,
    )
    with _lock:
        _cache[key] = identity
    return identity


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def read_files(adapter: DponeAdapter) -> dict[str, str]:
    """{path: sha256} of every file the build's dpone distribution installed, as they are on disk now."""
    call = adapter.call("identity", "identity", {"files": True}, timeout_seconds=300)
    payload = call.payload if isinstance(call.payload, dict) else None
    if payload is None or not isinstance(payload.get("files"), dict):
        raise IdentityError(f"the build could not list its files: {call.describe()}")
    return {str(k): str(v) for k, v in payload["files"].items()}
