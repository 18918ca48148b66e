"""The code a run executed: git state, the uncommitted diff and the task's own source.

The git state comes from one ``git status`` call (plus ``git diff`` when the tree is
dirty); outside a repository, or without git, the git fields are None. For code outside
git, the digests of the task function's source and of its module file still identify it.
The stored copy of the diff is redacted; ``diff_digest`` is the digest of the real diff.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from mv_orchestration._version import __version__
from mv_orchestration.capture._git import GitState, read_git_state
from mv_orchestration.capture.jsonform import JsonForm
from mv_orchestration.capture.redact import redact_text, strip_url_credentials
from mv_orchestration.hashing.digest import digest_bytes

logger = logging.getLogger(__name__)

DEFAULT_MAX_DIFF_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class CodeInfo(JsonForm):
    """Git state and source digests of a run's code."""

    commit: str | None = None
    branch: str | None = None
    remote_url: str | None = None
    dirty: bool | None = None
    diff_digest: str | None = None
    diff_size: int | None = None
    diff_stored: bool = False
    diff_redacted: bool = False
    untracked_count: int | None = None
    source: str | None = None
    source_digest: str | None = None
    module_digest: str | None = None
    package_version: str = __version__


@dataclass(frozen=True)
class CodeCapture:
    """:class:`CodeInfo` plus the uncommitted diff to store as an artifact (or None)."""

    info: CodeInfo
    diff: bytes | None


def _redact_diff(diff: bytes) -> bytes:
    """Redact the text parts of a diff; ``GIT binary patch`` sections stay byte-exact."""
    text = diff.decode("utf-8", "surrogateescape")
    out: list[str] = []
    segment: list[str] = []
    binary = False
    for line in text.splitlines(keepends=True):
        if line.startswith("diff --git "):
            binary = False
        elif line.rstrip("\n") == "GIT binary patch":
            out.append(redact_text("".join(segment), code=True))
            segment = []
            binary = True
        (out if binary else segment).append(line)
    out.append(redact_text("".join(segment), code=True))
    return "".join(out).encode("utf-8", "surrogateescape")


_REDACTED_DIFFS: dict[str, bytes] = {}


def _stored_diff(digest: str, raw: bytes) -> bytes:
    """The redacted diff to store, cached for the latest raw diff digest."""
    cached = _REDACTED_DIFFS.get(digest)
    if cached is None:
        cached = _redact_diff(raw)
        _REDACTED_DIFFS.clear()
        _REDACTED_DIFFS[digest] = cached
    return cached


def _git_info(state: GitState | None) -> tuple[CodeInfo, bytes | None]:
    if state is None:
        return CodeInfo(), None
    stored = (
        _stored_diff(state.diff_digest, state.diff) if state.diff and state.diff_digest else None
    )
    info = CodeInfo(
        commit=state.commit,
        branch=redact_text(state.branch) if state.branch else None,
        remote_url=strip_url_credentials(state.remote_url) if state.remote_url else None,
        dirty=state.dirty,
        untracked_count=state.untracked_count,
        diff_digest=state.diff_digest,
        diff_size=state.diff_size,
        diff_stored=stored is not None,
        diff_redacted=stored is not None and stored != state.diff,
    )
    return info, stored


_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}


def _file_digest(path: str) -> str | None:
    try:
        stat = os.stat(path)
        key = (path, stat.st_mtime_ns, stat.st_size)
        cached = _FILE_DIGESTS.get(key)
        if cached is None:
            with open(path, "rb") as handle:
                cached = digest_bytes(handle.read())
            _FILE_DIGESTS[key] = cached
        return cached
    except OSError:
        return None


def _unwrap(code_of: Any) -> Any:
    """The function behind decorators (``functools.wraps``) and ``functools.partial``."""
    target = code_of
    while isinstance(target, functools.partial):
        target = target.func
    return inspect.unwrap(target)


def _source_file(code_of: Any) -> str | None:
    try:
        return inspect.getsourcefile(_unwrap(code_of))
    except TypeError:
        return None


def _source_info(code_of: Any) -> dict[str, Any]:
    target = _unwrap(code_of)
    if isinstance(target, ModuleType):
        name = target.__name__
    else:
        name = f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', '?')}"
    try:
        source_digest: str | None = digest_bytes(inspect.getsource(target).encode("utf-8"))
    except (OSError, TypeError) as exc:
        logger.debug("no source for %s: %s", name, exc)
        source_digest = None
    path = _source_file(target)
    return {
        "source": redact_text(name),
        "source_digest": source_digest,
        "module_digest": _file_digest(path) if path else None,
    }


def capture_code(
    code_of: Any = None,
    *,
    cwd: str | os.PathLike[str] | None = None,
    store_diff: bool = True,
    max_diff_bytes: int = DEFAULT_MAX_DIFF_BYTES,
) -> CodeCapture:
    """Git state of ``cwd`` and source digests of ``code_of`` (a function, class or module).

    ``cwd`` defaults to the folder of ``code_of``'s file, else the working directory. The
    diff against the current commit is always digested; its redacted bytes are kept for
    storage when ``store_diff`` is true and the diff is at most ``max_diff_bytes`` long.
    """
    if cwd is None and code_of is not None:
        path = _source_file(code_of)
        cwd = os.path.dirname(os.path.abspath(path)) if path else None
    folder = os.fspath(cwd) if cwd is not None else os.getcwd()
    state = read_git_state(folder, keep_diff=store_diff, max_diff_bytes=max_diff_bytes)
    info, diff = _git_info(state)
    if code_of is not None:
        info = dataclasses.replace(info, **_source_info(code_of))
    return CodeCapture(info=info, diff=diff)
