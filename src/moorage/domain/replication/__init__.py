"""Replication: rules that copy artifacts between this registry and one elsewhere (push or
pull), their executions with a task per artifact, and the copy plan that runs them.

Surface offered to other capabilities: `ports`, `errors`, `triggers` (queueing the copies a
push asks for, in the pushing transaction).
"""
