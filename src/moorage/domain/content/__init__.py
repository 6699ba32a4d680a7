"""Registry content: registries, images, blobs, uploads, artifacts, tags, browsing.

Surface offered to other capabilities: `ports`, `errors`, `uploads` (`UploadService`, the
upload-expiry job), `artifacts` (`ArtifactService`), `configs` (what a pushed manifest's config
says, read as every push reads it).
"""
