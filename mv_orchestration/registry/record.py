"""The immutable version record and the digests derived from it.

A :class:`VersionRecord` is stored as canonical JSON; its id is the digest of those bytes
(``record_id``). ``content_digest`` covers only what defines the model (artifacts,
datasets, params, features, signature, code, environment packages, seed), so the same
model trained twice by different runs has the same content digest but different records.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from mv_orchestration.canonical import canonical_json, normalise
from mv_orchestration.errors import UnsupportedValueError
from mv_orchestration.hashing.dataset import DatasetRef
from mv_orchestration.hashing.digest import digest_bytes
from mv_orchestration.hashing.manifest import Manifest

SCHEMA_VERSION = 1
BumpKind = Literal["initial", "explicit", "major", "minor", "patch"]


class BumpInfo(BaseModel):
    """How the version number was chosen, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: BumpKind
    reason: str
    previous: str | None = None


class VersionRecord(BaseModel):
    """Everything known about one model version, never changed after registration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION
    model: str
    version: str
    created_at: datetime
    artifacts: Manifest
    datasets: list[DatasetRef] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    params_digest: str
    features: dict[str, Any] = Field(default_factory=dict)
    features_digest: str
    signature: dict[str, Any] | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    capture: dict[str, Any]
    code_diff_digest: str | None = None
    parent_version: str | None = None
    parent_run: str | None = None
    bump: BumpInfo
    tags: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    content_digest: str

    def canonical_bytes(self) -> bytes:
        """The stored form: canonical JSON of the record."""
        return canonical_json(self.model_dump(mode="json"))

    @property
    def record_id(self) -> str:
        """Digest of :meth:`canonical_bytes` (``algo:hex``)."""
        return digest_bytes(self.canonical_bytes())

    @classmethod
    def from_body(cls, body: str | bytes) -> VersionRecord:
        """Parse a stored record body."""
        return cls.model_validate_json(body)


RUN_FIELDS = ("schema_version", "model", "version", "created_at", "bump")
_DATETIME = TypeAdapter(datetime)
_CAPTURE_SLOT = "\u0000mvo:capture\u0000"


def record_body(
    fields_json: dict[str, Any],
    capture_json: bytes,
    *,
    model: str,
    version: str,
    created_at: datetime,
    bump: BumpInfo,
) -> bytes:
    """Canonical bytes of a record from its other fields in normalised JSON form and the
    canonical bytes of its capture.

    Equal to ``VersionRecord(...).canonical_bytes()`` for the same values; the capture
    (large, and the same for every version of a run) is spliced in as bytes instead of
    being encoded again for every version.
    """
    document = {
        **fields_json,
        "schema_version": SCHEMA_VERSION,
        "model": model,
        "version": version,
        "created_at": _DATETIME.dump_python(created_at, mode="json"),
        "bump": normalise(bump.model_dump(mode="json")),
        "capture": _CAPTURE_SLOT,
    }
    encoded = encode_normalised(document)
    slot = b'"capture":' + encode_normalised(_CAPTURE_SLOT)
    if encoded.count(slot) == 1:
        return encoded.replace(slot, b'"capture":' + capture_json)
    document["capture"] = json.loads(capture_json)
    return encode_normalised(document)


def encode_normalised(value: Any) -> bytes:
    """Canonical JSON bytes of a value that is already :func:`normalise`-d."""
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UnsupportedValueError(f"text is not valid UTF-8: {exc.reason}") from None


def value_digest(value: Any) -> str:
    """Digest of a JSON value's canonical form."""
    return digest_bytes(canonical_json(value))


def datasets_digest(datasets: list[DatasetRef]) -> str:
    """Digest of the (name, digest) pairs of the datasets, order-independent."""
    return value_digest(sorted([d.name, d.digest] for d in datasets))


def content_digest(
    *,
    artifacts: Manifest,
    datasets_digest: str,
    params_digest: str,
    features_digest: str,
    signature_digest: str,
    code: dict[str, Any],
    packages_digest: str | None,
    seed: int | None,
) -> str:
    """Digest of what defines the model (never run identity, time, version or bump)."""
    return value_digest(
        {
            "artifacts": artifacts.digest,
            "datasets": datasets_digest,
            "params": params_digest,
            "features": features_digest,
            "signature": signature_digest,
            "code": {k: code.get(k) for k in ("commit", "diff_digest", "source_digest")},
            "packages": packages_digest,
            "seed": seed,
        }
    )
