"""Planning: a pure function from (policy, registry snapshot, now) to a retention plan.

Protections are recorded first and always win: current alias targets and active holds.
Then every rule records what it keeps in its scope; a version that no rule applies to is
kept. Finally every parent of a version that stays is kept too, transitively. Rules only
ever keep: a version is tombstoned when nothing keeps it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from mv_orchestration.errors import ValidationError
from mv_orchestration.retention.accounting import account_bytes
from mv_orchestration.retention.durations import age_text, format_duration, when_text
from mv_orchestration.retention.plan import RetentionPlan
from mv_orchestration.retention.policy import RetentionPolicy, RetentionRule
from mv_orchestration.retention.snapshot import (
    PURGED,
    TOMBSTONED,
    AliasInfo,
    RegistrySnapshot,
    VersionInfo,
)


class Keeper:
    """The first keep reason recorded for each version id."""

    __slots__ = ("reasons",)

    def __init__(self) -> None:
        self.reasons: dict[int, str] = {}

    def keep(self, version_id: int, reason: str) -> None:
        """Keep ``version_id`` unless already kept (the earlier reason stays)."""
        self.reasons.setdefault(version_id, reason)


def previous_targets(alias: AliasInfo, count: int) -> list[int]:
    """The previous ``count`` distinct targets of ``alias``, newest first, never the current."""
    found: list[int] = []
    for move in reversed(alias.history):
        if len(found) >= count:
            break
        target = move.version_id
        if target is None or target == alias.target or target in found:
            continue
        found.append(target)
    return found


def served_until(alias: AliasInfo, now: datetime) -> dict[int, datetime]:
    """When each version that was ever a target of ``alias`` last stopped being it."""
    until: dict[int, datetime] = {}
    history = alias.history
    for index, move in enumerate(history):
        if move.version_id is None:
            continue
        end = history[index + 1].moved_at if index + 1 < len(history) else now
        if move.version_id not in until or end > until[move.version_id]:
            until[move.version_id] = end
    if alias.target is not None:
        until[alias.target] = now
    return until


def _rank(scope: list[VersionInfo]) -> dict[int, int]:
    """Rank 1 = newest by precedence (then creation time, then id)."""
    ranked = sorted(scope, key=lambda v: (v.precedence, v.created_at, v.id), reverse=True)
    return {version.id: rank for rank, version in enumerate(ranked, start=1)}


def _apply_rule(
    rule: RetentionRule,
    label: str,
    scope: list[VersionInfo],
    ranks: dict[int, int],
    aliases: list[AliasInfo],
    now: datetime,
    keeper: Keeper,
) -> None:
    """Record what ``rule`` keeps of ``scope`` (one model's live versions it applies to)."""
    if rule.keep_last:
        for version in scope:
            rank = ranks[version.id]
            if rank <= rule.keep_last:
                keeper.keep(
                    version.id, f"kept: within keep_last {rule.keep_last} (rank {rank}) [{label}]"
                )
    if rule.keep_within is not None:
        cutoff = now - rule.keep_within
        window = format_duration(rule.keep_within)
        for version in scope:
            if version.created_at > cutoff:
                keeper.keep(
                    version.id,
                    f"kept: created {age_text(now - version.created_at)} ago, within keep_within "
                    f"{window} [{label}]",
                )
    in_scope = {v.id for v in scope} if aliases else set()
    if rule.keep_alias_history:
        for alias in aliases:
            previous = previous_targets(alias, rule.keep_alias_history)
            for position, target in enumerate(previous, start=1):
                if target in in_scope:
                    keeper.keep(
                        target,
                        f"kept: previous target #{position} of alias {alias.name} "
                        f"(keep_alias_history {rule.keep_alias_history}) [{label}]",
                    )
    if rule.min_retention_after_production is not None:
        minimum = rule.min_retention_after_production
        for alias in aliases:
            if alias.name not in rule.production_aliases:
                continue
            for target, until in served_until(alias, now).items():
                if target in in_scope and now < until + minimum:
                    keeper.keep(
                        target,
                        f"kept: served alias {alias.name} until {when_text(until)}; "
                        f"min_retention_after_production {format_duration(minimum)} keeps it "
                        f"until {when_text(until + minimum)} [{label}]",
                    )


@dataclass(frozen=True)
class _Scope:
    """One rule applied to one model: its label, rule, ranks and fixed explanation parts."""

    label: str
    rule: RetentionRule
    ranks: dict[int, int]
    window: str | None
    tail: str

    @classmethod
    def of(cls, label: str, rule: RetentionRule, ranks: dict[int, int]) -> _Scope:
        bits = []
        if rule.keep_alias_history is not None:
            bits.append(f", not among the previous {rule.keep_alias_history} targets of any alias")
        if rule.min_retention_after_production is not None:
            bits.append(
                ", did not serve production within min_retention_after_production "
                f"{format_duration(rule.min_retention_after_production)}"
            )
        window = None if rule.keep_within is None else format_duration(rule.keep_within)
        return cls(label, rule, ranks, window, "".join(bits) + f" [{label}]")

    def why_not(self, version: VersionInfo, now: datetime) -> str:
        """Why this rule does not keep ``version``."""
        bits = []
        if self.rule.keep_last is not None:
            bits.append(f"beyond keep_last {self.rule.keep_last} (rank {self.ranks[version.id]})")
        if self.window is not None:
            age = age_text(now - version.created_at)
            bits.append(f"created {age} ago, older than keep_within {self.window}")
        return (", ".join(bits) + self.tail).lstrip(", ")


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


def _keep_parents(by_id: dict[int, VersionInfo], keeper: Keeper) -> None:
    staying = [vid for vid in keeper.reasons if vid in by_id and by_id[vid].status != PURGED]
    while staying:
        child = by_id[staying.pop()]
        for parent_id in child.parents:
            parent = by_id.get(parent_id)
            if parent is None or parent.status == PURGED or parent_id in keeper.reasons:
                continue
            keeper.keep(parent_id, f"kept: parent of kept version {child.ref}")
            staying.append(parent_id)


def make_plan(
    policy: RetentionPolicy, snapshot: RegistrySnapshot, now: datetime | None = None
) -> RetentionPlan:
    """Decide every version of ``snapshot`` under ``policy`` at ``now`` (default: taken_at)."""
    now = now or snapshot.taken_at
    if now.tzinfo is None:
        raise ValidationError("retention planning needs a timezone-aware 'now'")
    now = now.astimezone(timezone.utc)
    keeper = Keeper()
    aliases = sorted(snapshot.aliases, key=lambda a: (a.model, a.name))
    _protect(aliases, snapshot, now, keeper)

    live_by_model: dict[str, list[VersionInfo]] = defaultdict(list)
    for version in snapshot.versions:
        if version.status != PURGED:
            live_by_model[version.model].append(version)
    aliases_of: dict[str, list[AliasInfo]] = defaultdict(list)
    for alias in aliases:
        aliases_of[alias.model].append(alias)

    labelled = [(rule.label(i), rule) for i, rule in enumerate(policy.rules)]
    applicable: dict[int, list[_Scope]] = defaultdict(list)  # version id -> rules applying
    for model, live in live_by_model.items():
        for label, rule in labelled:
            if not rule.applies_to_model(model):
                continue
            scope = live if not rule.tags else [v for v in live if rule.applies_to(model, v.tags)]
            ranks = _rank(scope) if rule.keep_last is not None else {}
            entry = _Scope.of(label, rule, ranks)
            for version in scope:
                applicable[version.id].append(entry)
            _apply_rule(rule, label, scope, ranks, aliases_of.get(model, []), now, keeper)
    for live in live_by_model.values():
        for version in live:
            if version.id not in applicable:
                keeper.keep(version.id, "kept: no rule applies to this version")
    _keep_parents({v.id: v for v in snapshot.versions}, keeper)

    grace, grace_text = policy.grace_period, format_duration(policy.grace_period)
    decided: list[tuple[VersionInfo, str, str]] = []
    for version in sorted(snapshot.versions, key=lambda v: (v.model, v.precedence, v.id)):
        reason = keeper.reasons.get(version.id)
        if version.status == PURGED:
            decided.append((version, "purged", "already purged"))
        elif version.status == TOMBSTONED:
            decision, text = _tombstoned_decision(version, reason, grace, now, grace_text)
            decided.append((version, decision, text))
        elif reason is not None:
            decided.append((version, "keep", reason))
        else:
            why = "; ".join(scope.why_not(version, now) for scope in applicable[version.id])
            decided.append((version, "tombstone", "tombstone: " + why))

    planned, snapshots, objects = account_bytes(policy, snapshot, decided, keeper.reasons, now)
    return RetentionPlan.build(now, policy, planned, snapshots, objects)
