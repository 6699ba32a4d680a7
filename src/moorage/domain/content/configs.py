"""What a pushed manifest's config says that lists show: an image's platform, a Helm chart's
name and versions. Every push reads it the same way (the protocol's and replication's)."""

from __future__ import annotations

from moorage.domain.content.artifacts import ArtifactService, helm_chart_of_config
from moorage.domain.content.uploads import UploadService
from moorage.domain.kernel.model import HelmChart
from moorage.oci.manifests import MAX_CONFIG_BYTES, ParsedManifest, helm_config, platform_of_config


async def config_facts(
    uploads: UploadService, parsed: ParsedManifest
) -> tuple[str | None, HelmChart | None]:
    """(`os/arch[/variant]`, None) for an image, (None, chart) for a Helm chart, else
    (None, None). The config is read straight from the store: the push's own transaction
    then refuses a config the image cannot read, so nothing read here is kept for it."""
    config = ArtifactService.config_to_read(parsed)
    data = await uploads.peek_small(config, MAX_CONFIG_BYTES) if config else None
    if not data:
        return None, None
    if helm_config(parsed) is not None:
        return None, helm_chart_of_config(data)
    return platform_of_config(data), None
