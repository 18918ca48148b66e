"""capture_code against real temporary git repositories."""

from __future__ import annotations

import functools
import importlib.util
import inspect
import logging
import os
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from blake3 import blake3

from mv_orchestration._version import __version__
from mv_orchestration.capture import _git
from mv_orchestration.capture.code import CodeInfo, capture_code


def digest(data: bytes) -> str:
    return f"blake3:{blake3(data).hexdigest()}"


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\tname = Test\n\temail = test@example.com\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def git(repo: Path, *args: str) -> bytes:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, timeout=30
    ).stdout


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text("def fit():\n    return 1\n")
    (path / "data.bin").write_bytes(bytes(range(256)))
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "first")
    return path


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").decode().strip()


def test_clean_repository(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    capture = capture_code(cwd=repo)
    assert capture.info == CodeInfo(
        commit=head(repo), branch="main", dirty=False, untracked_count=0
    )
    assert capture.info.package_version == __version__
    assert capture.diff is None


def test_dirty_repository_with_untracked_files(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "train.py").write_text("def fit():\n    return 2\n")
    (repo / "staged.py").write_text("x = 1\n")
    git(repo, "add", "staged.py")
    (repo / "data.bin").write_bytes(bytes(range(255, -1, -1)))
    (repo / "notes.txt").write_text("todo\n")
    (repo / "new").mkdir()
    (repo / "new" / "a.py").write_text("a\n")
    (repo / "new" / "b.py").write_text("b\n")
    expected = git(repo, "diff", "HEAD", "--binary")
    assert b"GIT binary patch" in expected
    capture = capture_code(cwd=repo / "new")
    info = capture.info
    assert info.commit == head(repo)
    assert info.dirty is True
    assert info.untracked_count == 3
    assert info.diff_digest == digest(expected)
    assert info.diff_size == len(expected)
    assert (info.diff_stored, info.diff_redacted) == (True, False)
    assert capture.diff == expected


def test_only_untracked_files_are_not_dirty(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "scratch.txt").write_text("x\n")
    info = capture_code(cwd=repo).info
    assert (info.dirty, info.untracked_count, info.diff_digest) == (False, 1, None)


def test_diff_storage_can_be_switched_off_or_capped(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "train.py").write_text("def fit():\n    return 3\n" * 200)
    expected = git(repo, "diff", "HEAD", "--binary")
    off = capture_code(cwd=repo, store_diff=False)
    capped = capture_code(cwd=repo, max_diff_bytes=len(expected) - 1)
    exact = capture_code(cwd=repo, max_diff_bytes=len(expected))
    for capture in (off, capped):
        assert capture.diff is None
        assert capture.info.diff_stored is False
        assert capture.info.diff_digest == digest(expected)
        assert capture.info.diff_size == len(expected)
    assert exact.diff == expected


def test_secrets_in_the_diff_are_redacted_but_the_digest_is_of_the_real_diff(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo")
    token = "ghp_" + "Q" * 36
    (repo / "train.py").write_text(f'def fit():\n    password = "hunter2-xyz"\n    t = "{token}"\n')
    expected = git(repo, "diff", "HEAD", "--binary")
    capture = capture_code(cwd=repo)
    assert capture.info.diff_digest == digest(expected)
    assert capture.info.diff_redacted is True
    assert capture.diff is not None
    assert b"hunter2-xyz" not in capture.diff
    assert token.encode() not in capture.diff
    assert b"[REDACTED]" in capture.diff


def test_remote_url_loses_its_credentials(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    git(repo, "remote", "add", "origin", "https://builder:s3cr3t-Passw0rd@git.example.com/o/r.git")
    assert capture_code(cwd=repo).info.remote_url == "https://git.example.com/o/r.git"
    git(repo, "remote", "set-url", "origin", "https://" + "t0k3n" * 8 + "@git.example.com/o/r.git")
    assert capture_code(cwd=repo).info.remote_url == "https://git.example.com/o/r.git"
    git(repo, "remote", "set-url", "origin", "git@github.com:o/r.git")
    assert capture_code(cwd=repo).info.remote_url == "git@github.com:o/r.git"


def test_remote_of_the_upstream_branch_wins(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    git(repo, "remote", "add", "origin", "https://git.example.com/fork.git")
    git(repo, "remote", "add", "team/main", "https://git.example.com/team.git")
    assert capture_code(cwd=repo).info.remote_url == "https://git.example.com/fork.git"
    git(repo, "config", "branch.main.remote", "team/main")
    git(repo, "config", "branch.main.merge", "refs/heads/main")
    assert capture_code(cwd=repo).info.remote_url == "https://git.example.com/team.git"


def test_outside_a_repository(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    capture = capture_code(cwd=folder)
    assert capture.info == CodeInfo()
    assert capture.diff is None


def test_repository_without_commits(tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "a.py").write_text("a = 1\n")
    git(repo, "add", "a.py")
    (repo / "b.py").write_text("b = 1\n")
    info = capture_code(cwd=repo).info
    assert (info.commit, info.branch, info.dirty, info.untracked_count) == (None, "main", True, 1)
    assert info.diff_digest is not None
    assert info.diff_size and info.diff_size > 0


def test_detached_head(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    git(repo, "checkout", "-q", "--detach")
    info = capture_code(cwd=repo).info
    assert (info.commit, info.branch) == (head(repo), None)


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_source_digests_and_the_folder_of_the_function(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    module = _load(repo / "train.py", "capture_test_train")
    info = capture_code(module.fit).info
    assert info.commit == head(repo)
    assert info.source == "capture_test_train:fit"
    assert info.source_digest == digest(inspect.getsource(module.fit).encode())
    assert info.module_digest == digest((repo / "train.py").read_bytes())

    @functools.wraps(module.fit)
    def wrapper(*args: Any) -> Any:
        return module.fit(*args)

    assert capture_code(wrapper).info.source_digest == info.source_digest
    assert capture_code(functools.partial(module.fit)).info.source_digest == info.source_digest
    assert capture_code(module).info.module_digest == info.module_digest

    (repo / "train.py").write_text("def fit():\n    return 42\n")
    os.utime(repo / "train.py", ns=(time.time_ns(), time.time_ns() + 10**9))
    changed = _load(repo / "train.py", "capture_test_train2")
    again = capture_code(changed.fit).info
    assert again.source_digest != info.source_digest
    assert again.module_digest != info.module_digest
    assert again.dirty is True


def test_code_outside_git_still_has_source_digests(tmp_path: Path) -> None:
    folder = tmp_path / "loose"
    folder.mkdir()
    (folder / "job.py").write_text("def run():\n    return 'x'\n")
    module = _load(folder / "job.py", "capture_test_job")
    info = capture_code(module.run).info
    assert info.commit is None
    assert info.source_digest == digest(inspect.getsource(module.run).encode())
    assert info.module_digest == digest((folder / "job.py").read_bytes())


def test_function_without_source() -> None:
    fn: Callable[[], int] = eval("lambda: 1")
    info = capture_code(fn, cwd=os.devnull + "-missing").info
    assert info.source_digest is None and info.module_digest is None
    assert info.commit is None


def _fake_git(folder: Path, body: str) -> None:
    folder.mkdir()
    script = folder / "git"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_without_git_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "repo")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert capture_code(cwd=repo).info == CodeInfo()


def test_a_hanging_git_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    repo = make_repo(tmp_path / "repo")
    _fake_git(tmp_path / "bin", "exec sleep 30")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setattr(_git, "GIT_TIMEOUT_S", 0.5)
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="mv_orchestration"):
        info = capture_code(cwd=repo).info
    assert time.monotonic() - start < 10
    assert info == CodeInfo()
    assert "did not answer" in caplog.text


def test_remote_from_a_linked_worktree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    git(repo, "remote", "add", "origin", "https://git.example.com/main.git")
    git(repo, "worktree", "add", "-q", "-b", "feature", str(tmp_path / "wt"))
    info = capture_code(cwd=tmp_path / "wt").info
    assert (info.branch, info.remote_url) == ("feature", "https://git.example.com/main.git")
    assert info.commit == head(repo)


def test_remote_defined_through_an_included_config(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    extra = tmp_path / "remotes.inc"
    extra.write_text('[remote "origin"]\n\turl = https://u:pw12345@git.example.com/inc.git\n')
    git(repo, "config", "include.path", str(extra))
    assert capture_code(cwd=repo).info.remote_url == "https://git.example.com/inc.git"


def test_config_file_parsing() -> None:
    text = (
        "[core]\n\tbare = false\n"
        '[remote "origin"]\n\turl = "https://git.example.com/a.git" ; primary\n'
        "\tfetch = +refs/heads/*:refs/remotes/origin/*\n"
        '[Remote "with \\"quote"]\n\tURL = ssh://git@h.example.com/b.git # note\n'
        '# [remote "commented"]\n'
    )
    assert _git.parse_remotes(text) == {
        "origin": "https://git.example.com/a.git",
        'with "quote': "ssh://git@h.example.com/b.git",
    }
    assert _git.parse_remotes('[includeIf "gitdir:~/w/"]\n\tpath = x\n') is None


def test_ordinary_code_in_the_diff_is_not_redacted(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    source = (
        "class Cache:\n"
        "    key: str\n"
        "    def __init__(self, token):\n"
        "        self._token = token\n"
        "        self.auth = make_auth(self._token)\n"
    )
    (repo / "cache.py").write_text(source)
    git(repo, "add", "cache.py")
    expected = git(repo, "diff", "HEAD", "--binary")
    capture = capture_code(cwd=repo)
    assert capture.info.diff_redacted is False
    assert capture.diff == expected
