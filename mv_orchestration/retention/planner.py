"""Planning: a pure function from (policy, registry snapshot, now) to a retention plan.

Protections are recorded first and always win: current alias targets and active holds.
Then every rule records what it keeps in its scope; a version that no rule applies to is
kept. Finally every parent of a version that stays is kept too, transitively. Rules only
ever keep: a version is tombstoned when nothing keeps it.

Versions are grouped by model and sorted once, in plan order (model, precedence, id);
each rule's scope is ranked once per model (:mod:`.scopes`).
"""

from __future__ import annotations

from collections import defaultdict, deque
from datetime import datetime, timedelta, timezone
from itertools import compress
from operator import attrgetter
from typing import cast

from mv_orchestration.errors import ValidationError
from mv_orchestration.retention.accounting import account_bytes
from mv_orchestration.retention.bulk import gc_paused
from mv_orchestration.retention.durations import format_duration, when_text
from mv_orchestration.retention.plan import PlannedColumns, PlannedSnapshot, RetentionPlan
from mv_orchestration.retention.policy import RetentionPolicy
from mv_orchestration.retention.scopes import Keeper, Scope
from mv_orchestration.retention.snapshot import (
    ACTIVE,
    PURGED,
    AliasInfo,
    RegistrySnapshot,
    VersionInfo,
    object_table_soon,
)

_PLAN_ORDER = attrgetter("precedence", "id")
_ID, _STATUS, _PARENTS = attrgetter("id"), attrgetter("status"), attrgetter("parents")
NO_RULE = "kept: no rule applies to this version"
TOMBSTONE = "tombstone: "


def _tombstoned_decision(
    version: VersionInfo, reason: str | None, grace: timedelta, now: datetime, grace_text: str
) -> tuple[str, str]:
    if reason is not None:
        return "wait", "stays tombstoned, bytes kept: " + reason.removeprefix("kept: ")
    since = version.tombstoned_at
    if since is None:
        return "wait", "tombstoned at an unknown time, so the grace period cannot end"
    if since + grace > now:
        return "wait", f"tombstoned; grace period {grace_text} ends at {when_text(since + grace)}"
    return "purge", (
        f"purge: tombstoned at {when_text(since)}, grace period {grace_text} is over and "
        "nothing keeps it"
    )


def _protect(
    aliases: list[AliasInfo], snapshot: RegistrySnapshot, now: datetime, keeper: Keeper
) -> None:
    for alias in aliases:
        if alias.target is not None:
            keeper.keep(alias.target, f"kept: current target of alias {alias.name}")
    holds = sorted(
        snapshot.holds,
        key=lambda h: (h.version_id, h.expires_at is not None, h.expires_at or now, h.reason),
    )
    for hold in holds:
        if hold.active_at(now):
            until = f" until {when_text(hold.expires_at)}" if hold.expires_at else ""
            keeper.keep(hold.version_id, f"kept: legal hold{until} ({hold.reason})")


def _keep_parents(ordered: list[VersionInfo], keeper: Keeper) -> None:
    """Keep every parent of a version that stays, transitively. Children are visited in
    plan order, so the child a parent's reason names does not depend on input order."""
    if not any(map(_PARENTS, ordered)):
        return
    by_id = {version.id: version for version in ordered}
    kept = keeper.reasons
    queue = deque(v for v in ordered if v.id in kept and v.status != PURGED)
    while queue:
        child = queue.popleft()
        for parent_id in sorted(child.parents):
            parent = by_id.get(parent_id)
            if parent is None or parent.status == PURGED or parent_id in kept:
                continue
            keeper.keep(parent_id, f"kept: parent of kept version {child.ref}")
            queue.append(parent)


def _scopes(
    policy: RetentionPolicy,
    by_model: dict[str, list[VersionInfo]],
    aliases_of: dict[str, list[AliasInfo]],
    now: datetime,
    keeper: Keeper,
) -> dict[str, list[Scope]]:
    """Apply every rule to every model's live versions; keep those no rule applies to."""
    labelled = [(rule.label(i), rule) for i, rule in enumerate(policy.rules)]
    scopes_of: dict[str, list[Scope]] = {}
    for model, versions in by_model.items():
        live = [v for v in versions if v.status != PURGED]
        if not live:
            continue
        scopes = []
        for label, rule in labelled:
            if not rule.applies_to_model(model):
                continue
            if rule.tags:
                scope = [v for v in live if rule.applies_to(model, v.tags)]
                scopes.append(Scope(label, rule, scope, whole=len(scope) == len(live)))
            else:
                scopes.append(Scope(label, rule, live, whole=True))
            scopes[-1].keep(aliases_of.get(model, []), now, keeper)
        if not any(scope.whole for scope in scopes):
            for version in live:
                if not any(scope.covers(version.id) for scope in scopes):
                    keeper.keep(version.id, NO_RULE)
        scopes_of[model] = scopes
    return scopes_of


def _decide(
    policy: RetentionPolicy,
    by_model: dict[str, list[VersionInfo]],
    scopes_of: dict[str, list[Scope]],
    reasons: dict[int, str],
    now: datetime,
) -> tuple[list[str], list[str]]:
    """The decision for every version and why, in plan order (a few passes per model, each
    over all its versions)."""
    grace, grace_text = policy.grace_period, format_duration(policy.grace_period)
    decisions: list[str] = []
    texts: list[str] = []
    for model, versions in by_model.items():
        why: list[str | None] = list(map(reasons.get, map(_ID, versions)))
        decided = ["tombstone" if text is None else "keep" for text in why]  # if active
        for index in compress(range(len(versions)), map(ACTIVE.__ne__, map(_STATUS, versions))):
            version = versions[index]
            if version.status == PURGED:
                decided[index], why[index] = "purged", "already purged"
            else:
                decided[index], why[index] = _tombstoned_decision(
                    version, why[index], grace, now, grace_text
                )
        unkept = [index for index, decision in enumerate(decided) if decision == "tombstone"]
        if unkept:
            tombstoned = [versions[index] for index in unkept]
            for index, text in zip(
                unkept, _why_tombstoned(scopes_of.get(model, []), tombstoned, now), strict=True
            ):
                why[index] = text
        decisions += decided
        texts += cast(list[str], why)
    return decisions, texts


def _why_tombstoned(scopes: list[Scope], versions: list[VersionInfo], now: datetime) -> list[str]:
    """Why no rule keeps each of ``versions`` (one model's active versions nothing keeps)."""
    if len(scopes) == 1:  # it covers every unkept version: no rule would have kept it
        return scopes[0].why_not_all(versions, now, TOMBSTONE)
    return [
        TOMBSTONE + "; ".join(s.why_not(version, now) for s in scopes if s.covers(version.id))
        for version in versions
    ]


def make_plan(
    policy: RetentionPolicy, snapshot: RegistrySnapshot, now: datetime | None = None
) -> RetentionPlan:
    """Decide every version of ``snapshot`` under ``policy`` at ``now`` (default: taken_at)."""
    now = now or snapshot.taken_at
    if now.tzinfo is None:
        raise ValidationError("retention planning needs a timezone-aware 'now'")
    with gc_paused():
        return _plan(policy, snapshot, now.astimezone(timezone.utc))


def _plan(policy: RetentionPolicy, snapshot: RegistrySnapshot, now: datetime) -> RetentionPlan:
    planned, snapshots, objects = _accounted(policy, snapshot, now)  # the rest is freed
    return RetentionPlan.build(now, policy, planned, snapshots, objects, snapshot.audit_seq)


def _accounted(
    policy: RetentionPolicy, snapshot: RegistrySnapshot, now: datetime
) -> tuple[PlannedColumns, list[PlannedSnapshot], list[tuple[str, int]]]:
    objects = object_table_soon(snapshot.objects)  # encoded while versions are decided
    keeper = Keeper()
    aliases = sorted(snapshot.aliases, key=lambda a: (a.model, a.name))
    _protect(aliases, snapshot, now, keeper)

    grouped: dict[str, list[VersionInfo]] = defaultdict(list)
    for version in snapshot.versions:
        grouped[version.model].append(version)
    by_model = {model: sorted(grouped[model], key=_PLAN_ORDER) for model in sorted(grouped)}
    aliases_of: dict[str, list[AliasInfo]] = defaultdict(list)
    for alias in aliases:
        aliases_of[alias.model].append(alias)
    scopes_of = _scopes(policy, by_model, aliases_of, now, keeper)
    ordered = [version for versions in by_model.values() for version in versions]
    _keep_parents(ordered, keeper)

    decisions, texts = _decide(policy, by_model, scopes_of, keeper.reasons, now)
    return account_bytes(
        policy, snapshot, objects.result(), ordered, decisions, texts, keeper.reasons, now
    )
