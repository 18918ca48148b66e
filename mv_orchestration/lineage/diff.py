"""What differs between two version records: params, data, packages, code, hardware, seeds.

:func:`diff_records` compares two :class:`~mv_orchestration.registry.record.VersionRecord`
objects section by section. Values are compared by key path (``optimizer.lr``); datasets
by name, with schema and row-count differences for tables; packages by name, ordered by
PEP 440 (:mod:`mv_orchestration.lineage.pep440`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mv_orchestration.lineage.pep440 import compare_versions

if TYPE_CHECKING:
    from mv_orchestration.hashing.dataset import DatasetRef
    from mv_orchestration.registry.record import VersionRecord

Change = Literal["added", "removed", "changed"]
PackageChangeKind = Literal["added", "removed", "upgraded", "downgraded", "changed"]

_CODE_FIELDS = ("commit", "branch", "dirty", "diff_digest", "source", "source_digest")
_ENVIRONMENT_FIELDS = (
    "python_version",
    "python_implementation",
    "os",
    "os_release",
    "machine",
    "libc",
)
_HARDWARE_FIELDS = (
    "cpu_model",
    "cpu_physical_cores",
    "cpu_logical_cores",
    "memory_total_bytes",
    "gpu_count",
    "gpu_driver_version",
    "cuda_driver_version",
)
_SEED_FIELDS = (
    "seed",
    "seed_source",
    "seeded",
    "deferred",
    "deterministic",
    "pythonhashseed",
    "state_digests",
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ValueChange(_Frozen):
    """One value at ``path`` that was added, removed or changed from ``old`` to ``new``."""

    path: str
    change: Change
    old: Any = None
    new: Any = None


class DatasetChange(_Frozen):
    """A dataset (by name) that was added, removed or whose content changed."""

    name: str
    change: Change
    old_digest: str | None = None
    new_digest: str | None = None
    old_uri: str | None = None
    new_uri: str | None = None
    columns: list[ValueChange] = Field(default_factory=list)
    """Columns added, removed or retyped (``old``/``new`` are Arrow type strings)."""
    old_rows: int | None = None
    new_rows: int | None = None


class PackageChange(_Frozen):
    """An installed distribution that was added, removed, up-, downgraded or changed
    (same version, other source: a VCS commit or a URL)."""

    name: str
    change: PackageChangeKind
    old: str | None = None
    new: str | None = None


class RecordDiff(_Frozen):
    """Every difference between version ``a`` and version ``b`` (``b`` is the newer side)."""

    a: str
    b: str
    same_content: bool
    artifacts: list[ValueChange] = Field(default_factory=list)
    params: list[ValueChange] = Field(default_factory=list)
    features: list[ValueChange] = Field(default_factory=list)
    metrics: list[ValueChange] = Field(default_factory=list)
    datasets: list[DatasetChange] = Field(default_factory=list)
    packages: list[PackageChange] = Field(default_factory=list)
    code: list[ValueChange] = Field(default_factory=list)
    environment: list[ValueChange] = Field(default_factory=list)
    hardware: list[ValueChange] = Field(default_factory=list)
    seeds: list[ValueChange] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when nothing but run identity and time differs."""
        return not any(getattr(self, name) for name in SECTIONS)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return self.model_dump(mode="json")


SECTIONS = (
    "artifacts",
    "params",
    "features",
    "metrics",
    "datasets",
    "packages",
    "code",
    "environment",
    "hardware",
    "seeds",
)


def diff_records(a: VersionRecord, b: VersionRecord) -> RecordDiff:
    """Compare two records; ``a`` is the old side, ``b`` the new one."""
    cap_a, cap_b = a.capture, b.capture
    return RecordDiff(
        a=f"{a.model}@{a.version}",
        b=f"{b.model}@{b.version}",
        same_content=a.content_digest == b.content_digest,
        artifacts=diff_values({"artifacts": a.artifacts.digest}, {"artifacts": b.artifacts.digest}),
        params=diff_values(a.params, b.params),
        features=diff_values(a.features, b.features),
        metrics=diff_values(a.metrics, b.metrics),
        datasets=diff_datasets(a.datasets, b.datasets),
        packages=diff_packages(_distributions(cap_a), _distributions(cap_b)),
        code=_diff_fields(cap_a.get("code"), cap_b.get("code"), _CODE_FIELDS),
        environment=_diff_environment(cap_a.get("environment"), cap_b.get("environment")),
        hardware=_diff_hardware(cap_a.get("hardware"), cap_b.get("hardware")),
        seeds=_diff_fields(cap_a.get("seeds"), cap_b.get("seeds"), _SEED_FIELDS),
    )


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf values of nested mappings by dotted key path (lists and empty mappings are
    leaves; a key holding a dot or a bracket is written ``["key"]``)."""
    if not isinstance(value, Mapping) or not value:
        return {prefix: value} if prefix else {}
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = str(key)
        if "." in name or "[" in name or not name:
            path = f'{prefix}["{name}"]'
        else:
            path = f"{prefix}.{name}" if prefix else name
        out.update(flatten(item, path) if isinstance(item, Mapping) and item else {path: item})
    return out


def diff_values(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[ValueChange]:
    """Added, removed and changed leaves of two nested mappings, by key path."""
    a, b = flatten(old or {}), flatten(new or {})
    changes = []
    for path in sorted(a.keys() | b.keys()):
        if path not in b:
            changes.append(ValueChange(path=path, change="removed", old=a[path]))
        elif path not in a:
            changes.append(ValueChange(path=path, change="added", new=b[path]))
        elif not _equal(a[path], b[path]):
            changes.append(ValueChange(path=path, change="changed", old=a[path], new=b[path]))
    return changes


def _equal(x: Any, y: Any) -> bool:
    """Equality that tells ``1`` from ``True`` (JSON does)."""
    return type(x) is type(y) and x == y if isinstance(x, bool) or isinstance(y, bool) else x == y


def diff_datasets(old: Iterable[DatasetRef], new: Iterable[DatasetRef]) -> list[DatasetChange]:
    """Datasets added, removed or changed, by name."""
    a, b = {d.name: d for d in old}, {d.name: d for d in new}
    changes = []
    for name in sorted(a.keys() | b.keys()):
        x, y = a.get(name), b.get(name)
        if y is None:
            assert x is not None
            changes.append(
                DatasetChange(name=name, change="removed", old_digest=x.digest, old_uri=x.uri)
            )
        elif x is None:
            changes.append(
                DatasetChange(name=name, change="added", new_digest=y.digest, new_uri=y.uri)
            )
        elif x.digest != y.digest or x.uri != y.uri:
            rows_differ = x.num_rows != y.num_rows
            changes.append(
                DatasetChange(
                    name=name,
                    change="changed",
                    old_digest=x.digest,
                    new_digest=y.digest,
                    old_uri=x.uri,
                    new_uri=y.uri,
                    columns=diff_values(x.schema or {}, y.schema or {})
                    if x.schema is not None and y.schema is not None
                    else [],
                    old_rows=x.num_rows if rows_differ else None,
                    new_rows=y.num_rows if rows_differ else None,
                )
            )
    return changes


def _distributions(capture: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    environment = capture.get("environment") or {}
    return {d["name"]: d for d in environment.get("distributions") or []}


def describe_distribution(dist: Mapping[str, Any]) -> str:
    """``version`` plus where it came from when it was not an index release."""
    text = str(dist.get("version"))
    if dist.get("commit"):
        text += f" ({dist.get('vcs') or 'vcs'} {str(dist['commit'])[:12]})"
    elif dist.get("url"):
        text += f" ({'editable ' if dist.get('editable') else ''}{dist['url']})"
    return text


def diff_packages(
    old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]
) -> list[PackageChange]:
    """Distributions added, removed, upgraded, downgraded or changed, by name."""
    changes = []
    for name in sorted(old.keys() | new.keys()):
        x, y = old.get(name), new.get(name)
        if y is None:
            assert x is not None
            changes.append(PackageChange(name=name, change="removed", old=describe_distribution(x)))
        elif x is None:
            changes.append(PackageChange(name=name, change="added", new=describe_distribution(y)))
        else:
            kind = _package_change(x, y)
            if kind is not None:
                changes.append(
                    PackageChange(
                        name=name,
                        change=kind,
                        old=describe_distribution(x),
                        new=describe_distribution(y),
                    )
                )
    return changes


def _package_change(x: Mapping[str, Any], y: Mapping[str, Any]) -> PackageChangeKind | None:
    order = compare_versions(str(x.get("version")), str(y.get("version")))
    if order == 1:
        return "upgraded"
    if order == -1:
        return "downgraded"
    if order is None or any(x.get(k) != y.get(k) for k in ("commit", "url", "editable")):
        return "changed"
    return None


def _diff_fields(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, fields: Iterable[str]
) -> list[ValueChange]:
    pick = tuple(fields)
    return diff_values({k: (old or {}).get(k) for k in pick}, {k: (new or {}).get(k) for k in pick})


def _diff_environment(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> list[ValueChange]:
    def pick(env: Mapping[str, Any] | None) -> dict[str, Any]:
        env = env or {}
        container = env.get("container") or {}
        conda = env.get("conda") or {}
        return {
            **{k: env.get(k) for k in _ENVIRONMENT_FIELDS},
            "container_image_digest": container.get("image_digest"),
            "conda_environment": conda.get("name"),
        }

    return diff_values(pick(old), pick(new))


def _diff_hardware(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> list[ValueChange]:
    def pick(hardware: Mapping[str, Any] | None) -> dict[str, Any]:
        hardware = hardware or {}
        gpus = [
            f"{g.get('name')} ({g.get('memory_total_bytes')} bytes)"
            for g in hardware.get("gpus") or []
        ]
        return {**{k: hardware.get(k) for k in _HARDWARE_FIELDS}, "gpus": gpus}

    return diff_values(pick(old), pick(new))
