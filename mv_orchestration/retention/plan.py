"""Retention plans: immutable, digested lists of decisions, one per version.

Every version gets one decision and the reason a person can read:

* ``keep``      — active and kept (protection, a rule, or no rule applies);
* ``tombstone`` — active and kept by nothing: phase 1 of apply tombstones it;
* ``purge``     — tombstoned longer than the grace period and kept by nothing: phase 2
  deletes its bytes (those no remaining version references) and marks it purged;
* ``wait``      — tombstoned, and either kept by something or still within the grace
  period: nothing happens to it now;
* ``purged``    — already purged; listed so the plan covers every version.

Plans are made by :func:`mv_orchestration.retention.planner.make_plan`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, partial
from itertools import compress, repeat
from operator import eq, ne
from typing import Any, NamedTuple

from mv_orchestration.errors import IntegrityError
from mv_orchestration.retention.encoding import plan_chunks
from mv_orchestration.retention.policy import RetentionPolicy

PLAN_KIND = "mvo.retention_plan"
PLAN_SCHEMA_VERSION = 1
DECISIONS = ("keep", "tombstone", "purge", "wait", "purged")


class PlannedVersion(NamedTuple):
    """The decision for one version, why, and how many bytes it frees (an immutable named
    tuple: a plan holds one per version).

    ``frees_bytes`` counts each object once across the plan: for ``purge`` the bytes
    phase 2 deletes now, for ``tombstone``/``wait`` the bytes a later purge would free
    (objects no kept version references).
    """

    id: int
    model: str
    version: str
    status: str
    decision: str
    reason: str
    frees_bytes: int = 0

    @property
    def ref(self) -> str:
        """``model@version``."""
        return f"{self.model}@{self.version}"

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "status": self.status,
            "decision": self.decision,
            "reason": self.reason,
            "frees_bytes": self.frees_bytes,
        }


_planned = partial(tuple.__new__, PlannedVersion)  # all fields, without a Python-level call


class PlannedColumns(NamedTuple):
    """A plan's versions as columns, in plan order: entry ``i`` of each is a field of the
    ``i``-th :class:`PlannedVersion` (a plan of a million versions makes no tuple per
    version until :attr:`RetentionPlan.versions` is read)."""

    ids: tuple[int, ...]
    models: tuple[str, ...]
    versions: tuple[str, ...]
    statuses: tuple[str, ...]
    decisions: tuple[str, ...]
    reasons: tuple[str, ...]
    frees_bytes: tuple[int, ...]

    @classmethod
    def of(cls, versions: Iterable[PlannedVersion]) -> PlannedColumns:
        """The columns of ``versions``."""
        rows = list(versions)
        return cls(*(zip(*rows, strict=True) if rows else [()] * len(cls._fields)))

    def rows(self) -> Iterator[PlannedVersion]:
        """Each version's :class:`PlannedVersion`, in plan order."""
        return map(_planned, zip(*self, strict=True))


@dataclass(frozen=True, slots=True)
class PlannedSnapshot:
    """The decision (``keep`` or ``purge``) for one dataset snapshot."""

    digest: str
    decision: str
    reason: str
    frees_bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "digest": self.digest,
            "decision": self.decision,
            "reason": self.reason,
            "frees_bytes": self.frees_bytes,
        }


@dataclass(frozen=True)
class RetentionPlan:
    """An immutable plan; ``digest`` is taken of its canonical JSON (:meth:`chunks`), and
    ``id`` derived from it.

    ``columns`` hold the decision for every version (:attr:`versions` lists them as
    :class:`PlannedVersion`). ``objects`` are the ``(digest, size)`` store objects phase 2
    deletes: those of ``purge`` versions and snapshots that nothing staying references.
    ``audit_seq`` is the audit log's last sequence number in the registry snapshot planned
    (None: planned from a snapshot not read from a registry); apply uses it to find the
    alias moves the plan did not see (:mod:`.moves`). The canonical JSON is made when
    first needed: encoded in memory for :attr:`digest`, or streamed to a store with
    :meth:`store`.
    """

    created_at: datetime
    policy: RetentionPolicy
    policy_digest: str
    columns: PlannedColumns
    snapshots: tuple[PlannedSnapshot, ...] = ()
    objects: tuple[tuple[str, int], ...] = ()
    audit_seq: int | None = None

    @property
    def id(self) -> str:
        """``plan-`` + the first 16 hex digits of :attr:`digest`."""
        return plan_id_for(self.digest)

    @cached_property
    def digest(self) -> str:
        """Digest of the canonical JSON of :meth:`content`."""
        from mv_orchestration.hashing.digest import digest_bytes

        return digest_bytes(self.content_bytes())

    @cached_property
    def versions(self) -> tuple[PlannedVersion, ...]:
        """Every version's decision, in plan order (made from :attr:`columns` when first
        read)."""
        return tuple(self.columns.rows())

    def by_decision(self, decision: str) -> list[PlannedVersion]:
        """The versions with ``decision``, in plan order."""
        columns = self.columns
        chosen = map(eq, columns.decisions, repeat(decision))
        return list(map(_planned, compress(zip(*columns, strict=True), chosen)))

    def summary(self) -> dict[str, int]:
        """Counts per decision and the bytes freed now (purge) and later (tombstones)."""
        decisions = self.columns.decisions
        counts = dict.fromkeys(DECISIONS, 0)
        counts.update(Counter(decisions))
        not_purged = map(ne, decisions, repeat("purge"))
        later = sum(compress(self.columns.frees_bytes, not_purged))
        counts["snapshots_purge"] = sum(1 for s in self.snapshots if s.decision == "purge")
        counts["bytes_freed_now"] = sum(size for _, size in self.objects)
        counts["bytes_freed_later"] = later
        return counts

    @classmethod
    def build(
        cls,
        created_at: datetime,
        policy: RetentionPolicy,
        columns: PlannedColumns,
        snapshots: Iterable[PlannedSnapshot] = (),
        objects: Iterable[tuple[str, int]] = (),
        audit_seq: int | None = None,
    ) -> RetentionPlan:
        """Assemble a plan (its digest is computed when first read)."""
        return cls(
            created_at=created_at,
            policy=policy,
            policy_digest=policy.digest(),
            columns=columns,
            snapshots=tuple(snapshots),
            objects=tuple(objects),
            audit_seq=audit_seq,
        )

    def _head(self) -> dict[str, Any]:
        """The content but its ``versions`` and ``objects``."""
        head = {
            "kind": PLAN_KIND,
            "schema_version": PLAN_SCHEMA_VERSION,
            "created_at": self.created_at.isoformat(),
            "policy": self.policy.to_json(),
            "policy_digest": self.policy_digest,
            "snapshots": [s.to_json() for s in self.snapshots],
        }
        if self.audit_seq is not None:
            head["audit_seq"] = self.audit_seq
        return head

    def content(self) -> dict[str, Any]:
        """The digested content (everything but ``id`` and ``digest``)."""
        content = self._head()
        content["versions"] = [v.to_json() for v in self.versions]
        content["objects"] = [{"digest": d, "size": size} for d, size in self.objects]
        return content

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form: the content plus ``id``, ``digest`` and ``summary``."""
        data = self.content()
        data["id"] = self.id
        data["digest"] = self.digest
        data["summary"] = self.summary()
        return data

    def chunks(self) -> Iterator[bytes]:
        """Canonical JSON of :meth:`content`, in pieces."""
        head = self._head()
        return plan_chunks(head, self.columns, self.objects)

    def content_bytes(self) -> bytes:
        """Canonical JSON of :meth:`content` (the bytes :attr:`digest` is taken of),
        encoded once and kept with the plan."""
        return self._encoded

    @cached_property
    def _encoded(self) -> bytes:
        return b"".join(self.chunks())

    def store(
        self, put_chunks: Callable[[Iterable[bytes]], str], pack: Callable[[bytes], bytes]
    ) -> str:
        """Write the canonical JSON through ``put_chunks`` (such as
        :meth:`.ArtifactStore.put_chunks`) a piece at a time, each piece as ``pack`` makes
        it (a compressor), and return the stored object's digest. The JSON is hashed as it
        is written: its digest becomes :attr:`digest` if that was not known yet."""
        from mv_orchestration.hashing.digest import DEFAULT_ALGO, format_digest, new_hasher

        hasher = new_hasher(DEFAULT_ALGO, threads=True)  # pieces are megabytes

        def packed() -> Iterator[bytes]:
            for chunk in self.chunks():
                hasher.update(chunk)
                yield pack(chunk)

        stored = put_chunks(packed())
        digest = format_digest(DEFAULT_ALGO, hasher.hexdigest())
        known = vars(self).setdefault("digest", digest)
        if known != digest:
            raise IntegrityError(f"retention plan stored as {digest}, not as its digest {known}")
        return stored

    @classmethod
    def from_content_bytes(cls, data: bytes) -> RetentionPlan:
        """Rebuild a plan from :meth:`content_bytes`; its digest is recomputed."""
        from mv_orchestration.hashing.digest import digest_bytes

        try:
            content = json.loads(data)
            if content.get("kind") != PLAN_KIND:
                raise ValueError(f"kind is {content.get('kind')!r}")
            if content.get("schema_version") != PLAN_SCHEMA_VERSION:
                raise ValueError(f"unsupported schema_version {content.get('schema_version')!r}")
            policy = RetentionPolicy.model_validate(content["policy"])
            if policy.digest() != content["policy_digest"]:
                raise ValueError("its policy does not match the recorded policy digest")
            versions = tuple(PlannedVersion(**item) for item in content["versions"])
            plan = cls(
                created_at=datetime.fromisoformat(content["created_at"]),
                policy=policy,
                policy_digest=content["policy_digest"],
                columns=PlannedColumns.of(versions),
                snapshots=tuple(PlannedSnapshot(**item) for item in content["snapshots"]),
                objects=tuple((item["digest"], item["size"]) for item in content["objects"]),
                audit_seq=content.get("audit_seq"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityError(f"stored retention plan is not readable: {exc}") from None
        vars(plan).update(digest=digest_bytes(data), _encoded=data, versions=versions)
        return plan


def plan_id_for(digest: str) -> str:
    """The short plan id derived from a plan digest (``plan-`` + 16 hex digits)."""
    return "plan-" + digest.split(":", 1)[-1][:16]
