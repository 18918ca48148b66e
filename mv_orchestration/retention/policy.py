"""Retention policies: which versions to keep, declared in YAML, TOML, JSON or code.

A policy is a list of rules plus grace periods. A rule applies to the versions of models
whose name matches its ``models`` glob(s) and whose tags match its ``tags``; it *keeps*
versions (the newest ``keep_last``, those younger than ``keep_within``, the previous
``keep_alias_history`` targets of each alias, and those that served a production alias
less than ``min_retention_after_production`` ago). A version is deleted only when no rule
whose scope contains it keeps it; a version no rule applies to is kept. Protections
(current alias targets, active holds, what kept versions reference) always win.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mv_orchestration.canonical import canonical_json
from mv_orchestration.errors import ValidationError
from mv_orchestration.retention.durations import Duration

_KEEP_FIELDS = ("keep_last", "keep_within", "keep_alias_history", "min_retention_after_production")


class RetentionRule(BaseModel):
    """One scoped set of keep criteria."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    models: tuple[str, ...] = ("*",)
    tags: dict[str, str] = Field(default_factory=dict)
    keep_last: int | None = Field(default=None, ge=0)
    keep_within: Duration | None = None
    keep_alias_history: int | None = Field(default=None, ge=0)
    min_retention_after_production: Duration | None = None
    production_aliases: tuple[str, ...] = ("production",)

    @field_validator("models", "production_aliases", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("models")
    @classmethod
    def _non_empty_globs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or any(not glob for glob in value):
            raise ValueError("models must be a non-empty glob or list of globs")
        return value

    @model_validator(mode="after")
    def _keeps_something(self) -> RetentionRule:
        if all(getattr(self, name) is None for name in _KEEP_FIELDS):
            raise ValueError(
                "a rule must set at least one of " + ", ".join(_KEEP_FIELDS) + " (write "
                "keep_last: 0 to let the rule delete every unprotected version in its scope)"
            )
        return self

    def applies_to(self, model: str, tags: Mapping[str, str]) -> bool:
        """True when ``model`` matches a glob and every rule tag matches (values are globs)."""
        if not any(fnmatchcase(model, glob) for glob in self.models):
            return False
        for key, pattern in self.tags.items():
            value = tags.get(key)
            if value is None or not fnmatchcase(value, pattern):
                return False
        return True

    def applies_to_model(self, model: str) -> bool:
        """True when ``model`` matches one of the rule's globs (tags not considered)."""
        return any(fnmatchcase(model, glob) for glob in self.models)

    def label(self, index: int) -> str:
        """A short name for explanations: the rule's name or ``rule <index+1>``."""
        return self.name or f"rule {index + 1}"


class RetentionPolicy(BaseModel):
    """A complete retention policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: tuple[RetentionRule, ...] = ()
    grace_period: Duration = timedelta(hours=24)
    gc_grace_period: Duration | None = None
    purge_unreferenced_snapshots_after: Duration | None = None

    @property
    def effective_gc_grace(self) -> timedelta:
        """The GC grace period: ``gc_grace_period`` when set, else ``grace_period``."""
        return self.gc_grace_period if self.gc_grace_period is not None else self.grace_period

    def to_json(self) -> dict[str, Any]:
        """The policy as JSON-safe data (durations as text)."""
        return self.model_dump(mode="json")

    def digest(self) -> str:
        """Digest of the policy's canonical JSON: equal policies give equal digests."""
        from mv_orchestration.hashing.digest import digest_bytes

        return digest_bytes(canonical_json(self.to_json()))


def _pydantic_message(exc: pydantic.ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "policy"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{where}: {message}")
    return "invalid retention policy: " + "; ".join(lines)


def policy_from_dict(data: Mapping[str, Any]) -> RetentionPolicy:
    """Validate ``data`` as a policy; :class:`ValidationError` names every bad key."""
    if not isinstance(data, Mapping):
        raise ValidationError(
            f"invalid retention policy: expected a mapping, got {type(data).__name__}"
        )
    try:
        return RetentionPolicy.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        raise ValidationError(_pydantic_message(exc)) from None


def _parse_text(text: str, fmt: str) -> Any:
    if fmt in ("yaml", "yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValidationError(f"retention policy is not valid YAML: {exc}") from None
    if fmt == "toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError(f"retention policy is not valid TOML: {exc}") from None
    if fmt == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"retention policy is not valid JSON: {exc}") from None
    raise ValidationError(f"unknown policy format {fmt!r}: use yaml, toml or json")


def policy_from_text(text: str, fmt: str = "yaml") -> RetentionPolicy:
    """Parse a policy from YAML (default), TOML or JSON text."""
    data = _parse_text(text, fmt.lower())
    return policy_from_dict({} if data is None else data)


def policy_from_file(path: str | Path) -> RetentionPolicy:
    """Load a policy file; the format follows the suffix (.yaml/.yml, .toml, .json)."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("yaml", "yml", "toml", "json"):
        raise ValidationError(
            f"policy file {path} must end in .yaml, .yml, .toml or .json, not {path.suffix!r}"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"cannot read policy file {path}: {exc.strerror}") from None
    return policy_from_text(text, fmt)


def load_policy(source: RetentionPolicy | Mapping[str, Any] | str | Path) -> RetentionPolicy:
    """A policy from a policy object, a mapping, or a file path."""
    if isinstance(source, RetentionPolicy):
        return source
    if isinstance(source, Mapping):
        return policy_from_dict(source)
    return policy_from_file(source)


DEFAULT_POLICY: Mapping[str, Any] = {
    "rules": [
        {
            "models": "*",
            "keep_last": 5,
            "keep_within": "30d",
            "keep_alias_history": 3,
            "min_retention_after_production": "7y",
        }
    ],
    "grace_period": "24h",
}
"""The policy used when none is given: the last 5 versions, anything younger than 30 days,
the 3 previous targets of every alias, 7 years for anything that served production."""
