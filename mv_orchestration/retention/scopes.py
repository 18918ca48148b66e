"""One rule applied to one model's live versions: what it keeps, and why it keeps nothing else.

A :class:`Scope` ranks its versions once (rank 1 = newest by precedence, then creation
time, then id) and prepares the fixed parts of its explanations, so explaining a
million versions formats only the per-version numbers.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from operator import attrgetter, lt

from mv_orchestration.retention.durations import age_text, age_texts, format_duration, when_text
from mv_orchestration.retention.policy import RetentionRule
from mv_orchestration.retention.snapshot import AliasInfo, VersionInfo

_RANK_ORDER = attrgetter("precedence", "created_at", "id")
_ID, _CREATED, _PRECEDENCE = map(attrgetter, ("id", "created_at", "precedence"))


def _ranked(versions: list[VersionInfo]) -> list[VersionInfo]:
    """``versions`` newest first (by precedence, then creation time, then id). Versions in
    plan order with strictly increasing precedence are that order reversed, unsorted."""
    precedences = list(map(_PRECEDENCE, versions))
    if all(map(lt, precedences, precedences[1:])):
        return versions[::-1]
    return sorted(versions, key=_RANK_ORDER, reverse=True)


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


class Scope:
    """``rule`` (labelled ``label``) applied to ``versions``, one model's live versions it
    applies to; ``whole`` when those are all the model's live versions."""

    __slots__ = (
        "_ids",
        "_last",
        "_tail",
        "_window",
        "_within",
        "label",
        "ranked",
        "ranks",
        "rule",
        "versions",
        "whole",
    )

    def __init__(
        self, label: str, rule: RetentionRule, versions: list[VersionInfo], *, whole: bool
    ) -> None:
        self.label, self.rule, self.versions, self.whole = label, rule, versions, whole
        self.ranked: list[VersionInfo] = []
        self.ranks: dict[int, int] = {}
        self._ids: Collection[int] | None = None
        self._last: str | None = None
        if rule.keep_last is not None:
            self.ranked = _ranked(versions)
            self.ranks = dict(zip(map(_ID, self.ranked), range(1, len(versions) + 1), strict=True))
            self._ids = self.ranks
            self._last = f"beyond keep_last {rule.keep_last} (rank "
        bits = []
        if rule.keep_alias_history is not None:
            bits.append(f", not among the previous {rule.keep_alias_history} targets of any alias")
        if rule.min_retention_after_production is not None:
            bits.append(
                ", did not serve production within min_retention_after_production "
                f"{format_duration(rule.min_retention_after_production)}"
            )
        self._tail = "".join(bits) + f" [{label}]"
        self._window = self._within = None
        if rule.keep_within is not None:
            self._window = format_duration(rule.keep_within)
            self._within = f" ago, older than keep_within {self._window}{self._tail}"

    def members(self) -> Collection[int]:
        """The ids of the scope's versions."""
        if self._ids is None:
            self._ids = set(map(_ID, self.versions))
        return self._ids

    def covers(self, version_id: int) -> bool:
        """True when the rule applies to ``version_id`` (one of this model's live versions)."""
        return self.whole or version_id in self.members()

    def why_not(self, version: VersionInfo, now: datetime, prefix: str = "") -> str:
        """Why this rule does not keep ``version`` (after ``prefix``)."""
        return self.why_not_all([version], now, prefix)[0]

    def why_not_all(self, versions: list[VersionInfo], now: datetime, prefix: str) -> list[str]:
        """:meth:`why_not` for each of ``versions``."""
        last, within = self._last, self._within
        ranks = map(self.ranks.__getitem__, map(_ID, versions))
        if within is not None:
            ages = age_texts(now, map(_CREATED, versions))
            if last is None:
                return [f"{prefix}created {age}{within}" for age in ages]
            return [
                f"{prefix}{last}{rank}), created {age}{within}"
                for rank, age in zip(ranks, ages, strict=True)
            ]
        if last is not None:
            return [f"{prefix}{last}{rank}){self._tail}" for rank in ranks]
        return [prefix + self._tail.lstrip(", ")] * len(versions)

    def keep(self, aliases: list[AliasInfo], now: datetime, keeper: Keeper) -> None:
        """Record in ``keeper`` what the rule keeps of its versions (``aliases``: the
        model's aliases)."""
        rule, label = self.rule, self.label
        if rule.keep_last:
            for rank, version in enumerate(self.ranked[: rule.keep_last], start=1):
                keeper.keep(
                    version.id, f"kept: within keep_last {rule.keep_last} (rank {rank}) [{label}]"
                )
        if rule.keep_within is not None:
            cutoff, window = now - rule.keep_within, self._window
            for version in self.versions:
                if version.created_at > cutoff:
                    keeper.keep(
                        version.id,
                        f"kept: created {age_text(now - version.created_at)} ago, within "
                        f"keep_within {window} [{label}]",
                    )
        if rule.keep_alias_history:
            for alias in aliases:
                previous = previous_targets(alias, rule.keep_alias_history)
                for position, target in enumerate(previous, start=1):
                    if target in self.members():
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
                    if target in self.members() and now < until + minimum:
                        keeper.keep(
                            target,
                            f"kept: served alias {alias.name} until {when_text(until)}; "
                            f"min_retention_after_production {format_duration(minimum)} keeps "
                            f"it until {when_text(until + minimum)} [{label}]",
                        )
