"""Kernel change notification for the folders of a work tree (Linux inotify).

A :class:`TreeWatch` is armed on each folder *before* that folder is listed, so any later
change to one of its entries (write, attribute or time change, create, delete, rename)
queues an event. :meth:`TreeWatch.changed` drains the queue without blocking. A watch is
only offered on local file systems, where the kernel sees every write; on network and
FUSE file systems, on other platforms, or when inotify is out of resources, :func:`open_watch`
returns None and the caller falls back to stat-ing every file.

Limits, as for any inotify user: writes through a shared memory mapping and writes to a
hard link that lives outside the watched folders raise no event.
"""

from __future__ import annotations

import os
import sys
from typing import Any

_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
_MASK = (
    0x002  # IN_MODIFY
    | 0x004  # IN_ATTRIB
    | 0x008  # IN_CLOSE_WRITE
    | 0x040  # IN_MOVED_FROM
    | 0x080  # IN_MOVED_TO
    | 0x100  # IN_CREATE
    | 0x200  # IN_DELETE
    | 0x400  # IN_DELETE_SELF
    | 0x800  # IN_MOVE_SELF
    | 0x01000000  # IN_ONLYDIR
    | 0x02000000  # IN_DONT_FOLLOW
)
LOCAL_FILE_SYSTEMS = frozenset(
    {"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "overlay", "zfs", "f2fs", "bcachefs"}
)


class TreeWatch:
    """One inotify instance watching a set of folders; owned by the process that made it."""

    def __init__(self, fd: int, libc: Any) -> None:
        self._fd = fd
        self._libc = libc
        self._pid = os.getpid()
        self.complete = True

    def add(self, folder: str) -> None:
        """Watch ``folder``'s entries; a failure leaves :attr:`complete` false."""
        if self._libc.inotify_add_watch(self._fd, os.fsencode(folder), _MASK) < 0:
            self.complete = False

    def changed(self) -> bool:
        """True when anything changed since the last call (or the process forked since the
        watch was made: a child must not read its parent's queue)."""
        if os.getpid() != self._pid:
            return True
        seen = False
        while True:
            try:
                seen |= bool(os.read(self._fd, 65536))
            except BlockingIOError:
                return seen

    def close(self) -> None:
        """Release this process's handle on the inotify instance."""
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = -1


def open_watch(top: str) -> TreeWatch | None:
    """A new, empty watch for the tree at ``top``; None where inotify cannot be trusted."""
    if not sys.platform.startswith("linux") or file_system(top) not in LOCAL_FILE_SYSTEMS:
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
    return TreeWatch(fd, libc) if fd >= 0 else None


def file_system(path: str) -> str | None:
    """The type of the file system holding ``path`` (from ``/proc/self/mountinfo``)."""
    target = os.path.realpath(path)
    best, kind = "", None
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields, _, rest = line.partition(" - ")
        parts = fields.split(" ")
        if len(parts) < 5 or not rest:
            continue
        mount = _unescape(parts[4])
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, kind = mount, rest.split(" ", 1)[0]
    return kind


def _unescape(field: str) -> str:
    """Undo mountinfo's octal escapes (``\\040`` for a space, and so on)."""
    if "\\" not in field:
        return field
    return field.encode().decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")
