"""Pass captured values through Airflow's secrets masker before they reach the registry.

Airflow knows secrets the core cannot: connection passwords, sensitive extras and
Variables that tasks have read, plus its configurable list of sensitive key names. Every
value the adapter hands to the core (params, tags, metadata, dataset locations) goes
through :func:`mask` first; the core then applies its own redaction on top.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def mask(value: T, name: str | None = None) -> T:
    """``value`` with every secret Airflow knows replaced by ``***`` (recursively)."""
    from airflow.sdk.log import redact

    return redact(value, name)


def mask_secret(secret: str) -> None:
    """Register ``secret`` with Airflow's masker so that logs never show it."""
    from airflow.sdk.log import mask_secret as _mask_secret

    _mask_secret(secret)
