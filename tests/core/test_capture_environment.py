"""capture_environment against the real interpreter and installed distributions."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from mv_orchestration._version import __version__
from mv_orchestration.capture import environment
from mv_orchestration.capture.environment import (
    capture_environment,
    normalise_name,
    packages_digest,
    scan_distributions,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    environment.clear_cache()
    yield
    environment.clear_cache()


def _dist_info(site: Path, name: str, version: str, direct_url: dict | None = None) -> None:
    folder = site / f"{name.replace('-', '_')}-{version}.dist-info"
    folder.mkdir(parents=True)
    (folder / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: x\n\nbody\n"
    )
    if direct_url is not None:
        (folder / "direct_url.json").write_text(json.dumps(direct_url))


def test_distributions_match_importlib_metadata() -> None:
    expected: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        expected.setdefault(normalise_name(dist.metadata["Name"]), dist.version)
    info = capture_environment()
    assert {d.name: d.version for d in info.distributions} == expected
    assert [d.name for d in info.distributions] == sorted(expected)
    assert info.packages_digest == packages_digest(info.distributions)


def test_the_editable_project_is_recorded_with_its_url() -> None:
    info = capture_environment()
    project = next(d for d in info.distributions if d.name == "mv-orchestration")
    assert project.version == __version__
    assert project.editable is True
    assert project.url is not None and project.url.startswith("file://")
    direct = importlib.metadata.distribution("mv-orchestration").read_text("direct_url.json")
    assert project.url == json.loads(direct or "{}")["url"]


def test_vcs_egg_info_and_shadowed_installs(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    token = "ghp_" + "Z" * 36
    _dist_info(
        first,
        "Private.Lib",
        "0.3.1",
        {
            "url": f"https://builder:{token}@github.com/acme/private-lib.git",
            "vcs_info": {"vcs": "git", "commit_id": "c0ffee" * 6 + "abcd"},
        },
    )
    _dist_info(second, "private-lib", "9.9.9")
    egg = first / "legacy_pkg.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.0\nName: legacy_pkg\nVersion: 1.2\n")
    dists = {d.name: d for d in scan_distributions([str(first), str(second), "/nonexistent"])}
    assert set(dists) == {"private-lib", "legacy-pkg"}
    lib = dists["private-lib"]
    assert lib.version == "0.3.1"
    assert (lib.vcs, lib.commit, lib.editable) == ("git", "c0ffee" * 6 + "abcd", False)
    assert lib.url == "https://github.com/acme/private-lib.git"
    assert dists["legacy-pkg"].version == "1.2"


def test_packages_digest_tracks_versions_and_commits() -> None:
    a = environment.Distribution(name="a", version="1")
    b = environment.Distribution(name="b", version="2")
    assert packages_digest([a, b]) == packages_digest([b, a])
    assert packages_digest([a, b]) != packages_digest([a, replace(b, version="3")])
    vcs = replace(b, vcs="git", commit="1" * 40)
    assert packages_digest([a, b]) != packages_digest([a, vcs])
    local = replace(b, url="file:///somewhere/else", editable=True)
    assert packages_digest([a, b]) == packages_digest([a, local])


def test_cache_is_refreshed_when_sys_path_or_its_folders_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = capture_environment()
    assert capture_environment() is first
    _dist_info(tmp_path, "brand-new", "1.0")
    monkeypatch.setattr(sys, "path", [*sys.path, str(tmp_path)])
    second = capture_environment()
    assert "brand-new" in {d.name for d in second.distributions}
    assert second.packages_digest != first.packages_digest
    assert capture_environment() is second
    _dist_info(tmp_path, "another", "2.0")
    os.utime(tmp_path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert "another" in {d.name for d in capture_environment().distributions}


def test_warm_capture_is_under_a_millisecond() -> None:
    capture_environment()
    timings = []
    for _ in range(200):
        start = time.perf_counter()
        capture_environment()
        timings.append(time.perf_counter() - start)
    assert statistics.median(timings) < 0.001


def test_interpreter_and_os_fields() -> None:
    info = capture_environment()
    assert info.python_version == platform.python_version()
    assert info.python_implementation == platform.python_implementation()
    assert info.python_executable == sys.executable
    assert info.os == platform.system()
    assert info.os_release == platform.release()
    assert info.machine == platform.machine()
    assert info.platform.startswith(f"{platform.system()}-{platform.release()}")
    assert info.encoding
    json.dumps(info.to_json())


def test_conda_container_timezone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONDA_PREFIX", str(tmp_path / "envs" / "train"))
    monkeypatch.setenv("CONDA_DEFAULT_ENV", "train")
    monkeypatch.setenv("CONTAINER_IMAGE", f"registry.example.com/ml/train@{DIGEST}")
    monkeypatch.setenv("TZ", "Europe/Berlin")
    info = capture_environment()
    assert info.conda is not None
    assert (info.conda.name, info.conda.prefix) == ("train", str(tmp_path / "envs" / "train"))
    assert info.container is not None
    assert info.container.image == f"registry.example.com/ml/train@{DIGEST}"
    assert info.container.image_digest == DIGEST
    assert info.timezone == "Europe/Berlin"


def test_container_runtime_from_the_real_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CONTAINER_IMAGE", "MVO_CONTAINER_IMAGE", "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONTAINER_IMAGE_DIGEST", "not-a-digest")
    container = capture_environment().container
    if os.path.exists("/run/.containerenv"):
        assert container is not None and container.runtime == "podman"
    elif os.path.exists("/.dockerenv"):
        assert container is not None and container.runtime == "docker"
        assert container.image_digest is None
    else:
        assert container is None


def test_no_conda_outside_conda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    if not os.path.isdir(os.path.join(sys.prefix, "conda-meta")):
        assert capture_environment().conda is None
