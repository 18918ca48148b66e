"""The git state cache against real repositories: every change must reach the capture."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mv_orchestration.capture import _git, _treewatch
from mv_orchestration.capture._git import GitState, read_git_state


class Spawns:
    """Counts the git processes the capture starts (the real ``Popen`` still runs)."""

    def __init__(self) -> None:
        self.count = 0


@pytest.fixture(autouse=True, params=["inotify", "stat walk"])
def spawns(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Spawns]:
    """Every test runs with the kernel's change notification and with the stat walk alone."""
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\tname = Test\n\temail = test@example.com\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    if request.param == "stat walk":
        monkeypatch.setattr(_git, "open_watch", lambda top: None)
    elif (probe := _treewatch.open_watch(str(tmp_path))) is None:
        pytest.skip("inotify cannot watch this file system")
    else:
        probe.close()
    _git.clear_cache()
    counter = Spawns()
    real = subprocess.Popen

    def counting(args: Any, *rest: Any, **kwargs: Any) -> Any:
        if "--no-pager" in args:
            counter.count += 1
        return real(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", counting)
    yield counter
    _git.clear_cache()


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, timeout=30)


def make_repo(path: Path) -> Path:
    (path / "pkg").mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / ".gitignore").write_text("build/\n*.csv\n")
    (path / "pkg" / "train.py").write_text("LR = 0.1\n")
    (path / "data").mkdir()
    (path / "data" / "a.csv").write_text("1\n")
    (path / "build").mkdir()
    (path / "build" / "forced.txt").write_text("kept\n")
    (path / "build" / "out.bin").write_text("junk\n")
    git(path, "add", ".gitignore", "pkg")
    git(path, "add", "-f", "build/forced.txt")
    git(path, "commit", "-q", "-m", "first")
    return path


def state(repo: Path) -> GitState | None:
    return read_git_state(str(repo / "pkg"), keep_diff=True, max_diff_bytes=1 << 20)


def warm(repo: Path, spawns: Spawns) -> GitState:
    """Let the stamps settle, fill the cache, and check the next capture starts no git."""
    time.sleep(0.15)
    state(repo)
    first = state(repo)
    before = spawns.count
    cached = state(repo)
    assert spawns.count == before, "a settled, unchanged repository must be served cached"
    assert cached == first and cached is not None
    return cached


def test_unchanged_repository_is_served_without_git(tmp_path: Path, spawns: Spawns) -> None:
    repo = make_repo(tmp_path / "repo")
    cached = warm(repo, spawns)
    assert cached.dirty is False and cached.branch == "main" and cached.untracked_count == 0
    before = spawns.count
    (repo / "build" / "more.bin").write_text("ignored folder\n")
    (repo / "data" / "b.csv").write_text("ignored file\n")
    assert state(repo) == cached
    assert spawns.count > before  # the data folder changed: git was asked again


def test_same_size_edit_with_restored_mtime_is_seen(tmp_path: Path, spawns: Spawns) -> None:
    repo = make_repo(tmp_path / "repo")
    train = repo / "pkg" / "train.py"
    warm(repo, spawns)
    before = os.stat(train)
    train.write_text("LR = 0.2\n")
    os.utime(train, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(train).st_size == before.st_size
    found = state(repo)
    assert found is not None and found.dirty and found.diff and b"+LR = 0.2" in found.diff


def test_an_edit_right_after_a_capture_is_seen(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    train = repo / "pkg" / "train.py"
    for value in "23456789":
        train.write_text(f"LR = 0.{value}\n")
        found = state(repo)
        assert found is not None and found.diff and f"+LR = 0.{value}".encode() in found.diff


def test_forced_file_in_an_ignored_folder_is_watched(tmp_path: Path, spawns: Spawns) -> None:
    repo = make_repo(tmp_path / "repo")
    warm(repo, spawns)
    (repo / "build" / "forced.txt").write_text("gone\n")
    found = state(repo)
    assert found is not None and found.dirty


def test_untracked_files_are_counted(tmp_path: Path, spawns: Spawns) -> None:
    repo = make_repo(tmp_path / "repo")
    warm(repo, spawns)
    (repo / "notes.txt").write_text("todo\n")
    assert (found := state(repo)) is not None and found.untracked_count == 1
    warm(repo, spawns)
    (repo / "data" / "readme.md").write_text("in a folder of ignored files\n")
    assert (found := state(repo)) is not None and found.untracked_count == 2
    warm(repo, spawns)
    (repo / "new" / "deep").mkdir(parents=True)
    (repo / "new" / "deep" / "x.py").write_text("x\n")
    assert (found := state(repo)) is not None and found.untracked_count == 3
    assert not found.dirty


def test_staging_commit_and_branch_switch_are_seen(tmp_path: Path, spawns: Spawns) -> None:
    repo = make_repo(tmp_path / "repo")
    first = warm(repo, spawns)
    (repo / "pkg" / "train.py").write_text("LR = 0.3\n")
    git(repo, "add", "pkg/train.py")
    staged = warm(repo, spawns)
    assert staged.dirty and staged.commit == first.commit
    git(repo, "commit", "-q", "-m", "tune")
    committed = state(repo)
    assert committed is not None and not committed.dirty and committed.commit != first.commit
    warm(repo, spawns)
    git(repo, "checkout", "-q", "-b", "feature", first.commit or "")
    switched = state(repo)
    assert switched is not None and switched.branch == "feature"
    assert switched.commit == first.commit
    warm(repo, spawns)
    git(repo, "checkout", "-q", "main")
    back = state(repo)
    assert back is not None and back.branch == "main" and back.commit == committed.commit


def test_ignore_rules_and_remotes_are_followed(tmp_path: Path, spawns: Spawns) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "scratch.log").write_text("log\n")
    assert warm(repo, spawns).untracked_count == 1
    (repo / ".git" / "info" / "exclude").write_text("*.log\n")
    assert (found := state(repo)) is not None and found.untracked_count == 0
    warm(repo, spawns)
    git(repo, "remote", "add", "origin", "https://example.com/r.git")
    assert (found := state(repo)) is not None and found.remote_url == "https://example.com/r.git"


def test_nested_repository_turns_the_cache_off(tmp_path: Path, spawns: Spawns) -> None:
    repo = make_repo(tmp_path / "repo")
    git(repo / "pkg", "init", "-q")  # pkg/ becomes a repository of its own
    outer = read_git_state(str(repo), keep_diff=False, max_diff_bytes=0)
    time.sleep(0.15)
    for _ in range(3):
        before = spawns.count
        assert read_git_state(str(repo), keep_diff=False, max_diff_bytes=0) == outer
        assert spawns.count > before


def watching(request: pytest.FixtureRequest) -> bool:
    return bool(request.node.callspec.params["spawns"] == "inotify")


def test_a_quiet_watch_spares_the_walk(
    tmp_path: Path, spawns: Spawns, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    repo = make_repo(tmp_path / "repo")
    warm(repo, spawns)
    walks: list[str] = []
    real = _git._walk

    def counted(top: str, *rest: Any) -> None:
        walks.append(top)
        real(top, *rest)

    monkeypatch.setattr(_git, "_walk", counted)
    assert state(repo) == state(repo)
    expected = 0 if watching(request) else 2
    assert len(walks) == expected
    (repo / "pkg" / "train.py").write_text("LR = 0.3\n")
    found = state(repo)
    assert found is not None and found.dirty
    assert len(walks) == expected + 1


def test_a_forked_child_never_drains_its_parents_watch(tmp_path: Path, spawns: Spawns) -> None:
    repo = make_repo(tmp_path / "repo")
    warm(repo, spawns)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child edits, captures, and reports whether it saw its own edit
        code = 1
        try:
            (repo / "pkg" / "train.py").write_text("LR = 0.5\n")
            found = state(repo)
            code = 0 if found is not None and found.dirty else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    os.close(read_end)
    os.close(write_end)
    assert os.waitstatus_to_exitcode(status) == 0
    found = state(repo)
    assert found is not None and found.dirty and found.diff and b"+LR = 0.5" in found.diff


def test_outside_a_work_tree_no_git_runs_unless_the_environment_points_to_one(
    tmp_path: Path, spawns: Spawns, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "repo")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert read_git_state(str(outside), keep_diff=False, max_diff_bytes=0) is None
    assert spawns.count == 0
    monkeypatch.setenv("GIT_DIR", str(repo / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(repo))
    found = read_git_state(str(outside), keep_diff=False, max_diff_bytes=0)
    assert found is not None and found.branch == "main" and spawns.count > 0
