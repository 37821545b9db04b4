"""Candidate vs control: one dpone build certified against another on the same cases, engines and data."""
