"""Per-invocation CLI state: connection settings, output mode and the open registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from mv_orchestration.registry import Registry


@dataclass
class CliState:
    """What the global options chose; opens the registry on first use."""

    registry_url: str | None
    store_url: str | None
    json_output: bool
    _registry: Registry | None = field(default=None, repr=False)

    def registry(self) -> Registry:
        if self._registry is None:
            from mv_orchestration.registry import connect

            self._registry = connect(self.registry_url, self.store_url)
        return self._registry


def state(ctx: typer.Context) -> CliState:
    """The CliState of this invocation."""
    obj: Any = ctx.find_root().obj
    assert isinstance(obj, CliState)
    return obj
