"""Cgroup ids to cgroup paths, through the mounted cgroup filesystems.

The id on every event is what ``bpf_get_current_cgroup_id()`` returns: the
inode number of the task's cgroup directory in the v2 (unified) hierarchy.
Three ways lead from it to a path, cheapest first:

1. what the ``cgroup`` BPF area told us when the cgroup was made (``learn``);
2. ``open_by_handle_at(2)`` on the v2 mount: cgroupfs takes the id itself as
   a file handle (kernfs, handle type 0xfe), and ``/proc/self/fd`` gives the
   path back.  Needs CAP_DAC_READ_SEARCH, which the sensor has as root;
3. a walk of the whole v2 tree, matching directory inode numbers, when (2)
   is refused; repeated at most every ``rescan_every`` seconds.

A cgroup that is gone before any of these saw it cannot be resolved; the
``cgroup`` area exists to make that rare.

v1 hierarchies have ids of their own that no event carries, so they are
reached through a process: ``/proc/<pid>/cgroup`` (see ``v1_paths``).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

FILEID_KERNFS = 0xFE  # include/linux/exportfs.h
_O_PATH = getattr(os, "O_PATH", 0o10000000)


@dataclass
class Mounts:
    """Where the cgroup hierarchies are mounted."""

    unified: str | None = None  # the v2 hierarchy
    # v1 hierarchies: controllers ("cpu,cpuacct", "name=systemd") -> mount point
    v1: dict[str, str] = field(default_factory=dict)


def read_mounts(mountinfo: str = "/proc/self/mountinfo") -> Mounts:
    mounts = Mounts()
    try:
        lines = Path(mountinfo).read_text().splitlines()
    except OSError:
        return mounts
    for line in lines:
        # id parent major:minor root mountpoint options [optional...] - fstype source superoptions
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, rfields = left.split(), right.split()
        if len(fields) < 5 or len(rfields) < 3:
            continue
        fstype, mountpoint, root = rfields[0], _unoctal(fields[4]), fields[3]
        if root != "/":
            continue  # a bind mount of a sub-tree: its paths are not the kernel's paths
        if fstype == "cgroup2" and mounts.unified is None:
            mounts.unified = mountpoint
        elif fstype == "cgroup":
            opts = [o for o in rfields[2].split(",") if o not in ("rw", "ro")
                    and not o.startswith(("release_agent=", "clone_children", "noprefix", "xattr"))]
            mounts.v1.setdefault(",".join(opts), mountpoint)
    return mounts


def _unoctal(text: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    if "\\" not in text:
        return text
    return text.encode().decode("unicode_escape")


class _FileHandle(ctypes.Structure):
    _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int),
                ("f_handle", ctypes.c_ubyte * 8)]


class CgroupFs:
    """Resolves v2 cgroup ids to paths (relative to the hierarchy root, e.g. ``/a/b``)."""

    def __init__(self, mounts: Mounts | None = None, *, rescan_every: float = 5.0,
                 max_known: int = 65536) -> None:
        self.mounts = mounts if mounts is not None else read_mounts()
        self.rescan_every = rescan_every
        self.max_known = max_known
        self._known: dict[int, str] = {}
        self._mount_fd: int | None = None
        self._by_handle = True
        self._libc: ctypes.CDLL | None = None
        self._last_scan = -1e9
        self.handle_lookups = 0
        self.scans = 0
        if self.mounts.unified is not None:
            try:
                self._mount_fd = os.open(self.mounts.unified, os.O_RDONLY | os.O_DIRECTORY)
                self._libc = ctypes.CDLL(None, use_errno=True)
                self._libc.open_by_handle_at  # noqa: B018 - fails early if libc lacks it
            except (OSError, AttributeError) as exc:
                log.info("cgroup ids will be resolved by scanning %s (%s)",
                         self.mounts.unified, exc)
                self._by_handle = False

    def close(self) -> None:
        if self._mount_fd is not None:
            os.close(self._mount_fd)
            self._mount_fd = None

    def learn(self, cgroup_id: int, path: str) -> None:
        """Remember a path the kernel told us (cgroup_mkdir)."""
        if len(self._known) >= self.max_known:
            # Oldest first: cgroups that were made long ago are the likeliest gone.
            for key in list(self._known)[: self.max_known // 8]:
                del self._known[key]
        self._known[cgroup_id] = path

    def forget(self, cgroup_id: int) -> None:
        self._known.pop(cgroup_id, None)

    def known(self, cgroup_id: int) -> str | None:
        return self._known.get(cgroup_id)

    def path_of(self, cgroup_id: int) -> str | None:
        """The path of a v2 cgroup, or None if it is gone (or there is no v2 hierarchy)."""
        path = self._known.get(cgroup_id)
        if path is not None:
            return path
        if self.mounts.unified is None:
            return None
        if cgroup_id == 1:
            return "/"
        if self._by_handle:
            path = self._open_by_handle(cgroup_id)
            if path is not None:
                return path
            if self._by_handle:
                return None  # the handle was understood: the cgroup is gone
        now = time.monotonic()
        if now - self._last_scan >= self.rescan_every:
            self._last_scan = now
            self.scan()
        return self._known.get(cgroup_id)

    def _open_by_handle(self, cgroup_id: int) -> str | None:
        assert self._libc is not None and self._mount_fd is not None
        self.handle_lookups += 1
        handle = _FileHandle(8, FILEID_KERNFS, (ctypes.c_ubyte * 8)(*struct.pack("<Q", cgroup_id)))
        fd = self._libc.open_by_handle_at(self._mount_fd, ctypes.byref(handle),
                                          _O_PATH | os.O_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            if err in (errno.ESTALE, errno.ENOENT):
                return None
            # EPERM (no CAP_DAC_READ_SEARCH), EOPNOTSUPP, ENOSYS: fall back to scanning.
            log.info("open_by_handle_at on %s refused (%s): scanning instead",
                     self.mounts.unified, os.strerror(err))
            self._by_handle = False
            return None
        try:
            full = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return None
        finally:
            os.close(fd)
        return self._relative(full)

    def _relative(self, full: str) -> str | None:
        root = self.mounts.unified
        assert root is not None
        if full == root:
            return "/"
        if full.startswith(root + "/"):
            return full[len(root):]
        return None

    def scan(self) -> int:
        """Walk the v2 tree and remember every directory's id; returns how many."""
        root = self.mounts.unified
        if root is None:
            return 0
        self.scans += 1
        found = 0
        stack = [root]
        while stack:
            top = stack.pop()
            try:
                entries = list(os.scandir(top))
            except OSError:
                continue  # removed while we walked
            for entry in entries:
                try:
                    if not entry.is_dir(follow_symlinks=False):
                        continue
                    ino = entry.inode()
                except OSError:
                    continue
                rel = self._relative(entry.path)
                if rel is not None:
                    self._known[ino] = rel
                    found += 1
                stack.append(entry.path)
        return found

    def v1_paths(self, pid: int) -> list[str]:
        """The v1 cgroup paths of a live process (``/proc/<pid>/cgroup``), v2 left out."""
        try:
            text = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            return []
        paths = []
        for line in text.splitlines():
            hier, _, rest = line.partition(":")
            _controllers, _, path = rest.partition(":")
            if hier != "0" and path and path != "/":
                paths.append(path)
        return paths
