"""The immutable version record and the digests derived from it.

A :class:`VersionRecord` is stored as canonical JSON; its id is the digest of those bytes
(``record_id``). ``content_digest`` covers only what defines the model (artifacts,
datasets, params, features, signature, code, environment packages, seed), so the same
model trained twice by different runs has the same content digest but different records.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from mv_orchestration.canonical import canonical_json, normalise
from mv_orchestration.capture.jsonform import json_fields, to_json
from mv_orchestration.errors import UnsupportedValueError
from mv_orchestration.hashing.dataset import DatasetRef
from mv_orchestration.hashing.digest import digest_bytes
from mv_orchestration.hashing.manifest import Manifest

if TYPE_CHECKING:
    from mv_orchestration.capture import RunCapture

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
_SLOT_MARK = "\u0000mvo:"
_ENCODED_MARK = b"\\u0000mvo:"  # _SLOT_MARK as canonical JSON writes it


def _slot(key: str) -> str:
    """The placeholder :func:`encode_spliced` encodes in place of part ``key``."""
    return f"{_SLOT_MARK}{key}\u0000"


_CAPTURE_SLOT = _slot("capture")
_SHARED_PARTS = frozenset({"environment", "hardware"})
_SHARED_BYTES: dict[str, tuple[object, bytes]] = {}


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
    }
    return encode_spliced(document, {"capture": capture_json})


def encode_spliced(document: dict[str, Any], parts: dict[str, bytes]) -> bytes:
    """Canonical JSON bytes of ``document`` (normalised) with ``parts[key]`` (canonical
    bytes) as the value of its top-level ``key``: equal to encoding the parsed parts in.

    Each part is encoded as a placeholder string, then replaced by its bytes; when a
    placeholder is not found exactly once (a value mimics it) or a part holds one, the
    parts are parsed and the whole document encoded instead.
    """
    slots = {key: _slot(key) for key in parts}
    encoded = encode_normalised({**document, **slots})
    members = {key: _slot_member(key) for key in parts}
    if all(encoded.count(member) == 1 for member in members.values()) and not any(
        _ENCODED_MARK in value for value in parts.values()
    ):
        for key, value in parts.items():
            encoded = encoded.replace(members[key], _member(key, value), 1)
        return encoded
    parsed = {key: json.loads(value) for key, value in parts.items()}
    return encode_normalised({**document, **parsed})


def _member(key: str, value: bytes) -> bytes:
    return encode_normalised(key) + b":" + value


@functools.cache
def _slot_member(key: str) -> bytes:
    return _member(key, encode_normalised(_slot(key)))


def capture_bytes(capture: RunCapture) -> bytes:
    """Canonical JSON of a run's capture. The parts a process shares between its runs
    (environment, hardware: the same cached objects) are encoded once per object."""
    document: dict[str, Any] = {}
    parts: dict[str, bytes] = {}
    for name in json_fields(type(capture)):
        value = getattr(capture, name)
        if name in _SHARED_PARTS:
            parts[name] = _shared_part(name, value)
        else:
            document[name] = normalise(to_json(value))
    return encode_spliced(document, parts)


def _shared_part(name: str, part: object) -> bytes:
    cached = _SHARED_BYTES.get(name)
    if cached is not None and cached[0] is part:
        return cached[1]
    encoded = canonical_json(to_json(part))
    _SHARED_BYTES[name] = (part, encoded)
    return encoded


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
