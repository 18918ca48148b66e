"""Git state of a work tree: one ``git status`` call, plus ``git diff`` only when dirty.

Git runs without optional locks (a capture never writes the index), without prompts, in
the C locale and under a deadline; the diff is streamed, hashed and kept only up to a
cap. The remote URL is read from the repository's config file (cached by its mtime),
falling back to ``git config`` when the file cannot be found or includes others.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import selectors
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mv_orchestration.capture.redact import redact_text
from mv_orchestration.hashing.digest import DEFAULT_ALGO, format_digest, new_hasher

logger = logging.getLogger(__name__)

GIT_TIMEOUT_S = 10.0
_GIT_ENV = {"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
_STATUS = ["status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all"]
# Options that pin the diff's bytes whatever the user's git configuration says.
_DIFF = [
    "diff",
    "--binary",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--no-renames",
    "--no-relative",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "--diff-algorithm=myers",
    "--indent-heuristic",
]
_CHUNK = 1 << 16
_REMOTE_SECTION = re.compile(r'\[\s*remote\s+"((?:[^"\\]|\\.)*)"\s*\]', re.IGNORECASE)

Spawn = Callable[..., "subprocess.Popen[bytes]"]


@dataclass(frozen=True)
class GitState:
    """What git says about a work tree; ``diff`` holds the raw diff when it was kept."""

    commit: str | None
    branch: str | None
    remote_url: str | None
    dirty: bool
    untracked_count: int
    diff_digest: str | None = None
    diff_size: int | None = None
    diff: bytes | None = None


@dataclass
class _Status:
    commit: str | None = None
    branch: str | None = None
    upstream: str | None = None
    dirty: bool = False
    untracked: int = 0


class GitTimeout(Exception):
    """A git process outlived its deadline and was killed."""


def parse_status(raw: bytes) -> _Status:
    """Parse ``git status --porcelain=v2 --branch -z``."""
    status = _Status()
    skip = False
    for item in raw.decode("utf-8", "surrogateescape").split("\0"):
        if skip:
            skip = False
        elif item.startswith("# branch.oid "):
            oid = item[13:]
            status.commit = None if oid == "(initial)" else oid
        elif item.startswith("# branch.head "):
            head = item[14:]
            status.branch = None if head == "(detached)" else head
        elif item.startswith("# branch.upstream "):
            status.upstream = item[18:]
        elif item.startswith(("1 ", "u ")):
            status.dirty = True
        elif item.startswith("2 "):
            status.dirty = True
            skip = True  # a rename entry is followed by its original path
        elif item.startswith("? "):
            status.untracked += 1
    return status


def _finish(proc: subprocess.Popen[bytes], deadline: float) -> tuple[int, bytes, bytes]:
    """Wait for ``proc`` until ``deadline``; kill it and raise :class:`GitTimeout` past it."""
    try:
        out, err = proc.communicate(timeout=max(deadline - time.monotonic(), 0.001))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise GitTimeout from None
    return proc.returncode, out, err


def _stream_diff(
    proc: subprocess.Popen[bytes], keep: bool, cap: int, deadline: float
) -> tuple[str, int, bytes | None]:
    """Digest, size and (while at most ``cap`` bytes) the bytes of a diff stream.

    Standard error is drained alongside (and dropped), so a chatty git never blocks.
    """
    assert proc.stdout is not None and proc.stderr is not None
    hasher = new_hasher()
    size = 0
    kept: list[bytes] | None = [] if keep else None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(out_fd, selectors.EVENT_READ)
        selector.register(err_fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise GitTimeout
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, _CHUNK)
                if key.fd == err_fd:
                    if not chunk:
                        selector.unregister(err_fd)
                    continue
                if not chunk:
                    return _digest_result(hasher, size, kept)
                hasher.update(chunk)
                size += len(chunk)
                if kept is not None and size <= cap:
                    kept.append(chunk)
                else:
                    kept = None


def _digest_result(
    hasher: Any, size: int, kept: list[bytes] | None
) -> tuple[str, int, bytes | None]:
    return (
        format_digest(DEFAULT_ALGO, hasher.hexdigest()),
        size,
        b"".join(kept) if kept is not None else None,
    )


def _find_config(cwd: str) -> str | None:
    """The config file of the repository holding ``cwd``, found as git finds it."""
    if any(name in os.environ for name in ("GIT_DIR", "GIT_COMMON_DIR", "GIT_CONFIG")):
        return None
    path = os.path.abspath(cwd)
    while True:
        dotgit = os.path.join(path, ".git")
        if os.path.isdir(dotgit):
            gitdir = dotgit
            break
        if os.path.isfile(dotgit):
            with open(dotgit, encoding="utf-8") as handle:
                line = handle.readline().strip()
            if not line.startswith("gitdir:"):
                return None
            gitdir = os.path.join(path, line[7:].strip())
            break
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent
    commondir = os.path.join(gitdir, "commondir")
    if os.path.isfile(commondir):
        with open(commondir, encoding="utf-8") as handle:
            gitdir = os.path.join(gitdir, handle.read().strip())
    config = os.path.join(gitdir, "config")
    return config if os.path.isfile(config) else None


def _config_value(raw: str) -> str:
    """A git config value: quotes removed, a trailing comment dropped."""
    raw = raw.strip()
    if raw.startswith('"'):
        end = raw.find('"', 1)
        return raw[1:end] if end > 0 else raw[1:]
    return re.split(r"\s[#;]", raw, maxsplit=1)[0].strip()


def parse_remotes(text: str) -> dict[str, str] | None:
    """Remote name -> URL from a git config file; None when it includes other files."""
    urls: dict[str, str] = {}
    section: str | None = None
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if re.match(r"\[\s*include", line, re.IGNORECASE):
                return None
            match = _REMOTE_SECTION.match(line)
            section = re.sub(r"\\(.)", r"\1", match.group(1)) if match else None
            continue
        key, eq, value = line.partition("=")
        if section is not None and eq and key.strip().lower() == "url":
            urls.setdefault(section, _config_value(value))
    return urls


_REMOTES: dict[tuple[str, int, int], dict[str, str] | None] = {}


def _remotes(cwd: str, spawn: Spawn, deadline: float) -> dict[str, str]:
    config = _find_config(cwd)
    remotes = None
    if config is not None:
        stat = os.stat(config)
        key = (config, stat.st_mtime_ns, stat.st_size)
        if key not in _REMOTES:
            with open(config, encoding="utf-8", errors="surrogateescape") as handle:
                _REMOTES[key] = parse_remotes(handle.read())
        remotes = _REMOTES[key]
    if remotes is not None:
        return remotes
    _, out, _ = _finish(spawn("config", "-z", "--get-regexp", r"^remote\..*\.url$"), deadline)
    found: dict[str, str] = {}
    for entry in out.decode("utf-8", "surrogateescape").split("\0"):
        name, _, url = entry.partition("\n")
        if name.startswith("remote.") and name.endswith(".url"):
            found.setdefault(name[7:-4], url)
    return found


def pick_remote(urls: dict[str, str], upstream: str | None) -> str | None:
    """URL of the upstream branch's remote, else ``origin``, else the first by name."""
    if not urls:
        return None
    if upstream:
        owners = [name for name in urls if upstream.startswith(name + "/")]
        if owners:
            return urls[max(owners, key=len)]
    return urls.get("origin") or urls[min(urls)]


def _read(spawn: Spawn, cwd: str, keep: bool, cap: int, deadline: float) -> GitState | None:
    code, out, err = _finish(spawn(*_STATUS), deadline)
    if code != 0:
        message = redact_text(err.decode("utf-8", "replace").strip())
        logger.debug("no git work tree at %s: %s", redact_text(cwd), message)
        return None
    status = parse_status(out)
    remote = pick_remote(_remotes(cwd, spawn, deadline), status.upstream)
    state = GitState(
        commit=status.commit,
        branch=status.branch,
        remote_url=remote,
        dirty=status.dirty,
        untracked_count=status.untracked,
    )
    if not status.dirty:
        return state
    if status.commit is not None:
        base = status.commit
    else:
        base = _finish(spawn("hash-object", "-t", "tree", "/dev/null"), deadline)[1].decode()
    proc = spawn(*_DIFF, base.strip())
    digest, size, kept = _stream_diff(proc, keep, cap, deadline)
    if _finish(proc, deadline)[0] != 0:
        logger.debug("git diff failed with exit code %s", proc.returncode)
        return state
    if not size:
        return state
    return dataclasses.replace(state, diff_digest=digest, diff_size=size, diff=kept)


def read_git_state(cwd: str, *, keep_diff: bool, max_diff_bytes: int) -> GitState | None:
    """Git state of the work tree holding ``cwd``; None outside one, without git, or on
    timeout. The diff against the current commit is digested; its bytes are kept when
    ``keep_diff`` and at most ``max_diff_bytes`` long.
    """
    deadline = time.monotonic() + GIT_TIMEOUT_S
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(*args: str) -> subprocess.Popen[bytes]:
        procs.append(
            subprocess.Popen(
                ["git", "--no-pager", *args],
                cwd=cwd,
                env={**os.environ, **_GIT_ENV},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
        return procs[-1]

    try:
        return _read(spawn, cwd, keep_diff, max_diff_bytes, deadline)
    except OSError as exc:
        logger.debug("git unavailable: %s", exc)
        return None
    except GitTimeout:
        logger.warning("git did not answer within %g s; code state not captured", GIT_TIMEOUT_S)
        return None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
