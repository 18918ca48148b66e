"""Artifact store on local disk and on a real S3-compatible server (moto) on loopback."""

from __future__ import annotations

import io
import os
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mv_orchestration.errors import (
    ConfigurationError,
    DigestMismatchError,
    IntegrityError,
    MissingObjectError,
    ValidationError,
)
from mv_orchestration.hashing.digest import digest_bytes
from mv_orchestration.hashing.manifest import hash_tree
from mv_orchestration.store import ArtifactStore
from mv_orchestration.store._remote import FsBackend
from mv_orchestration.store.store import DeleteError


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3), "fsspec-memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return ArtifactStore.from_url(str(tmp_path / "store"), cache_dir=tmp_path / "cache")
    if request.param == "s3":
        url = request.getfixturevalue("s3_store_url")
    else:
        pytest.importorskip("fsspec", reason="fsspec is an optional dependency")
        url = f"memory://mvo-{uuid.uuid4().hex}/store"
    return ArtifactStore.from_url(url, cache_dir=tmp_path / "cache")


def raw_keys(store: ArtifactStore) -> list[str]:
    """Every key under the store root, staging included."""
    backend = store._backend
    if isinstance(backend, FsBackend):
        return sorted(key for key, _, _ in backend.list(""))
    return sorted(
        p.relative_to(backend.root).as_posix() for p in backend.root.rglob("*") if p.is_file()
    )


def tamper(store: ArtifactStore, digest: str) -> None:
    """Flip one byte of the stored object in place."""
    key = store.object_path(digest)
    backend = store._backend
    if isinstance(backend, FsBackend):
        path = f"{backend.root}/{key}"
        with backend.fs.open_input_stream(path) as stream:
            data = bytearray(stream.read())
        data[len(data) // 2] ^= 0x01
        with backend.fs.open_output_stream(path) as out:
            out.write(bytes(data))
    else:
        path = backend.root / key
        os.chmod(path, 0o644)
        with open(path, "r+b") as handle:
            handle.seek(os.path.getsize(path) // 2)
            byte = handle.read(1)
            handle.seek(-1, os.SEEK_CUR)
            handle.write(bytes([byte[0] ^ 0x01]))


def test_put_get_layout_and_dedup(store: ArtifactStore) -> None:
    data = os.urandom(10_000)
    digest = store.put_bytes(data)
    assert digest == digest_bytes(data)
    algo, hexdigest = digest.split(":")
    assert store.object_path(digest) == f"objects/{algo}/{hexdigest[:2]}/{hexdigest[2:]}"
    assert store.exists(digest) and store.get_bytes(digest) == data
    tamper(store, digest)
    assert store.put_bytes(data) == digest, "same size: deduplicated, not uploaded again"
    with pytest.raises(DigestMismatchError):
        store.verify(digest)
    sha = store.put_bytes(data, "sha256")
    assert sha.startswith("sha256:") and store.get_bytes(sha) == data
    assert {o.digest for o in store.iter_objects()} == {digest, sha}
    assert raw_keys(store) == sorted(store.object_path(d) for d in (digest, sha))


def test_put_file_and_download(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(os.urandom(5 << 20))
    digest = store.put_file(source)
    target = store.download(digest, tmp_path / "out" / "model.bin")
    assert target.read_bytes() == source.read_bytes()
    assert store.put_file(source, digest=digest) == digest
    store.verify(digest)
    with pytest.raises(ValidationError):
        store.put_file(source, "sha256", digest=digest)


def test_wrong_digest_publishes_nothing(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "a.bin"
    source.write_bytes(b"actual content")
    claimed = digest_bytes(b"something else")
    with pytest.raises(DigestMismatchError):
        store.put_file(source, digest=claimed)
    assert not store.exists(claimed)
    assert raw_keys(store) == []


class FailingReader(io.RawIOBase):
    """A source that yields some bytes, then raises, like a dying producer."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            raise OSError("producer died")
        n = min(self.left, 65536 if size < 0 else size)
        self.left -= n
        return b"x" * n


def test_exception_inside_the_writer_leaves_nothing(store: ArtifactStore) -> None:
    for good in (0, 100, 3 << 20):
        with pytest.raises(OSError, match="producer died"):
            store.put_stream(FailingReader(good))
        assert list(store.iter_objects()) == []
        assert raw_keys(store) == []
    digest = store.put_stream(io.BytesIO(b"complete"))
    assert store.get_bytes(digest) == b"complete"
    assert store.put_stream(io.BytesIO(b"complete")) == digest
    assert raw_keys(store) == [store.object_path(digest)]


def test_put_chunks_stores_the_concatenation_or_nothing(store: ArtifactStore) -> None:
    chunks = [os.urandom(n) for n in (0, 1, 5 << 20, 3, 9 << 20, 7)]  # larger than a block
    whole = b"".join(chunks)
    digest = store.put_chunks(iter(chunks))
    assert digest == digest_bytes(whole)
    assert store.get_bytes(digest) == whole
    assert store.put_chunks([whole[:10], whole[10:]]) == digest  # already there: deduplicated

    def failing() -> Iterator[bytes]:
        for index in range(20):  # more chunks than the pipe holds
            yield b"%d" % index * 100_000
        raise RuntimeError("encoder broke")

    before = raw_keys(store)
    with pytest.raises(RuntimeError, match="encoder broke"):
        store.put_chunks(failing())
    assert raw_keys(store) == before


def test_put_chunks_raises_the_writers_error_without_waiting_for_every_chunk(
    tmp_path: Path,
) -> None:
    store = ArtifactStore.from_url(str(tmp_path / "store"))
    store.put_bytes(b"first")  # creates the store's folder
    (tmp_path / "store" / "tmp").write_bytes(b"")  # a file where staging needs a folder
    produced = []

    def endless() -> Iterator[bytes]:
        for index in range(10_000):
            produced.append(index)
            yield b"x" * 1000

    with pytest.raises(OSError):
        store.put_chunks(endless())
    assert len(produced) < 10_000


def test_tampered_object_fails_every_read_and_nothing_reaches_the_caller(
    store: ArtifactStore, tmp_path: Path
) -> None:
    data = os.urandom(200_000)
    digest = store.put_bytes(data)
    tamper(store, digest)
    with pytest.raises(DigestMismatchError):
        store.get_bytes(digest)
    with pytest.raises(DigestMismatchError):
        store.verify(digest)
    out = tmp_path / "out"
    with pytest.raises(DigestMismatchError):
        store.download(digest, out / "file.bin")
    assert list(out.iterdir()) == []


def test_missing_objects(store: ArtifactStore, tmp_path: Path) -> None:
    digest = digest_bytes(b"never stored")
    assert not store.exists(digest)
    for call in (store.get_bytes, store.verify, lambda d: store.download(d, tmp_path / "x")):
        with pytest.raises(MissingObjectError):
            call(digest)
    assert store.delete(digest) is False
    stored = store.put_bytes(b"stored")
    assert store.delete(stored) is True and not store.exists(stored)


def test_delete_many_and_missing(store: ArtifactStore) -> None:
    stored = [store.put_bytes(f"object {i}".encode()) for i in range(10)]
    absent = digest_bytes(b"never stored")
    digests = [*stored[:5], absent, *stored[5:]]
    assert store.missing(digests) == [absent]  # checked several at a time
    assert store.missing([absent, stored[0]]) == [absent]  # one at a time
    assert store.delete_many(digests) == [True] * 5 + [False] + [True] * 5
    assert store.missing(stored[:2]) == stored[:2]
    assert not any(map(store.exists, stored))
    assert store.delete_many(stored[:1]) == [False]
    assert store.delete_many([]) == []


def test_get_manifest_reads_a_stored_manifest_and_refuses_other_objects(
    store: ArtifactStore, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rows.csv").write_text("a\n1\n")
    manifest = store.put_tree(tmp_path / "data")
    digest = store.put_bytes(manifest.model_dump_json().encode())
    assert store.get_manifest(digest) == manifest
    with pytest.raises(IntegrityError, match="is not a manifest"):
        store.get_manifest(store.put_bytes(b"not json"))


def test_put_tree_and_materialize(store: ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "model"
    files = {"weights.bin": os.urandom(300_000), "conf/a.json": b"{}", "conf/b.json": b"{}"}
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    manifest = store.put_tree(src)
    assert manifest == hash_tree(src)
    assert len(list(store.iter_objects())) == 2
    out = store.materialize(manifest, tmp_path / "restored")
    assert {
        p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()
    } == files
    assert store.put_tree(src / "weights.bin").entries[0].path == "weights.bin"


def test_concurrent_writers_of_the_same_content(store: ArtifactStore) -> None:
    data = os.urandom(1 << 20)
    barrier = threading.Barrier(6)

    def put(_: int) -> str:
        barrier.wait()
        return store.put_bytes(data)

    with ThreadPoolExecutor(6) as pool:
        digests = set(pool.map(put, range(6)))
    assert len(digests) == 1
    assert [o.digest for o in store.iter_objects()] == list(digests)
    assert raw_keys(store) == [store.object_path(digests.pop())]


def test_sweep_temporary_removes_leftovers(store: ArtifactStore) -> None:
    digest = store.put_bytes(b"kept")
    backend = store._backend
    if isinstance(backend, FsBackend):
        with backend.fs.open_output_stream(f"{backend.root}/tmp/dead-writer") as out:
            out.write(b"partial")
    else:
        leftover = backend.root / store.object_path(digest)
        stale = leftover.parent / ".tmp-deadwriter"
        stale.write_bytes(b"partial")
        os.utime(stale, (1, 1))
    assert store.sweep_temporary(older_than_s=3600) == (0 if isinstance(backend, FsBackend) else 1)
    assert store.sweep_temporary(older_than_s=0) == (1 if isinstance(backend, FsBackend) else 0)
    assert raw_keys(store) == [store.object_path(digest)]


@pytest.mark.s3
def test_s3_objects_above_the_copy_limit_go_direct(
    s3_store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ArtifactStore.from_url(s3_store_url)
    monkeypatch.setattr(FsBackend, "copy_limit", 1000)
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(50_000))
    digest = store.put_file(source)
    store.verify(digest)
    assert raw_keys(store) == [store.object_path(digest)]
    other = tmp_path / "other.bin"
    other.write_bytes(os.urandom(50_000))
    claimed = digest_bytes(b"not the content")
    with pytest.raises(DigestMismatchError):
        store.put_file(other, digest=claimed)
    assert not store.exists(claimed)
    assert raw_keys(store) == [store.object_path(digest)]


def test_no_false_positives_over_ten_thousand_objects_and_every_tamper_caught(
    tmp_path: Path,
) -> None:
    store = ArtifactStore.from_url(str(tmp_path / "store"))
    payloads = [i.to_bytes(4, "little") + os.urandom(16) for i in range(10_000)]
    with ThreadPoolExecutor(8) as pool:
        digests = list(pool.map(store.put_bytes, payloads))
    stored = {o.digest for o in store.iter_objects()}
    assert stored == set(digests) and len(stored) == 10_000

    def failures() -> set[str]:
        bad = set()
        for digest in stored:
            try:
                store.verify(digest)
            except DigestMismatchError:
                bad.add(digest)
        return bad

    assert failures() == set()
    tampered = set(digests[::500])
    for digest in tampered:
        tamper(store, digest)
    assert failures() == tampered


def test_url_parsing_and_credentials_refused(tmp_path: Path) -> None:
    local = ArtifactStore.from_url(f"file://{tmp_path}/s")
    assert local.url == (tmp_path / "s").as_uri()
    assert ArtifactStore.from_url(str(tmp_path / "s")).url == local.url
    s3 = ArtifactStore.from_url(
        "s3://bucket/some/prefix?scheme=http&region=eu-west-1&endpoint_override=http://127.0.0.1:9"
    )
    assert s3.url == (
        "s3://bucket/some/prefix?endpoint_override=http%3A%2F%2F127.0.0.1%3A9"
        "&region=eu-west-1&scheme=http"
    )
    for bad in (
        "s3://AKIAEXAMPLE:secret@bucket/prefix",
        "s3://bucket/prefix?access_key=AKIA&secret_key=x",
        "s3://bucket/prefix?session_token=x",
        "s3://bucket/prefix?colour=blue",
        "s3:///prefix",
        "file://remotehost/dir",
        "",
    ):
        with pytest.raises(ConfigurationError) as info:
            ArtifactStore.from_url(bad)
        assert "secret" not in str(info.value)


def test_fsspec_scheme_needs_fsspec() -> None:
    try:
        import fsspec  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigurationError, match="fsspec"):
            ArtifactStore.from_url("memory://bucket/store")
        return
    with pytest.raises(ConfigurationError, match="cannot open"):
        ArtifactStore.from_url("no-such-protocol://bucket/store")


def test_delete_many_tries_every_object_and_reports_the_failures(
    store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = [store.put_bytes(f"object {i}".encode()) for i in range(10)]
    absent = digest_bytes(b"never stored")
    backend, bad = store._backend, store.object_path(stored[3])
    delete = backend.delete

    def flaky(key: str) -> bool:
        if key == bad:
            raise PermissionError("access denied")
        return delete(key)

    monkeypatch.setattr(backend, "delete", flaky)
    with pytest.raises(DeleteError, match="1 of 11 deletions failed") as raised:
        store.delete_many([*stored, absent])
    assert list(raised.value.failed) == [stored[3]]
    assert isinstance(raised.value.failed[stored[3]], PermissionError)
    assert raised.value.existed == {**{d: True for d in stored if d != stored[3]}, absent: False}
    assert store.missing(stored) == [d for d in stored if d != stored[3]]
