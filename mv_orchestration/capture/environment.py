"""The software environment of a run: Python, OS, installed distributions and more.

Distributions are read straight from the ``*.dist-info`` / ``*.egg-info`` folders on
``sys.path`` (the first one of each name wins, as for imports), which is several times
faster than ``importlib.metadata``. The result is cached per process and re-read when
``sys.path`` or one of its folders changes (a package installed or removed).
"""

from __future__ import annotations

import json
import locale
import os
import platform
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from mv_orchestration.capture.jsonform import JsonForm
from mv_orchestration.capture.redact import redact_text, strip_url_credentials
from mv_orchestration.hashing.digest import digest_bytes

_NORMALISE = re.compile(r"[-_.]+")
_IMAGE_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_METADATA_FILES = {".dist-info": "METADATA", ".egg-info": "PKG-INFO"}


@dataclass(frozen=True)
class Distribution(JsonForm):
    """One installed distribution; ``url``/``vcs``/``commit`` come from direct_url.json."""

    name: str
    version: str
    editable: bool = False
    url: str | None = None
    vcs: str | None = None
    commit: str | None = None


@dataclass(frozen=True)
class CondaEnvironment(JsonForm):
    """The active conda environment."""

    name: str | None
    prefix: str


@dataclass(frozen=True)
class ContainerInfo(JsonForm):
    """What the container runtime exposes about the image the run is in."""

    runtime: str
    image: str | None = None
    image_digest: str | None = None


@dataclass(frozen=True)
class EnvironmentInfo(JsonForm):
    """Interpreter, OS, packages, conda, container, timezone and locale of a run."""

    python_version: str
    python_implementation: str
    python_executable: str
    os: str
    os_release: str
    machine: str
    platform: str
    libc: str | None
    distributions: list[Distribution]
    packages_digest: str
    conda: CondaEnvironment | None
    container: ContainerInfo | None
    timezone: str | None
    utc_offset_minutes: int
    locale: str | None
    encoding: str


def normalise_name(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return _NORMALISE.sub("-", name).lower()


def _read_name_version(meta_dir: str, suffix: str) -> tuple[str, str] | None:
    """Name and version from the header of METADATA / PKG-INFO, reading as little as needed."""
    path = os.path.join(meta_dir, _METADATA_FILES[suffix])
    if not os.path.isfile(path):
        path = meta_dir if os.path.isfile(meta_dir) else ""
    if not path:
        return None
    name = version = None
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if not line.strip():
                    break
                if line.startswith("Name:"):
                    name = line[5:].strip()
                elif line.startswith("Version:"):
                    version = line[8:].strip()
                if name and version:
                    return name, version
    except OSError:
        return None
    return None


def _distribution(meta_dir: str, name: str, version: str) -> Distribution:
    """A distribution, with what its direct_url.json says of an editable, VCS or URL install."""
    try:
        with open(os.path.join(meta_dir, "direct_url.json"), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        return Distribution(name=name, version=version)
    dir_info = data.get("dir_info")
    vcs_info = data.get("vcs_info")
    vcs_info = vcs_info if isinstance(vcs_info, dict) else {}
    vcs, commit = vcs_info.get("vcs"), vcs_info.get("commit_id")
    return Distribution(
        name=name,
        version=version,
        editable=isinstance(dir_info, dict) and dir_info.get("editable") is True,
        url=strip_url_credentials(data["url"]),
        vcs=vcs if isinstance(vcs, str) else None,
        commit=commit if isinstance(commit, str) else None,
    )


def scan_distributions(path: list[str]) -> list[Distribution]:
    """Every distribution found on ``path`` (first of each name wins), sorted by name."""
    found: dict[str, Distribution] = {}
    for entry in path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for item in names:
            suffix = os.path.splitext(item)[1]
            if suffix not in _METADATA_FILES:
                continue
            meta_dir = os.path.join(entry or ".", item)
            header = _read_name_version(meta_dir, suffix)
            if header is None:
                continue
            key = normalise_name(header[0])
            if key in found:
                continue
            if suffix == ".dist-info":
                found[key] = _distribution(meta_dir, key, header[1])
            else:
                found[key] = Distribution(name=key, version=header[1])
    return [found[key] for key in sorted(found)]


def packages_digest(distributions: list[Distribution]) -> str:
    """Digest of the sorted ``name==version`` lines (plus the commit of VCS installs)."""
    lines = sorted(
        f"{d.name}=={d.version}" + (f" {d.vcs or 'vcs'}+{d.commit}" if d.commit else "")
        for d in distributions
    )
    return digest_bytes("\n".join(lines).encode())


def _conda() -> CondaEnvironment | None:
    prefix = os.environ.get("CONDA_PREFIX")
    if not prefix and os.path.isdir(os.path.join(sys.prefix, "conda-meta")):
        prefix = sys.prefix
    if not prefix:
        return None
    name = os.environ.get("CONDA_DEFAULT_ENV") or os.path.basename(prefix.rstrip("/")) or None
    return CondaEnvironment(name=redact_text(name) if name else None, prefix=redact_text(prefix))


def _container() -> ContainerInfo | None:
    runtime = image = digest = None
    try:
        podman = Path("/run/.containerenv").read_text(encoding="utf-8", errors="replace")
    except OSError:
        podman = None
    if podman is not None:
        runtime = "podman"
        for line in podman.splitlines():
            key, _, value = line.partition("=")
            value = value.strip().strip('"')
            if key == "image" and value:
                image = value
            elif key == "imageid" and value:
                digest = value if value.startswith("sha256:") else f"sha256:{value}"
    elif os.path.exists("/.dockerenv"):
        runtime = "docker"
    elif os.environ.get("KUBERNETES_SERVICE_HOST"):
        runtime = "kubernetes"
    image = os.environ.get("MVO_CONTAINER_IMAGE") or os.environ.get("CONTAINER_IMAGE") or image
    digest = (
        os.environ.get("MVO_CONTAINER_IMAGE_DIGEST")
        or os.environ.get("CONTAINER_IMAGE_DIGEST")
        or digest
    )
    if digest is None and image and "@" in image:
        digest = image.rpartition("@")[2]
    if digest is not None and not _IMAGE_DIGEST.fullmatch(digest):
        digest = None
    if runtime is None and image is None:
        return None
    return ContainerInfo(
        runtime=runtime or "unknown",
        image=redact_text(image) if image else None,
        image_digest=digest,
    )


def _timezone() -> str | None:
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz:
        return tz
    try:
        name = Path("/etc/timezone").read_text(encoding="utf-8").strip()
    except OSError:
        name = ""
    if name:
        return name
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        return target.split("zoneinfo/", 1)[1]
    return time.tzname[0] or None


def _locale() -> str | None:
    language, encoding = locale.getlocale()
    if language is None:
        return None
    return f"{language}.{encoding}" if encoding else language


def _libc() -> str | None:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):
        return None


def _build() -> EnvironmentInfo:
    distributions = scan_distributions(list(sys.path))
    uname = platform.uname()
    libc = _libc()
    return EnvironmentInfo(
        python_version=platform.python_version(),
        python_implementation=platform.python_implementation(),
        python_executable=redact_text(sys.executable),
        os=uname.system,
        os_release=uname.release,
        machine=uname.machine,
        platform="-".join(part for part in (uname.system, uname.release, uname.machine) if part)
        + (f"-with-{libc.replace(' ', '')}" if libc else ""),
        libc=libc,
        distributions=distributions,
        packages_digest=packages_digest(distributions),
        conda=_conda(),
        container=_container(),
        timezone=_timezone(),
        utc_offset_minutes=time.localtime().tm_gmtoff // 60,
        locale=_locale(),
        encoding=locale.getpreferredencoding(False),
    )


def sys_path_stamp() -> tuple[object, ...]:
    """Changes when ``sys.path`` or the content of one of its folders changes (a package
    installed or removed)."""
    key: list[object] = []
    for entry in sys.path:
        try:
            key.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            key.append((entry, None))
    return tuple(key)


_LOCK = threading.Lock()
_CACHE: dict[str, tuple[tuple[object, ...], EnvironmentInfo]] = {}


def capture_environment() -> EnvironmentInfo:
    """The environment of this process, cached until ``sys.path`` or its folders change."""
    key = sys_path_stamp()
    cached = _CACHE.get("env")
    if cached is not None and cached[0] == key:
        return cached[1]
    with _LOCK:
        info = _build()
        _CACHE["env"] = (key, info)
    return info


def clear_cache() -> None:
    """Forget the cached environment (for tests and for settings changed in-process)."""
    with _LOCK:
        _CACHE.clear()
