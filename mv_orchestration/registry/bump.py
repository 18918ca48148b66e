"""Choosing the next version: an explicit one, a requested bump, or ``auto``.

``auto`` compares the new version's fingerprint with the model's latest version (highest
semver precedence, whatever its status): a changed signature (input/output schema) is a
major bump; changed training data, params or feature definitions a minor bump; anything
else (code or environment only) a patch bump. The first version of a model is 1.0.0.
"""

from __future__ import annotations

from dataclasses import dataclass

from mv_orchestration.errors import ValidationError
from mv_orchestration.registry.record import BumpInfo, BumpKind
from mv_orchestration.registry.semver import BUMP_KINDS, SemVer, parse

BUMPS = ("auto", *BUMP_KINDS)
FIRST_VERSION = SemVer(1, 0, 0)


@dataclass(frozen=True)
class Fingerprint:
    """The digests that ``auto`` compares."""

    signature_digest: str
    datasets_digest: str
    params_digest: str
    features_digest: str


@dataclass(frozen=True)
class Latest:
    """The model's current highest version and its fingerprint."""

    version: str
    fingerprint: Fingerprint


def check_bump(bump: object) -> str:
    """Return ``bump`` if it is ``auto``, ``major``, ``minor`` or ``patch``."""
    if bump not in BUMPS:
        raise ValidationError(f"bump must be one of {', '.join(BUMPS)}, got {bump!r}")
    assert isinstance(bump, str)
    return bump


def changes(old: Fingerprint, new: Fingerprint) -> list[str]:
    """Which parts of the fingerprint differ, most significant first."""
    names = ("signature", "datasets", "params", "features")
    return [
        name for name in names if getattr(old, f"{name}_digest") != getattr(new, f"{name}_digest")
    ]


def next_version(bump: str, latest: Latest | None, new: Fingerprint) -> tuple[SemVer, BumpInfo]:
    """The version to allocate for ``bump`` after ``latest``, with the reason."""
    if latest is None:
        return FIRST_VERSION, BumpInfo(kind="initial", reason="first version of the model")
    previous = parse(latest.version)
    kind: BumpKind
    if bump != "auto":
        kind = "major" if bump == "major" else "minor" if bump == "minor" else "patch"
        reason = f"{kind} bump requested"
        return previous.bump(kind), BumpInfo(kind=kind, reason=reason, previous=latest.version)
    changed = changes(latest.fingerprint, new)
    if "signature" in changed:
        kind = "major"
    elif changed:
        kind = "minor"
    else:
        kind = "patch"
    if changed:
        reason = f"{', '.join(changed)} changed since {latest.version}"
    else:
        reason = f"only code or environment changed since {latest.version}"
    return previous.bump(kind), BumpInfo(kind=kind, reason=reason, previous=latest.version)
