"""Airflow assets for models and aliases, and the events that carry a version.

* ``mv://<model>`` - updated whenever a version of the model is registered;
* ``mv://<model>/alias/<alias>`` - updated whenever the alias moves (promotion, rollback).

Each event's ``extra`` holds the version (``model``, ``version``, ``ref``, ``record_id``,
plus ``alias``/``action`` for alias events), so a DAG scheduled on the asset reads it
from ``triggering_asset_events``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow.sdk import Asset

SCHEME = "mv"


def model_asset(model: str) -> Asset:
    """The asset of every version of ``model``."""
    return Asset(f"{SCHEME}://{model}")


def alias_asset(model: str, alias: str) -> Asset:
    """The asset that changes when ``model``'s ``alias`` moves."""
    return Asset(f"{SCHEME}://{model}/alias/{alias}")


def with_outlet(outlets: Iterable[Any] | Any | None, asset: Asset) -> list[Any]:
    """``outlets`` as a list that contains ``asset`` exactly once."""
    if outlets is None:
        items: list[Any] = []
    elif isinstance(outlets, (list, tuple)):
        items = list(outlets)
    else:
        items = [outlets]
    return items if asset in items else [*items, asset]


def emit(
    context: Mapping[str, Any], outlets: Iterable[Any], asset: Asset, extra: Mapping[str, Any]
) -> bool:
    """Attach ``extra`` to the task's event for ``asset`` when it is one of its outlets."""
    if asset not in list(outlets):
        return False
    context["outlet_events"][asset].extra.update(extra)
    return True
