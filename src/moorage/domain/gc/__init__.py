"""Garbage collection: the blob lifecycle (mark, sweep, take-back), runs and their history,
the deployment's storage figures, and consistency checks (fsck).

Surface offered to other capabilities: `ports`, `errors`, `service` (`GcService`).
"""
