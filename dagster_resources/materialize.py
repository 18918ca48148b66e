"""The explicit path: an asset that registers its own model returns ``version_result(...)``.

The IO manager is not called for an asset that returns ``MaterializeResult``, so this
helper gives such assets the same provenance: the version's identity, its lineage (as
Markdown with a Mermaid diagram), links, and the artifact digest as the data version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg

from dagster_resources.metadata import version_metadata
from dagster_resources.resource import ModelRegistryResource

if TYPE_CHECKING:
    from mv_orchestration.registry import ModelVersion, Registry

LINEAGE_KEY = "mv/lineage"
STORE_KEY = "mv/store"


def lineage_markdown(registry: Registry, ref: str, depth: int | None = 2) -> str:
    """The upstream lineage of ``ref`` as Markdown holding a Mermaid flowchart."""
    from mv_orchestration.lineage.render import to_mermaid

    graph = registry.lineage(ref, direction="upstream", depth=depth)
    return f"**Lineage of `{ref}`**\n\n```mermaid\n{to_mermaid(graph)}\n```\n"


def version_result(
    version: ModelVersion,
    registry: ModelRegistryResource | Registry,
    *,
    asset_key: dg.AssetKey | str | Sequence[str] | None = None,
    links: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    lineage_depth: int | None = 2,
) -> dg.MaterializeResult:
    """A ``MaterializeResult`` describing ``version``; its data version is the artifact digest.

    ``links`` are shown as clickable URLs (a model card, a dashboard, ...); the store
    location of the artifacts is always included.
    """
    core = registry.get_registry() if isinstance(registry, ModelRegistryResource) else registry
    entries: dict[str, Any] = dict(metadata or {})
    entries.update(version_metadata(version))
    entries[LINEAGE_KEY] = dg.MetadataValue.md(
        lineage_markdown(core, version.ref, depth=lineage_depth)
    )
    entries[STORE_KEY] = dg.MetadataValue.url(core.store.url)
    for name, url in (links or {}).items():
        entries[f"link/{name}"] = dg.MetadataValue.url(url)
    return dg.MaterializeResult(
        asset_key=asset_key,
        metadata=entries,
        data_version=dg.DataVersion(version.artifact_digest),
    )
