"""Registry content: registries, images, blobs, uploads, artifacts, tags, browsing."""
