"""The virtual operando cell: physics only, no EPICS, deterministic from seeds."""
