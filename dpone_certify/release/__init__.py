"""Producers of the release-evidence domains (production-maturity and industrial-readiness).

Each module owns one role; the Dagster assets in `dpone_certify.gates.release` stay thin. A producer returns a
`ProducerResult`: the domains it really produced (with the artifact dpone's gate is to read), the domains it
could not produce (with the reason), its blockers, metrics and artifacts."""
