"""Artifact names: the traversal corpus is rejected 100%, nothing is written outside."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mv_orchestration.errors import InvalidArtifactNameError, ValidationError
from mv_orchestration.hashing.manifest import Manifest, ManifestEntry
from mv_orchestration.store import ArtifactStore, validate_artifact_name

HOSTILE = [
    "",
    ".",
    "..",
    "../x",
    "a/../../x",
    "a/..",
    "a/./b",
    "./a",
    "a//b",
    "a/",
    "/etc/passwd",
    "//server/share",
    "C:/Windows/win.ini",
    "c:x",
    "a/C:/b",
    "C:",
    "..\\x",
    "a\\b",
    "\\\\server\\share",
    "a\x00b",
    "a\nb",
    "a\rb",
    "a\tb",
    "a\x7fb",
    "a\x85b",
    "a\u202eb",
    "a\ud800b",
    "%2e%2e/x",
    "%2E%2E/x",
    "a/%2e%2e/b",
    "..%2fx",
    "..%2Fx",
    "a%2f..%2f..%2fx",
    "%2fetc/passwd",
    "..%5cx",
    "a%5cb",
    "%252e%252e/x",
    "%25252e%25252e/x",
    "%2e%2e%252fx",
    "..%252fx",
    "%00",
    "a%00b",
    "%0a",
    "%c0%ae%c0%ae/x",
    "%e0%80%ae/x",
    "%%32%65%%32%65/x",
    "\uff0e\uff0e/x",
    "a\uff0fb",
    "\u2025/x",
    "...",
    "a/.../b",
    ". .",
    "a/.. /b",
    "a/. /b",
    " ",
    "x" * 256,
    "a/" * 2100,
]
SAFE = [
    "model.pkl",
    "weights/part-00001.safetensors",
    "conf/a.b.c.json",
    ".hidden",
    "a/.config/b",
    "...x",
    "x..y",
    "file%20name.txt",
    "100%",
    "r\u00e9sum\u00e9.txt",
    "\u6570\u636e/\u8868.parquet",
    "x" * 255,
    "2024-01-01T10:00:00.json",
]


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_hostile_name_is_rejected(name: str) -> None:
    with pytest.raises(InvalidArtifactNameError):
        validate_artifact_name(name)


@pytest.mark.parametrize("name", SAFE, ids=repr)
def test_safe_name_is_accepted(name: str) -> None:
    assert validate_artifact_name(name) == name


def test_non_string_is_rejected() -> None:
    with pytest.raises(InvalidArtifactNameError):
        validate_artifact_name(b"a")  # type: ignore[arg-type]


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else b""
        for p in sorted(root.rglob("*"))
    }


def test_hostile_manifests_write_nothing_anywhere(tmp_path: Path) -> None:
    store = ArtifactStore.from_url(str(tmp_path / "store"))
    digest = store.put_bytes(b"payload")
    (tmp_path / "outside").mkdir()
    dest = tmp_path / "dest"
    before = snapshot(tmp_path)
    rejected = 0
    for name in HOSTILE:
        entries = [
            ManifestEntry(path="a-good-file", size=7, digest=digest),
            ManifestEntry.model_construct(path=name, size=7, digest=digest),
        ]
        manifest = Manifest.model_construct(algo="blake3", entries=entries)
        with pytest.raises(InvalidArtifactNameError):
            store.materialize(manifest, dest)
        rejected += 1
    assert rejected == len(HOSTILE)
    assert snapshot(tmp_path) == before
    assert not dest.exists()


def test_symlink_inside_destination_cannot_redirect_writes(tmp_path: Path) -> None:
    store = ArtifactStore.from_url(str(tmp_path / "store"))
    digest = store.put_bytes(b"payload")
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "link").symlink_to(outside, target_is_directory=True)
    manifest = Manifest(algo="blake3", entries=[{"path": "link/x", "size": 7, "digest": digest}])
    with pytest.raises(InvalidArtifactNameError, match="symbolic link"):
        store.materialize(manifest, dest)
    assert list(outside.iterdir()) == []


def test_file_used_as_directory_is_refused_before_writing(tmp_path: Path) -> None:
    store = ArtifactStore.from_url(str(tmp_path / "store"))
    digest = store.put_bytes(b"payload")
    manifest = Manifest(
        algo="blake3",
        entries=[
            {"path": "a", "size": 7, "digest": digest},
            {"path": "a/b", "size": 7, "digest": digest},
        ],
    )
    with pytest.raises(ValidationError, match="file and dir"):
        store.materialize(manifest, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_put_tree_with_a_hostile_file_name_uploads_nothing(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "fine.txt").write_bytes(b"ok")
    (src / "evil\\..\\name").write_bytes(b"bad")
    store = ArtifactStore.from_url(str(tmp_path / "store"))
    with pytest.raises(InvalidArtifactNameError):
        store.put_tree(src)
    assert list(store.iter_objects()) == []
    assert not os.path.exists(tmp_path / "store" / "objects")
