"""Kept for imports written before the gate factory: the keys live in `dpone_certify.certification.keys`."""

from dpone_certify.certification.keys import (  # noqa: F401
    ALL_GATES,
    FULL_CERTIFICATION_GATES,
    RELEASE_GATES,
    RELEASE_PRODUCERS,
)
