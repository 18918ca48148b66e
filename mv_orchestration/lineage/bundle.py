"""Rebuild bundles: everything needed to train a registered version again, in one folder.

A bundle holds ``requirements.txt`` (the exact lock of the recorded distributions, VCS and
URL installs as direct references), ``params.json``, ``features.json``, ``code.diff`` (the
stored uncommitted diff, when there was one) and ``bundle.json``: the manifest with the
git commit, seeds, Python version, dataset locations and digests, the orchestrator entry
point and the digest of every other file. ``bundle.json`` is written last, so a folder
without it is not a bundle. :mod:`mv_orchestration.lineage.bundle_check` compares a
bundle with the current environment, code and data.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from mv_orchestration.capture.environment import Distribution
from mv_orchestration.errors import DigestMismatchError, RefusedError, ValidationError
from mv_orchestration.hashing.dataset import DatasetRef
from mv_orchestration.hashing.digest import digest_bytes

if TYPE_CHECKING:
    from mv_orchestration.registry import Registry
    from mv_orchestration.registry.record import VersionRecord

log = logging.getLogger(__name__)

BUNDLE_FORMAT = "mvo-rebuild-bundle/1"
MANIFEST_FILE = "bundle.json"
REQUIREMENTS_FILE = "requirements.txt"
PARAMS_FILE = "params.json"
FEATURES_FILE = "features.json"
DIFF_FILE = "code.diff"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PythonInfo(_Frozen):
    """The interpreter the version was trained with."""

    version: str
    implementation: str
    platform: str | None = None


class CodeState(_Frozen):
    """The git state of the training code; ``diff_digest`` is that of the raw diff (what
    ``git diff`` prints), ``diff_file`` the stored (redacted) copy in the bundle."""

    commit: str | None = None
    branch: str | None = None
    remote_url: str | None = None
    dirty: bool | None = None
    diff_digest: str | None = None
    diff_file: str | None = None
    diff_redacted: bool = False
    source: str | None = None
    source_digest: str | None = None


class EntryPoint(_Frozen):
    """Where the training ran: orchestrator, pipeline, task or asset, and the function."""

    orchestrator: str = "local"
    pipeline: str | None = None
    task_id: str | None = None
    asset_key: str | None = None
    deployment: str | None = None
    run_id: str | None = None
    map_index: int | None = None
    partition_key: str | None = None
    code_version: str | None = None
    source: str | None = None
    """``module:qualname`` of the training function, when the run named it."""


class BundleFile(_Frozen):
    """A file of the bundle and its digest."""

    path: str
    digest: str
    size: int


class Bundle(_Frozen):
    """The manifest of a rebuild bundle (``bundle.json``)."""

    format: str = BUNDLE_FORMAT
    model: str
    version: str
    record_id: str
    content_digest: str
    artifact_digest: str
    python: PythonInfo
    distributions: list[Distribution] = Field(default_factory=list)
    code: CodeState
    seeds: dict[str, Any] = Field(default_factory=dict)
    params_digest: str
    features_digest: str
    entry_point: EntryPoint
    datasets: list[DatasetRef] = Field(default_factory=list)
    files: list[BundleFile] = Field(default_factory=list)

    @property
    def seed(self) -> int | None:
        """The seed the run set, if any."""
        seed = self.seeds.get("seed")
        return seed if isinstance(seed, int) else None


def bundle_from_record(record: VersionRecord) -> Bundle:
    """The bundle manifest of ``record``, without files."""
    capture = record.capture
    environment = capture.get("environment") or {}
    code = capture.get("code") or {}
    context = capture.get("context") or {}
    return Bundle(
        model=record.model,
        version=record.version,
        record_id=record.record_id,
        content_digest=record.content_digest,
        artifact_digest=record.artifacts.digest,
        python=PythonInfo(
            version=str(environment.get("python_version", "")),
            implementation=str(environment.get("python_implementation", "")),
            platform=environment.get("platform"),
        ),
        distributions=[Distribution(**d) for d in environment.get("distributions") or []],
        code=CodeState(
            commit=code.get("commit"),
            branch=code.get("branch"),
            remote_url=code.get("remote_url"),
            dirty=code.get("dirty"),
            diff_digest=code.get("diff_digest"),
            diff_redacted=bool(code.get("diff_redacted")),
            source=code.get("source"),
            source_digest=code.get("source_digest"),
        ),
        seeds=dict(capture.get("seeds") or {}),
        params_digest=record.params_digest,
        features_digest=record.features_digest,
        entry_point=EntryPoint.model_validate(
            {
                **{k: context.get(k) for k in EntryPoint.model_fields if k in context},
                "source": code.get("source"),
            }
        ),
        datasets=list(record.datasets),
    )


def requirement_line(dist: Distribution) -> str:
    """``name==version``, or a direct reference for VCS, URL and local installs."""
    if dist.url is None:
        return f"{dist.name}=={dist.version}"
    if dist.vcs and dist.commit:
        url = dist.url if dist.url.startswith(f"{dist.vcs}+") else f"{dist.vcs}+{dist.url}"
        line = f"{dist.name} @ {url}@{dist.commit}"
    else:
        line = f"{dist.name} @ {dist.url}"
    return line + (f"  # editable install, version {dist.version}" if dist.editable else "")


def requirements_lock(bundle: Bundle) -> str:
    """The text of ``requirements.txt``: one exact requirement per recorded distribution."""
    header = [
        f"# rebuild lock of {bundle.model}@{bundle.version} ({bundle.record_id})",
        f"# python {bundle.python.version} ({bundle.python.implementation})"
        + (f" on {bundle.python.platform}" if bundle.python.platform else ""),
    ]
    lines = sorted(requirement_line(d) for d in bundle.distributions)
    return "\n".join([*header, *lines]) + "\n"


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def bundle_files(bundle: Bundle, record: VersionRecord, diff: bytes | None) -> dict[str, bytes]:
    """The contents of every bundle file except ``bundle.json``."""
    files = {
        REQUIREMENTS_FILE: requirements_lock(bundle).encode(),
        PARAMS_FILE: _json_bytes(record.params),
        FEATURES_FILE: _json_bytes(record.features),
    }
    if diff is not None:
        files[DIFF_FILE] = diff
    return files


def write_bundle(registry: Registry, ref: str, out_dir: str | os.PathLike[str]) -> Path:
    """Write the rebuild bundle of version ``ref`` into ``out_dir``; return the folder.

    ``out_dir`` must be absent, empty, or hold a bundle of the same record (it is then
    rewritten). The stored code diff is fetched from the artifact store and verified.
    """
    record = registry.record(ref)
    out = Path(out_dir)
    _check_target(out, record.record_id)
    diff = None
    if record.code_diff_digest:
        diff = registry.store.get_bytes(record.code_diff_digest)
        if digest_bytes(diff) != record.code_diff_digest:
            raise DigestMismatchError(f"stored code diff of {ref} does not match its digest")
    bundle = bundle_from_record(record)
    contents = bundle_files(bundle, record, diff)
    out.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        _write_atomic(out / name, data)
    bundle = bundle.model_copy(
        update={
            "code": bundle.code.model_copy(update={"diff_file": DIFF_FILE if diff else None}),
            "files": [
                BundleFile(path=name, digest=digest_bytes(data), size=len(data))
                for name, data in sorted(contents.items())
            ],
        }
    )
    _write_atomic(out / MANIFEST_FILE, _json_bytes(bundle.model_dump(mode="json")))
    log.info("wrote rebuild bundle of %s@%s to %s", record.model, record.version, out)
    return out


def load_bundle(path: str | os.PathLike[str]) -> Bundle:
    """The manifest of the bundle in folder ``path``."""
    manifest = Path(path) / MANIFEST_FILE
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(f"{path} is not a rebuild bundle (no {MANIFEST_FILE})") from None
    except ValueError as exc:
        raise ValidationError(f"{manifest} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != BUNDLE_FORMAT:
        raise ValidationError(f"{manifest}: unknown bundle format (expected {BUNDLE_FORMAT})")
    try:
        return Bundle.model_validate(data)
    except ValueError as exc:
        raise ValidationError(f"{manifest} is not a valid bundle manifest: {exc}") from None


def is_bundle(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a folder holding a bundle manifest."""
    return (Path(path) / MANIFEST_FILE).is_file()


def _check_target(out: Path, record_id: str) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise RefusedError(f"{out} exists and is not a folder")
    if is_bundle(out):
        if load_bundle(out).record_id != record_id:
            raise RefusedError(f"{out} holds the bundle of another version")
        return
    if any(out.iterdir()):
        raise RefusedError(f"{out} is not empty; choose a new folder")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
