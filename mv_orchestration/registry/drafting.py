"""Turning a run and a model path into a validated :class:`Draft` (no writes yet).

Everything a registration could reject is checked here, before any byte is uploaded or
any row written: bump and version syntax, tags, metadata and signature bounds (via
capture's ``normalise_params``), the parent reference, artifact names (``hash_tree``) and
the canonical JSON form of the whole record (invalid UTF-8, NaN...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mv_orchestration.canonical import normalise
from mv_orchestration.errors import DigestMismatchError, ValidationError
from mv_orchestration.registry.bump import Fingerprint, check_bump
from mv_orchestration.registry.clock import utcnow
from mv_orchestration.registry.entities import ModelVersion
from mv_orchestration.registry.record import (
    RUN_FIELDS,
    BumpInfo,
    VersionRecord,
    content_digest,
    datasets_digest,
    encode_normalised,
    value_digest,
)
from mv_orchestration.registry.register import Draft
from mv_orchestration.registry.resolve import parse_ref, resolve_row
from mv_orchestration.registry.semver import parse

if TYPE_CHECKING:
    from mv_orchestration.hashing.manifest import Manifest
    from mv_orchestration.registry.registry import Registry
    from mv_orchestration.registry.run import Run

MAX_IDEMPOTENCY_KEY = 1024


def draft_for_run(
    registry: Registry,
    run: Run,
    path: Path,
    *,
    bump: str,
    version: str | None,
    tags: dict[str, str],
    metadata: Mapping[str, Any] | None,
    signature: Mapping[str, Any] | None,
    parent: str | ModelVersion | None,
    idempotency_key: str | None,
) -> tuple[Draft, Callable[[], None]]:
    """The draft of this registration and the upload to run before committing it."""
    from mv_orchestration.capture import normalise_params
    from mv_orchestration.hashing.digest import digest_bytes
    from mv_orchestration.hashing.manifest import hash_tree

    check_bump(bump)
    semver = parse(version) if version is not None else None
    meta = normalise_params(dict(metadata or {}))
    sig = normalise_params(dict(signature)) if signature is not None else None
    key = _check_key(idempotency_key)
    parent_id = _parent_record(registry, parent)
    manifest = hash_tree(path, stat_cache=registry.store.stat_cache)
    capture = run.capture
    datasets = list(run.datasets.values())
    fingerprint = Fingerprint(
        signature_digest=value_digest(sig),
        datasets_digest=datasets_digest(datasets),
        params_digest=value_digest(run.params),
        features_digest=value_digest(run.features),
    )
    diff = capture.diff
    code = capture.code.to_json()
    placeholder = VersionRecord(
        model=run.model,
        version="0.0.0",
        created_at=utcnow(),
        bump=BumpInfo(kind="initial", reason=""),
        artifacts=manifest,
        datasets=datasets,
        params=run.params,
        params_digest=fingerprint.params_digest,
        features=run.features,
        features_digest=fingerprint.features_digest,
        signature=sig,
        metrics=run.metrics,
        capture={},
        code_diff_digest=digest_bytes(diff) if diff else None,
        parent_version=parent_id,
        parent_run=run.run_ref,
        tags=tags,
        metadata=meta,
        content_digest=content_digest(
            artifacts=manifest,
            datasets_digest=fingerprint.datasets_digest,
            params_digest=fingerprint.params_digest,
            features_digest=fingerprint.features_digest,
            signature_digest=fingerprint.signature_digest,
            code=code,
            packages_digest=capture.environment.packages_digest,
            # A seed drawn from OS entropy is not part of what defines the model.
            seed=capture.seeds.seed if capture.seeds.seed_source == "given" else None,
        ),
    )
    exclude = {*RUN_FIELDS, "capture"}
    fields_json = normalise(placeholder.model_dump(mode="json", exclude=exclude))
    encode_normalised(fields_json)
    draft = Draft(
        model=run.model,
        version=semver,
        bump=bump,
        idempotency_key=key,
        content_digest=placeholder.content_digest,
        artifact_digest=manifest.digest,
        fingerprint=fingerprint,
        fields_json=fields_json,
        capture_json=run.capture_bytes,
        tags=tags,
        params=run.params,
        edges=_edges(placeholder, code, datasets),
    )

    def upload() -> None:
        _upload(registry, path, manifest)
        if diff:
            stored = registry.store.put_bytes(diff)
            if stored != placeholder.code_diff_digest:
                raise DigestMismatchError(f"code diff stored as {stored}, expected another digest")

    return draft, upload


def _check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise ValidationError(f"idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("idempotency key is not valid UTF-8") from None
    return key


def _parent_record(registry: Registry, parent: str | ModelVersion | None) -> str | None:
    if parent is None:
        return None
    ref = parent.ref if isinstance(parent, ModelVersion) else parent
    parsed = parse_ref(ref)
    return str(registry.read(lambda conn: resolve_row(conn, parsed)).record_id)


def _edges(
    record: VersionRecord, code: Mapping[str, Any], datasets: list[Any]
) -> tuple[tuple[str, str, str], ...]:
    edges = {("trained_on", "dataset", d.digest) for d in datasets}
    if code.get("commit"):
        edges.add(("built_from", "code", code["commit"]))
    edges.add(("configured_by", "config", record.params_digest))
    if record.parent_run:
        edges.add(("produced_by", "run", record.parent_run))
    if record.parent_version:
        edges.add(("derived_from", "version", record.parent_version))
    return tuple(sorted(edges))


def _upload(registry: Registry, path: Path, manifest: Manifest) -> None:
    """Put every artifact file into the store (objects already there are skipped)."""
    store = registry.store
    base = path if path.is_dir() else path.parent
    unique = {entry.digest: entry.path for entry in manifest.entries}

    def put(digest: str, name: str) -> None:
        stored = store.put_file(base.joinpath(*name.split("/")), manifest.algo, digest)
        if stored != digest:
            raise DigestMismatchError(f"{name} was stored as {stored}, expected {digest}")

    if len(unique) == 1:
        put(*next(iter(unique.items())))
        return
    with ThreadPoolExecutor(store.workers, thread_name_prefix="mvo-register") as pool:
        list(pool.map(lambda item: put(*item), unique.items()))
