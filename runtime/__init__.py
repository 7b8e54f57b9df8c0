"""pybox.runtime: the OCI runtime core (spec model, state store, lifecycle, container init, CLI)."""
