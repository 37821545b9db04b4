"""Kept for imports written before the gate factory: `GateRecord` lives in `dpone_certify.certification.records`."""

from dpone_certify.certification.records import GateRecord  # noqa: F401
