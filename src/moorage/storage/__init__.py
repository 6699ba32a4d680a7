"""Blob storage: bytes by key on a local filesystem or S3-compatible object storage.

Drivers implement `moorage.domain.ports.BlobStore`; `drivers.build_blob_store` picks one by name.
"""
