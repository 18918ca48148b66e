"""Small helpers shared by the Dagster tests."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from dagster_resources import ModelRegistryResource


def tamper(store_dir: Path, mv_registry: ModelRegistryResource, digest: str) -> Path:
    """Overwrite the stored object ``digest`` with other bytes of the same length."""
    path = store_dir / mv_registry.get_registry().store.object_path(digest)
    data = path.read_bytes()
    os.chmod(path, 0o644)
    path.write_bytes(bytes([data[0] ^ 0xFF]) + data[1:] if data else b"x")
    return path


def materialization(result: dg.ExecuteInProcessResult, node: str) -> dg.AssetMaterialization:
    """The single materialization a node produced in ``result``."""
    (event,) = result.asset_materializations_for_node(node)
    return event


def value(metadata_value: object) -> object:
    """The plain value of a metadata entry."""
    return getattr(metadata_value, "value", metadata_value)
