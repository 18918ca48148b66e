"""Asset checks that re-hash what an asset stored and what its model's aliases point to.

For the latest materialization of each materialized partition of the asset, the check
verifies every stored byte of the value the versioning IO manager recorded (``mv/digest``)
and, for a model asset (``mv/ref``, from the IO manager or from ``version_result``),
the registered version and the target of every alias of that model.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import dagster as dg

from dagster_resources.events import materialized
from dagster_resources.metadata import REF_KEY, plain
from dagster_resources.resource import REGISTRY_KEY, ModelRegistryResource
from dagster_resources.storage import StoredValue, verify_value
from mv_orchestration.errors import IntegrityError, NotFoundError

CHECK_NAME = "mv_integrity"
AssetKeyLike = dg.AssetKey | str | Sequence[str]


def integrity_checks(
    assets: Iterable[dg.AssetsDefinition | dg.AssetSpec | AssetKeyLike],
    *,
    registry_key: str = REGISTRY_KEY,
    blocking: bool = False,
    name: str = CHECK_NAME,
) -> list[dg.AssetChecksDefinition]:
    """One integrity check per asset key (every key of a multi-asset)."""
    return [
        _integrity_check(key, registry_key=registry_key, blocking=blocking, name=name)
        for key in _asset_keys(assets)
    ]


def _asset_keys(
    assets: Iterable[dg.AssetsDefinition | dg.AssetSpec | AssetKeyLike],
) -> list[dg.AssetKey]:
    keys: list[dg.AssetKey] = []
    for item in assets:
        if isinstance(item, dg.AssetsDefinition):
            keys.extend(item.keys)
        elif isinstance(item, dg.AssetSpec):
            keys.append(item.key)
        else:
            keys.append(dg.AssetKey.from_coercible(item))
    return keys


def _integrity_check(
    key: dg.AssetKey, *, registry_key: str, blocking: bool, name: str
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=key,
        name=name,
        blocking=blocking,
        required_resource_keys={registry_key},
        description="Re-hashes the asset's stored bytes and its model's alias targets.",
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        resource: ModelRegistryResource = getattr(context.resources, registry_key)
        checked, problems = verify_asset(resource, context.instance, key)
        if not checked and not problems:
            return dg.AssetCheckResult(
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                description="nothing to verify: no materialization with mv/ metadata",
            )
        return dg.AssetCheckResult(
            passed=not problems,
            metadata={
                "checked": dg.MetadataValue.json(checked),
                "problems": dg.MetadataValue.json(problems),
            },
            description=_describe(checked, problems),
        )

    return _check


def verify_asset(
    resource: ModelRegistryResource, instance: dg.DagsterInstance, key: dg.AssetKey
) -> tuple[list[str], list[str]]:
    """(what verified, what failed) for the asset's latest materializations."""
    registry = resource.get_registry()
    checked: list[str] = []
    problems: list[str] = []
    models: set[str] = set()
    for partition, metadata in materialized(instance, key):
        where = key.to_user_string() + (f"[{partition}]" if partition is not None else "")
        stored = StoredValue.from_metadata(metadata)
        if stored is not None:
            _attempt(
                f"{where} {stored.digest}", checked, problems, verify_value, registry.store, stored
            )
        ref = plain(metadata.get(REF_KEY))
        if ref:
            _attempt(f"{where} {ref}", checked, problems, _verify_ref, resource, str(ref))
            models.add(str(ref).split("@", 1)[0])
    for model in sorted(models):
        for alias in sorted(registry.aliases(model)):
            target = f"{model}@{alias}"
            _attempt(target, checked, problems, _verify_ref, resource, target)
    return checked, problems


def _verify_ref(resource: ModelRegistryResource, ref: str) -> None:
    """Verify a version's record and artifacts; raise IntegrityError on any failure."""
    report = resource.verify(ref)
    if not report.ok:
        raise IntegrityError("; ".join(str(problem) for problem in report.problems))


def _describe(checked: list[str], problems: list[str]) -> str:
    if len(problems) == 1:
        return problems[0]
    return f"{len(problems)} problems" if problems else f"{len(checked)} verified"


def _attempt(
    label: str,
    checked: list[str],
    problems: list[str],
    verify: Callable[..., None],
    *args: Any,
) -> None:
    """Run one verification; file ``label`` under checked or, with the error, problems."""
    try:
        verify(*args)
    except (IntegrityError, NotFoundError) as exc:
        problems.append(f"{label}: {exc}")
    else:
        checked.append(label)
