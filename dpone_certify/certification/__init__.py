"""The vocabulary of the certification graph, free of Dagster: gate records, gate specs and the keys derived from
them, the evidence layout, and the plain logic the gate assets call. `gates/` (Dagster) builds on it;
`release/`, `runbooks/`, `report/` and `automation/` import from here, never from `gates/`."""
