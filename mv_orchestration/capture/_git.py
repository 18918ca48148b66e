"""Git state of a work tree: one ``git status`` call, plus ``git diff`` only when dirty.

Git runs without optional locks (a capture never writes the index), without prompts, in
the C locale and under a deadline; the diff is streamed, hashed and kept only up to a
cap. The remote URL is read from the repository's config file (cached by its mtime),
falling back to ``git config`` when the file cannot be found or includes others.

Warm captures are served from a per-process cache keyed on a *signature*: the lstat
stamps (mode, inode, size, mtime_ns, ctime_ns) of git's files (``HEAD``, the ref it names,
``packed-refs``, ``index``, every config file ``git config --list --show-origin`` read,
the exclude and attributes files) and of every folder and file of the work tree outside
``.git`` and the ignored folders ``git status --ignored=matching`` listed (an ignored
folder holding a tracked file is not listed as one). The signature is taken *before*
git runs, so a change made while git runs leaves a stale signature, never a stale state.
On a local Linux file system an inotify watch (see ``_treewatch``) is armed on every
folder before it is listed; while the kernel reports no change, the work tree's stamps
of the last walk are reused instead of stat-ing every file again.

Guarantee: a cached state is returned only while every stamp equals the one taken before
the git run it came from, and a state is cached only when every stamp was then older
than 100 ms (2 s for whole-second timestamps). Any write to a file or folder sets its
ctime to the kernel's current time, so an edit (even of equal size, within the same
second, with mtime restored), a new or removed untracked file, a staged change, a
commit, a branch switch or a config change all alter the signature. Limits: the file
system's clock must not run behind this process's by more than that margin (a network
file system with a skewed server), and a system config file git reads that is empty
(unlisted) and outside ``/etc/gitconfig`` is not followed. Nothing is cached for work
trees with more than 5000 entries, a nested repository or submodule, reftable refs,
``core.worktree``, or GIT_* variables that redirect git.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import selectors
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mv_orchestration.capture._treewatch import TreeWatch, open_watch
from mv_orchestration.capture.redact import redact_text
from mv_orchestration.hashing.digest import DEFAULT_ALGO, format_digest, new_hasher

logger = logging.getLogger(__name__)

GIT_TIMEOUT_S = 10.0
_GIT_ENV = {"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
# Ignored folders are listed (not entered) so the cache's stat walk can skip them too.
_STATUS = [
    "status",
    "--porcelain=v2",
    "--branch",
    "-z",
    "--untracked-files=all",
    "--ignored=matching",
]
_CONFIG_LIST = ["config", "--list", "--show-origin", "-z"]
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
    ignored_dirs: list[str] = dataclasses.field(default_factory=list)


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
        elif item.startswith("! ") and item.endswith("/"):
            status.ignored_dirs.append(item[2:])
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


@dataclass(frozen=True)
class _Repo:
    """Where git keeps a work tree's repository: its top folder, git dir and common dir."""

    top: str
    gitdir: str
    common: str


def _find_repo(cwd: str) -> _Repo | None:
    """The repository holding ``cwd``, found as git finds it (None when the environment
    redirects git, or when the ``.git`` file cannot be read)."""
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
    common = gitdir
    commondir = os.path.join(gitdir, "commondir")
    if os.path.isfile(commondir):
        with open(commondir, encoding="utf-8") as handle:
            common = os.path.join(gitdir, handle.read().strip())
    return _Repo(top=path, gitdir=gitdir, common=common)


def _find_config(cwd: str) -> str | None:
    """The config file of the repository holding ``cwd``."""
    repo = _find_repo(cwd)
    config = os.path.join(repo.common, "config") if repo is not None else None
    return config if config is not None and os.path.isfile(config) else None


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


_RACY_NS = 100_000_000  # a stamp this close to the signature's time may hide a change
_COARSE_RACY_NS = 2_000_000_000  # ... or this close, for whole-second timestamps (FAT)
_MAX_WALK = 5000  # files and folders; larger work trees are never cached
_CACHE_SIZE = 16
# GIT_* variables that leave discovery and the files git reads alone (their values are
# part of the cache key; a config file they name is followed through the config listing).
# Any other GIT_* variable (GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE...) turns caching off.
_NEUTRAL_ENV = (
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_SYSTEM",
    "GIT_CONFIG_NOSYSTEM",
    "GIT_TERMINAL_PROMPT",
    "GIT_OPTIONAL_LOCKS",
    "GIT_PAGER",
    "GIT_EDITOR",
    "GIT_ASKPASS",
    "GIT_SSH",
    "GIT_SSL_",
    "GIT_HTTP_",
    "GIT_CURL_",
    "GIT_TRACE",
    "GIT_AUTHOR_",
    "GIT_COMMITTER_",
)

Stamp = tuple[int, int, int, int, int] | None
Signature = tuple[str | None, dict[str, Stamp], dict[str, Stamp]]  # HEAD, git files, tree


@dataclass(frozen=True)
class _Plan:
    """What a repository's signature stats: git's files, and the ignored folders to skip."""

    files: tuple[str, ...]
    pruned: frozenset[str]


@dataclass(frozen=True)
class _Tree:
    """The stamps of one walk of a work tree, and the watch armed before it."""

    pruned: frozenset[str]
    stamps: dict[str, Stamp]
    settled_after_ns: int
    watch: TreeWatch


_PLANS: dict[str, _Plan | None] = {}  # by top folder; None: this repository is not cached
_STATES: dict[tuple[str, ...], tuple[Signature, GitState]] = {}
_TREES: dict[str, _Tree] = {}  # by top folder, on file systems inotify can watch
_TREES_LOCK = threading.Lock()


def _stamp_of(st: os.stat_result) -> Stamp:
    return (st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _stamp(path: str) -> Stamp:
    try:
        return _stamp_of(os.lstat(path))
    except OSError:
        return None


def _settled_after(stamps: dict[str, Stamp]) -> int:
    """The time after which a later change of any of these files must change its stamp."""
    latest = 0
    for stamp in stamps.values():
        if stamp is not None:
            coarse = stamp[3] % 1_000_000_000 == 0 and stamp[4] % 1_000_000_000 == 0
            newest = max(stamp[3], stamp[4]) + (_COARSE_RACY_NS if coarse else _RACY_NS)
            latest = max(latest, newest)
    return latest


class _Uncacheable(Exception):
    """The work tree is too big for the stat walk, or holds another repository."""


def _walk(
    top: str, pruned: frozenset[str], stamps: dict[str, Stamp], watch: TreeWatch | None
) -> None:
    """Stamp every folder and file of the work tree outside ``.git`` and ignored folders,
    arming ``watch`` on each folder before listing it."""
    stamps[top] = _stamp(top)
    folders = [""]
    while folders:
        rel = folders.pop()
        folder = os.path.join(top, rel)
        if watch is not None:
            watch.add(folder)
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue  # gone or unreadable: its stamp in the parent says so
        for entry in entries:
            if entry.name == ".git":
                if rel:
                    raise _Uncacheable  # a nested repository or submodule
                continue
            path = rel + entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                st = entry.stat(follow_symlinks=False)
            except OSError:
                stamps[path] = None
                continue
            if is_dir and path + "/" in pruned:
                continue
            stamps[path] = _stamp_of(st)
            if is_dir:
                folders.append(path + "/")
            if len(stamps) > _MAX_WALK:
                raise _Uncacheable


def _tree(top: str, pruned: frozenset[str]) -> tuple[dict[str, Stamp], int]:
    """The work tree's stamps and when they are settled: those of the last walk while its
    watch reports no change, else a new walk (watched where the file system allows)."""
    with _TREES_LOCK:
        tree = _TREES.pop(top, None)
        if tree is not None:
            if tree.pruned == pruned and not tree.watch.changed():
                _TREES[top] = tree
                return tree.stamps, tree.settled_after_ns
            tree.watch.close()
        watch = open_watch(top)
        stamps: dict[str, Stamp] = {}
        try:
            _walk(top, pruned, stamps, watch)
        except BaseException:
            if watch is not None:
                watch.close()
            raise
        settled_after = _settled_after(stamps)
        if watch is not None and watch.complete:
            _TREES[top] = _Tree(pruned, stamps, settled_after, watch)
        elif watch is not None:
            watch.close()
        return stamps, settled_after


def _signature(repo: _Repo, plan: _Plan) -> Signature | None:
    """Stamps of everything ``git status`` reads; None when one is too recent to trust."""
    now_ns = time.time_ns()
    stamps = {path: _stamp(path) for path in plan.files}
    try:
        with open(os.path.join(repo.gitdir, "HEAD"), encoding="utf-8") as handle:
            head: str | None = handle.read()
    except OSError:
        head = None
    if head is not None and head.startswith("ref: "):
        ref = head[5:].strip()
        for base in (repo.gitdir, repo.common):
            path = os.path.join(base, ref)
            stamps[path] = _stamp(path)
    tree, tree_settled_after = _tree(repo.top, plan.pruned)
    if max(tree_settled_after, _settled_after(stamps)) >= now_ns:
        return None
    return head, stamps, tree


def clear_cache() -> None:
    """Forget every cached state, plan and watch (for tests and long-lived workers)."""
    with _TREES_LOCK:
        for tree in _TREES.values():
            tree.watch.close()
        _TREES.clear()
        _PLANS.clear()
        _STATES.clear()


def _make_plan(repo: _Repo, ignored_dirs: list[str], spawn: Spawn, deadline: float) -> _Plan | None:
    """The files to stamp for ``repo``: git's own, and every config file git read (with the
    ignore and attributes files they name); None when the configuration is not plain."""
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    files = {os.path.join(repo.gitdir, name) for name in ("HEAD", "index", "config.worktree")}
    files |= {os.path.join(repo.common, name) for name in ("packed-refs", "config")}
    files |= {os.path.join(repo.common, "info", name) for name in ("exclude", "attributes")}
    files |= {os.path.expanduser("~/.gitconfig"), os.path.join(xdg, "git", "config")}
    files |= {os.environ.get("GIT_CONFIG_GLOBAL", ""), "/etc/gitconfig"} - {""}
    excludes = os.path.join(xdg, "git", "ignore")
    attributes = os.path.join(xdg, "git", "attributes")
    if os.path.exists(os.path.join(repo.common, "reftable")):
        return None
    code, out, _ = _finish(spawn(*_CONFIG_LIST), deadline)
    if code != 0:
        return None
    items = out.decode("utf-8", "surrogateescape").split("\0")
    for origin, entry in zip(items[::2], items[1::2], strict=False):
        if not origin.startswith("file:"):
            return None  # configuration from the command line or the environment
        files.add(os.path.join(repo.top, origin[5:]))
        key, _, value = entry.partition("\n")
        if key == "core.worktree":
            return None
        if key == "core.excludesfile":
            excludes = os.path.join(repo.top, os.path.expanduser(value))
        elif key == "core.attributesfile":
            attributes = os.path.join(repo.top, os.path.expanduser(value))
    files |= {excludes, attributes}
    return _Plan(files=tuple(sorted(files)), pruned=frozenset(ignored_dirs))


def _read(
    spawn: Spawn, cwd: str, keep: bool, cap: int, deadline: float
) -> tuple[GitState, list[str]] | None:
    """The state, and the ignored folders (relative to the top folder, ending in ``/``)."""
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
        return state, status.ignored_dirs
    if status.commit is not None:
        base = status.commit
    else:
        base = _finish(spawn("hash-object", "-t", "tree", "/dev/null"), deadline)[1].decode()
    proc = spawn(*_DIFF, base.strip())
    digest, size, kept = _stream_diff(proc, keep, cap, deadline)
    if _finish(proc, deadline)[0] != 0:
        logger.debug("git diff failed with exit code %s", proc.returncode)
        return state, status.ignored_dirs
    if not size:
        return state, status.ignored_dirs
    kept_state = dataclasses.replace(state, diff_digest=digest, diff_size=size, diff=kept)
    return kept_state, status.ignored_dirs


def _steered() -> bool:
    """True when a GIT_* variable redirects discovery or the files git reads."""
    return not all(name.startswith(_NEUTRAL_ENV) for name in os.environ if name[:4] == "GIT_")


def _outside_work_tree(cwd: str) -> bool:
    """True when git cannot find a work tree from ``cwd``: no ``.git`` in it or above it,
    and no variable pointing git elsewhere (spares a git process per capture there)."""
    if _steered():
        return False
    path = os.path.abspath(cwd)
    while not os.path.lexists(os.path.join(path, ".git")):
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent
    return False


def _cache_key(cwd: str, keep: bool, cap: int) -> tuple[_Repo, tuple[str, ...]] | None:
    """The repository holding ``cwd`` and the cache key of its state; None when the
    environment steers git in ways the signature does not follow."""
    if _steered():
        return None
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith("GIT_"))
    try:
        repo = _find_repo(cwd)
    except OSError:
        return None
    if repo is None or _PLANS.get(repo.top, True) is None:
        return None
    flat = [item for pair in env for item in pair]
    return repo, (repo.top, str(keep), str(cap), os.environ.get("PATH", ""), *flat)


def read_git_state(cwd: str, *, keep_diff: bool, max_diff_bytes: int) -> GitState | None:
    """Git state of the work tree holding ``cwd``; None outside one, without git, or on
    timeout. The diff against the current commit is digested; its bytes are kept when
    ``keep_diff`` and at most ``max_diff_bytes`` long. Served from the cache while the
    repository's signature (see the module docstring) is unchanged.
    """
    if _outside_work_tree(cwd):
        return None
    cached = _cache_key(cwd, keep_diff, max_diff_bytes)
    signature = plan = None
    if cached is not None:
        repo, key = cached
        plan = _PLANS.get(repo.top)
        try:
            signature = _signature(repo, plan) if plan is not None else None
        except _Uncacheable:
            _PLANS[repo.top] = None
            cached = None
        hit = _STATES.get(key)
        if signature is not None and hit is not None and hit[0] == signature:
            return hit[1]
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
        result = _read(spawn, cwd, keep_diff, max_diff_bytes, deadline)
        if result is None:
            return None
        state, ignored_dirs = result
        if cached is not None:
            plan_now = _make_plan(cached[0], ignored_dirs, spawn, deadline)
            if signature is not None and plan_now == plan:
                if len(_STATES) >= _CACHE_SIZE:
                    _STATES.clear()
                _STATES[cached[1]] = (signature, state)
            _PLANS[cached[0].top] = plan_now
        return state
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
