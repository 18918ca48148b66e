"""Read what the versioning IO manager recorded on an asset's materializations."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg

from dagster_resources.storage import StoredValue
from mv_orchestration.errors import NotFoundError


def latest_metadata(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition: str | None = None
) -> Mapping[str, Any] | None:
    """Metadata of the latest materialization of an asset (or of one partition of it)."""
    if partition is None:
        entry = instance.get_latest_materialization_event(asset_key)
        materialization = entry.asset_materialization if entry is not None else None
    else:
        result = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1
        )
        materialization = result.records[0].asset_materialization if result.records else None
    return materialization.metadata if materialization is not None else None


def stored_value(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition: str | None = None
) -> StoredValue:
    """Where the latest materialization of an asset (partition) put its value."""
    metadata = latest_metadata(instance, asset_key, partition)
    where = asset_key.to_user_string() + (f" partition {partition!r}" if partition else "")
    if metadata is None:
        raise NotFoundError(f"asset {where} has not been materialized")
    stored = StoredValue.from_metadata(metadata)
    if stored is None:
        raise NotFoundError(
            f"the latest materialization of asset {where} was not stored by the versioning "
            "IO manager (no mv/digest metadata)"
        )
    return stored


def materialized(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey
) -> Iterator[tuple[str | None, Mapping[str, Any]]]:
    """(partition, metadata) of the latest materialization of each materialized partition.

    An unpartitioned asset gives one ``(None, metadata)`` pair, or none if never
    materialized.
    """
    partitions = sorted(instance.get_materialized_partitions(asset_key))
    if not partitions:
        metadata = latest_metadata(instance, asset_key)
        if metadata is not None:
            yield None, metadata
        return
    for partition in partitions:
        metadata = latest_metadata(instance, asset_key, partition)
        if metadata is not None:
            yield partition, metadata
