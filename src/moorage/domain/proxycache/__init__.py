"""Proxy caches: a registry that answers pulls from its own store and fills it on demand from
an upstream OCI registry (tags revalidated after a while, served stale when the upstream is
down; one upstream fetch per blob however many clients ask at once; pushes refused).

Surface offered to other capabilities: `ports`, `errors`.
"""
