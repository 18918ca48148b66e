"""The inotify watch behind warm git captures: what it reports and where it is offered."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from mv_orchestration.capture import _treewatch

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux")


def test_every_kind_of_change_is_reported_once(tmp_path: Path) -> None:
    watch = _treewatch.open_watch(str(tmp_path))
    if watch is None:
        pytest.skip("inotify cannot watch this file system")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f.txt").write_text("a")
    try:
        watch.add(str(tmp_path))
        watch.add(str(tmp_path / "sub"))
        assert watch.complete and not watch.changed()
        changes = [
            lambda: (tmp_path / "sub" / "f.txt").write_text("b"),
            lambda: os.utime(tmp_path / "sub" / "f.txt", ns=(0, 0)),
            lambda: os.chmod(tmp_path / "sub" / "f.txt", 0o600),
            lambda: (tmp_path / "sub" / "new.txt").write_text("c"),
            lambda: os.rename(tmp_path / "sub" / "new.txt", tmp_path / "moved.txt"),
            lambda: os.unlink(tmp_path / "moved.txt"),
            lambda: (tmp_path / "dir").mkdir(),
        ]
        for change in changes:
            change()
            assert watch.changed()
            assert not watch.changed()
        watch.add(str(tmp_path / "missing"))
        assert not watch.complete
    finally:
        watch.close()


def test_a_forked_child_sees_a_change_without_reading(tmp_path: Path) -> None:
    watch = _treewatch.open_watch(str(tmp_path))
    if watch is None:
        pytest.skip("inotify cannot watch this file system")
    try:
        watch.add(str(tmp_path))
        pid = os.fork()
        if pid == 0:
            os._exit(0 if watch.changed() else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        (tmp_path / "after-fork").write_text("x")
        assert watch.changed()  # the child did not drain the shared queue
    finally:
        watch.close()


def test_only_local_file_systems_are_watched(tmp_path: Path) -> None:
    assert _treewatch.file_system("/proc/self") == "proc"
    assert _treewatch.open_watch("/proc/self") is None
    kind = _treewatch.file_system(str(tmp_path))
    assert kind is not None
    probe = _treewatch.open_watch(str(tmp_path))
    assert (probe is None) == (kind not in _treewatch.LOCAL_FILE_SYSTEMS)
    if probe is not None:
        probe.close()
    assert _treewatch._unescape(r"/mnt/with\040space") == "/mnt/with space"
