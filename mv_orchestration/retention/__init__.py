"""Retention: declarative policies -> explainable stored plans -> two-phase apply -> blob GC.

Typical use::

    plan = plan_retention(registry, "retention.yaml")     # stored, read-only, nothing deleted
    report = apply_plan(registry, plan.id)                 # exactly that plan, re-checked
    gc_report = collect_garbage(registry, dry_run=False)   # mark and sweep the store

Names are loaded on first access, so importing this package stays light.
"""

from __future__ import annotations

from datetime import datetime
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mv_orchestration.retention.apply import ApplyReport, apply_plan
    from mv_orchestration.retention.gc import GCReport, collect_garbage
    from mv_orchestration.retention.loader import load_snapshot
    from mv_orchestration.retention.plan import PlannedVersion, RetentionPlan
    from mv_orchestration.retention.planner import make_plan
    from mv_orchestration.retention.plans import StoredPlan, load_plan, save_plan, stored_plans
    from mv_orchestration.retention.policy import (
        RetentionPolicy,
        RetentionRule,
        load_policy,
        policy_from_dict,
        policy_from_file,
    )
    from mv_orchestration.retention.snapshot import RegistrySnapshot

_EXPORTS = {
    "ApplyReport": "apply",
    "apply_plan": "apply",
    "GCReport": "gc",
    "collect_garbage": "gc",
    "load_snapshot": "loader",
    "PlannedVersion": "plan",
    "RetentionPlan": "plan",
    "make_plan": "planner",
    "StoredPlan": "plans",
    "load_plan": "plans",
    "save_plan": "plans",
    "stored_plans": "plans",
    "RetentionPolicy": "policy",
    "RetentionRule": "policy",
    "load_policy": "policy",
    "policy_from_dict": "policy",
    "policy_from_file": "policy",
    "RegistrySnapshot": "snapshot",
}
__all__ = [
    "ApplyReport",
    "GCReport",
    "PlannedVersion",
    "RegistrySnapshot",
    "RetentionPlan",
    "RetentionPolicy",
    "RetentionRule",
    "StoredPlan",
    "apply_plan",
    "collect_garbage",
    "load_plan",
    "load_policy",
    "load_snapshot",
    "make_plan",
    "plan_retention",
    "policy_from_dict",
    "policy_from_file",
    "save_plan",
    "stored_plans",
]


def plan_retention(
    registry: Any,
    policy: RetentionPolicy | Mapping[str, Any] | str | Path,
    *,
    now: datetime | None = None,
    actor: str | None = None,
) -> RetentionPlan:
    """Read the registry, plan ``policy`` (object, mapping or file) and store the plan.

    Nothing is deleted: apply the returned plan's ``id`` with :func:`apply_plan`.
    """
    from functools import partial

    from mv_orchestration.retention.bulk import gc_paused
    from mv_orchestration.retention.loader import using_snapshot
    from mv_orchestration.retention.planner import make_plan
    from mv_orchestration.retention.plans import save_plan
    from mv_orchestration.retention.policy import load_policy

    loaded = load_policy(policy)
    with gc_paused():  # the snapshot is freed inside: the collector never scans it
        plan = using_snapshot(registry, partial(make_plan, loaded), now)
        save_plan(registry, plan, actor)
    return plan


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
