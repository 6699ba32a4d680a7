"""The `moorage` command: serve, migrate and the operators' admin commands."""
