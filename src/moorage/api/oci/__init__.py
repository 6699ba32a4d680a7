"""The OCI Distribution API v1.1 under /v2/: parse HTTP, call the domain, write HTTP."""
