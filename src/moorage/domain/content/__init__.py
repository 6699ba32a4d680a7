"""Registry content: registries, images, blobs, uploads, artifacts, tags, browsing.

Surface offered to other capabilities: `ports`, `errors`, `uploads` (`UploadService`, the
upload-expiry job), `artifacts` (`ArtifactService`).
"""
