"""The orchestrator-neutral identity of one task run, filled in by each adapter."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


def _escape(part: str) -> str:
    """Escape ``%`` and ``:`` so the joined key stays unambiguous."""
    return part.replace("%", "%25").replace(":", "%3A")


class RunContext(BaseModel):
    """Who ran this task: orchestrator, run, task, try, map index or partition, and more.

    ``orchestrator`` is ``"local"`` outside any orchestrator. ``pipeline`` is the DAG id,
    flow name or job name; ``deployment`` the Prefect deployment (or similar).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    orchestrator: str = Field(default="local", min_length=1)
    run_id: str | None = None
    task_id: str | None = None
    try_number: int | None = None
    map_index: int | None = None
    partition_key: str | None = None
    logical_date: datetime | None = None
    pipeline: str | None = None
    deployment: str | None = None
    asset_key: str | None = None
    code_version: str | None = None
    extra: dict[str, str] = Field(default_factory=dict)

    def idempotency_key(self) -> str | None:
        """Key that is equal for every try of the same task run, or None without a run id.

        ``"{orchestrator}:{pipeline}:{run_id}:{task_id}:{map_index or partition_key}"``,
        followed by ``":{asset_key}"`` when set. The try number is never part of it, so an
        orchestrator retry maps to the same key. ``%`` and ``:`` inside a part are
        percent-encoded, so distinct contexts never share a key.
        """
        if self.run_id is None:
            return None
        slot = str(self.map_index) if self.map_index is not None else self.partition_key or ""
        parts = [self.orchestrator, self.pipeline or "", self.run_id, self.task_id or "", slot]
        if self.asset_key:
            parts.append(self.asset_key)
        return ":".join(_escape(part) for part in parts)
