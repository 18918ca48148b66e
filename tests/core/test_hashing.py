"""Digests of bytes, streams, files and directory manifests."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import blake3
import pytest

from mv_orchestration.canonical import canonical_json
from mv_orchestration.errors import InvalidArtifactNameError, ValidationError
from mv_orchestration.hashing.digest import (
    digest_bytes,
    format_digest,
    new_hasher,
    parse_digest,
)
from mv_orchestration.hashing.files import BLOCK_SIZE, copy_stream, digest_file, digest_stream
from mv_orchestration.hashing.manifest import Manifest, ManifestEntry, hash_tree

EMPTY_BLAKE3 = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def reference(data: bytes, algo: str) -> str:
    if algo == "sha256":
        return "sha256:" + hashlib.sha256(data).hexdigest()
    return "blake3:" + blake3.blake3(data).hexdigest()


def test_known_digests_of_empty_input() -> None:
    assert digest_bytes(b"") == f"blake3:{EMPTY_BLAKE3}"
    assert digest_bytes(b"", "sha256") == f"sha256:{EMPTY_SHA256}"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "blake3",
        "md5:" + "0" * 32,
        "blake3:" + "0" * 63,
        "blake3:" + "G" * 64,
        "blake3:" + "A" * 64,
        "blake3:abc:def",
        "sha256:" + "0" * 65,
    ],
)
def test_parse_digest_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValidationError):
        parse_digest(bad)


def test_parse_and_format_round_trip() -> None:
    digest = digest_bytes(b"abc", "sha256")
    assert format_digest(*parse_digest(digest)) == digest
    with pytest.raises(ValidationError):
        new_hasher("md5")


@pytest.mark.parametrize("algo", ["blake3", "sha256"])
@pytest.mark.parametrize(
    "size", [0, 1, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 3 * BLOCK_SIZE + 12345]
)
def test_file_and_stream_digests_match_reference(tmp_path: Path, algo: str, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    expected = reference(data, algo)
    assert digest_file(path, algo) == expected
    assert digest_stream(io.BytesIO(data), algo) == expected
    assert digest_bytes(data, algo) == expected
    sink = io.BytesIO()
    hexdigest, copied = copy_stream(io.BytesIO(data), sink, algo)
    assert (f"{algo}:{hexdigest}", copied, sink.getvalue()) == (expected, size, data)


def test_large_file_hashing_keeps_memory_bounded(tmp_path: Path) -> None:
    big = tmp_path / "sparse.bin"
    with open(big, "wb") as handle:
        handle.truncate(768 << 20)
    script = textwrap.dedent(
        f"""
        import resource
        from mv_orchestration.hashing.files import digest_file
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        digest = digest_file({str(big)!r})
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(digest, (after - before) // 1024)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    expected = blake3.blake3()
    expected.update(bytes(64 << 20) * 12)
    assert out[0] == "blake3:" + expected.hexdigest()
    assert int(out[1]) < 64, f"peak RSS grew by {out[1]} MiB while hashing 768 MiB"


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "a.txt": b"alpha",
        "sub/b.bin": os.urandom(5000),
        "sub/deeper/c.txt": b"",
        "z/\u00e9t\u00e9.csv": b"x,y\n1,2\n",
        "big.bin": os.urandom(BLOCK_SIZE + 7),
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "empty_dir").mkdir()
    return files


@pytest.mark.parametrize("algo", ["blake3", "sha256"])
def test_hash_tree_lists_every_file_sorted_with_merkle_digest(tmp_path: Path, algo: str) -> None:
    files = make_tree(tmp_path)
    manifest = hash_tree(tmp_path, algo)
    assert [entry.path for entry in manifest.entries] == sorted(files)
    for entry in manifest.entries:
        assert entry.size == len(files[entry.path])
        assert entry.digest == reference(files[entry.path], algo)
    body = {"algo": algo, "entries": [e.model_dump() for e in manifest.entries]}
    assert manifest.digest == reference(canonical_json(body), algo)
    assert manifest.model_dump(mode="json") == body, "stored manifest JSON hashes to .digest"
    assert manifest.total_size == sum(len(data) for data in files.values())
    assert hash_tree(tmp_path, algo, workers=1) == manifest


def test_hash_tree_digest_changes_with_content_name_and_nothing_else(tmp_path: Path) -> None:
    make_tree(tmp_path)
    first = hash_tree(tmp_path).digest
    os.utime(tmp_path / "a.txt", (1, 1))
    assert hash_tree(tmp_path).digest == first
    (tmp_path / "a.txt").write_bytes(b"alphA")
    changed = hash_tree(tmp_path).digest
    assert changed != first
    (tmp_path / "a.txt").rename(tmp_path / "a2.txt")
    assert hash_tree(tmp_path).digest not in (first, changed)


def test_hash_tree_of_a_file_is_one_entry_named_by_basename(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(b"weights")
    manifest = hash_tree(path)
    assert [(e.path, e.size) for e in manifest.entries] == [("model.pkl", 7)]


def test_hash_tree_refuses_symlinks_special_files_and_bad_names(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"x")
    (tmp_path / "d" / "link").symlink_to(tmp_path / "d" / "f")
    with pytest.raises(ValidationError, match="symbolic link"):
        hash_tree(tmp_path / "d")
    with pytest.raises(ValidationError, match="symbolic link"):
        hash_tree(tmp_path / "d" / "link")
    (tmp_path / "d" / "link").unlink()
    os.mkfifo(tmp_path / "d" / "pipe")
    with pytest.raises(ValidationError, match="special file"):
        hash_tree(tmp_path / "d")
    (tmp_path / "d" / "pipe").unlink()
    (tmp_path / "d" / "back\\slash").write_bytes(b"x")
    with pytest.raises(InvalidArtifactNameError):
        hash_tree(tmp_path / "d")
    with pytest.raises(ValidationError, match="no such file"):
        hash_tree(tmp_path / "missing")


def test_manifest_validation() -> None:
    entry = {"path": "a", "size": 1, "digest": digest_bytes(b"a")}
    manifest = Manifest(algo="blake3", entries=[{**entry, "path": "b"}, entry])
    assert [e.path for e in manifest.entries] == ["a", "b"]
    assert Manifest.model_validate(manifest.model_dump()).digest == manifest.digest
    with pytest.raises(ValidationError, match="twice"):
        Manifest(algo="blake3", entries=[entry, entry])
    with pytest.raises(ValidationError, match="not a sha256 digest"):
        Manifest(algo="sha256", entries=[entry])
    with pytest.raises(InvalidArtifactNameError):
        ManifestEntry(path="../escape", size=1, digest=entry["digest"])
    with pytest.raises(ValidationError):
        ManifestEntry(path="a", size=1, digest="blake3:nothex")
    assert Manifest(algo="blake3", entries=[]).total_size == 0
