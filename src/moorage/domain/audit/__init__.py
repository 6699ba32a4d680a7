"""Audit: an append-only log of every change to moorage — who did what to which resource,
when, from which address and with what result (refusals and sign-in failures included).

Entries are only ever appended; the one deletion is the retention purge (`AuditService.purge`,
run by a system job). The edges record: the REST API (each write, in the request's own
transaction), the protocol layer (manifest pushes and deletes), sign-in, and background work.

Surface offered to other capabilities: `ports`, `model`, `service` (`AuditService`).
"""
