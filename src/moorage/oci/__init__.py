"""The OCI Distribution protocol's vocabulary: digests, names, media types, manifests, error codes.

Pure code: no I/O, no database, no web framework.
"""
