"""What the registry returns: versions, alias moves, holds, summaries, reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Status = Literal["active", "tombstoned", "purged"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ModelVersion(_Frozen):
    """One registered version. ``created`` is False when this call found it already there
    (an orchestrator retry with the same idempotency key, or identical content)."""

    model: str
    version: str
    record_id: str
    created_at: datetime
    status: Status
    artifact_digest: str
    created: bool = False

    @classmethod
    def from_row(cls, row: Any, *, created: bool = False) -> ModelVersion:
        """From a row with the same column names (see ``resolve.version_select``)."""
        return cls(
            model=row.model,
            version=row.version,
            record_id=row.record_id,
            created_at=row.created_at,
            status=row.status,
            artifact_digest=row.artifact_digest,
            created=created,
        )

    @property
    def ref(self) -> str:
        """``model@version``."""
        return f"{self.model}@{self.version}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (for XCom, Prefect results, Dagster metadata)."""
        return {**self.model_dump(mode="json"), "ref": self.ref}


class AliasMove(_Frozen):
    """One alias change. ``to_version`` None means the alias was deleted; ``applied`` is
    False for a dry run or a promote to the alias's current target (nothing recorded)."""

    id: int | None
    model: str
    alias: str
    action: str
    from_version: str | None
    to_version: str | None
    at: datetime
    actor: str
    reason: str | None = None
    context: dict[str, Any] | None = None
    applied: bool = True


class Hold(_Frozen):
    """A legal or regulatory hold on one version."""

    id: int
    model: str
    version: str
    reason: str
    actor: str
    created_at: datetime
    expires_at: datetime | None = None
    released_at: datetime | None = None
    released_by: str | None = None
    active: bool = True

    @property
    def ref(self) -> str:
        """``model@version`` of the held version."""
        return f"{self.model}@{self.version}"


class ModelSummary(_Frozen):
    """One model: its version count, newest active version and aliases."""

    name: str
    created_at: datetime
    version_count: int
    latest_version: str | None
    aliases: dict[str, str]

    def aliases_text(self) -> str:
        """``production=1.2.0, staging=1.3.0``."""
        return ", ".join(f"{name}={version}" for name, version in sorted(self.aliases.items()))


class AuditEvent(_Frozen):
    """One audit log entry."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    payload: dict[str, Any]
    prev_digest: str | None
    digest: str


class AuditReport(_Frozen):
    """The result of checking the audit chain."""

    ok: bool
    events: int
    problems: list[str]


class VerifyReport(_Frozen):
    """The result of re-hashing stored objects and record digests."""

    ok: bool
    versions: int
    objects: int
    problems: list[str]
