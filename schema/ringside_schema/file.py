"""File events (``file.create`` ... ``file.link``) and their decoder.

Byte schema of ``struct rs_file_event`` (``bpf/events.h``)::

      0 rs_header   32 bytes
     32 rs_process  80 bytes
    112 op u32      116 mode u32     120 uid u32      124 gid u32
    128 oflags u32  132 ret s32      136 dfd s32      140 dfd2 s32
    144 rs_varlen   then fields PATH, DIR, PATH_NEW, DIR_NEW, LINK_TARGET

A relative PATH comes with the DIR it starts from (full tier); the decoder
joins them.  Without a DIR (reduced tier), the context's ``resolve_dir``
(the sensor's process table: cwd, or /proc for a dirfd) supplies it.
"""

from __future__ import annotations

import posixpath
import stat
from typing import Any, Literal

from pydantic import Field

from . import wire as w
from ._common import EventBase, Process, WireContext, _Model, build
from .errors import WireFormatError
from .process import event_values, note_truncated, process_block

# enum rs_file_op -> syscall name; never renumbered
SYSCALLS = {
    1: "open", 2: "openat", 3: "openat2", 4: "creat", 5: "mkdir", 6: "mkdirat", 7: "mknod",
    8: "mknodat", 9: "truncate", 10: "ftruncate", 11: "unlink", 12: "unlinkat", 13: "rmdir",
    14: "rename", 15: "renameat", 16: "renameat2", 17: "chmod", 18: "fchmod", 19: "fchmodat",
    20: "chown", 21: "fchown", 22: "lchown", 23: "fchownat", 24: "link", 25: "linkat",
    26: "symlink", 27: "symlinkat", 28: "fchmodat2",
}
_DIRECTORY_OPS = {"mkdir", "mkdirat", "rmdir"}
_SYMLINK_OPS = {"symlink", "symlinkat"}
_OPEN_OPS = {"open", "openat", "openat2", "creat"}
AT_REMOVEDIR = 0x200
UNCHANGED_ID = 0xFFFFFFFF

FileType = Literal["file", "directory", "symlink", "fifo", "socket", "char_device",
                   "block_device"]


class FileInfo(_Model):
    """The file an event is about."""

    path: str | None = Field(
        description="absolute path as the process named it (rename: the new name; "
        "link: the new link)"
    )
    old_path: str | None = Field(description="rename: the old name")
    target: str | None = Field(
        description="link: the existing file (hard link) or the link's text as given (symlink)"
    )
    type: FileType | None = Field(
        description="what kind of file: where the call says (mkdir, symlink, mknod, a "
        "create), or, for the open family in the full tier, the file that was opened "
        "(a terminal's /dev/ptmx: char_device); null when not known"
    )
    mode: int | None = Field(description="chmod: the new mode; create: the requested mode")
    uid: int | None = Field(description="chown: the new owner; null when unchanged")
    gid: int | None = Field(description="chown: the new group; null when unchanged")
    flags: int | None = Field(description="open(2) flags, or the *at flags argument")
    syscall: str = Field(description="the system call, e.g. openat or renameat2")
    result: int = Field(description="the call's return value; negative: -errno (failed)")


class _FileEvent(EventBase):
    file: FileInfo


class FileCreate(_FileEvent):
    """A file, directory, device node or FIFO was created."""

    event: Literal["file.create"]


class FileModify(_FileEvent):
    """A file was opened for writing or truncated."""

    event: Literal["file.modify"]


class FileDelete(_FileEvent):
    """A file or directory was removed."""

    event: Literal["file.delete"]


class FileRename(_FileEvent):
    """A file was renamed or moved."""

    event: Literal["file.rename"]


class FileChmod(_FileEvent):
    """A file's mode changed."""

    event: Literal["file.chmod"]


class FileChown(_FileEvent):
    """A file's owner or group changed."""

    event: Literal["file.chown"]


class FileLink(_FileEvent):
    """A hard or symbolic link was made."""

    event: Literal["file.link"]


FILE_EVENTS: dict[int, tuple[str, type[_FileEvent]]] = {
    w.EVENT_FILE_CREATE: ("file.create", FileCreate),
    w.EVENT_FILE_MODIFY: ("file.modify", FileModify),
    w.EVENT_FILE_DELETE: ("file.delete", FileDelete),
    w.EVENT_FILE_RENAME: ("file.rename", FileRename),
    w.EVENT_FILE_CHMOD: ("file.chmod", FileChmod),
    w.EVENT_FILE_CHOWN: ("file.chown", FileChown),
    w.EVENT_FILE_LINK: ("file.link", FileLink),
}

FILE = w.CStruct(
    "rs_file_event",
    [("hdr", "32s"), ("proc", "80s"), ("op", "I"), ("mode", "I"), ("uid", "I"), ("gid", "I"),
     ("oflags", "I"), ("ret", "i"), ("dfd", "i"), ("dfd2", "i"), ("vl", "8s")],
)
_FIXED_OFF, _FIXED = FILE.part("op", "dfd2")

_MODE_TYPES: dict[int, FileType] = {
    stat.S_IFREG: "file", stat.S_IFDIR: "directory", stat.S_IFLNK: "symlink",
    stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket", stat.S_IFCHR: "char_device",
    stat.S_IFBLK: "block_device",
}


def _resolve(fields: w.VarFields, path_type: int, dir_type: int, dfd: int, pid: int,
             ctx: WireContext, values: dict[str, Any], name: str) -> str | None:
    """The absolute path of one path argument, or what is known of it."""
    if path_type not in fields:
        return None
    raw, flags = fields[path_type]
    path = w.text(raw)
    if flags & w.VL_F_TRUNCATED:
        note_truncated(values, name)
    if path.startswith("/"):
        return normalize(path)
    base: str | None = None
    if dir_type in fields:
        dir_raw, dir_flags = fields[dir_type]
        base = w.text(dir_raw)
        if dir_flags & w.VL_F_TRUNCATED:
            note_truncated(values, name)
    elif ctx.resolve_dir is not None:
        base = ctx.resolve_dir(pid, dfd)
    if base is None:
        return path  # relative: nobody could say where it starts
    if not path:
        return base  # AT_EMPTY_PATH: the descriptor's file itself
    return normalize(f"{base.rstrip('/')}/{path}")


def normalize(path: str) -> str:
    """Lexically tidy an absolute path ('//', '.', '..'), skipping the work when there is none."""
    if "/." in path or "//" in path or (path.endswith("/") and path != "/"):
        # normpath keeps a leading '//' (POSIX leaves it implementation-defined);
        # Linux reads it as '/'.
        return "/" + posixpath.normpath(path).lstrip("/")
    return path


def _file_type(syscall: str, mode: int, oflags: int, etype: int) -> FileType | None:
    if syscall in _DIRECTORY_OPS or (syscall == "unlinkat" and oflags & AT_REMOVEDIR):
        return "directory"
    if syscall in _SYMLINK_OPS:
        return "symlink"
    if syscall in ("mknod", "mknodat"):
        # mknod with no type bits makes a regular file
        return _MODE_TYPES.get(stat.S_IFMT(mode) or stat.S_IFREG)
    if syscall in _OPEN_OPS and stat.S_IFMT(mode):
        # the opened file's type, read from its inode (the sensor clears the
        # mode argument's own type bits)
        return _MODE_TYPES.get(stat.S_IFMT(mode))
    if etype == w.EVENT_FILE_CREATE:
        return "file"  # the open family creates regular files
    return None


def decode_file(buf: Any, off: int, hdr: w.Header, ctx: WireContext) -> _FileEvent:
    name, model = FILE_EVENTS[hdr.type]
    proc = process_block(buf, off + w.HEADER.size, ctx)
    op, mode, uid, gid, oflags, ret, dfd, dfd2 = _FIXED.unpack_from(buf, off + _FIXED_OFF)
    syscall = SYSCALLS.get(op)
    if syscall is None:
        raise WireFormatError("malformed", f"unknown file op {op}")
    fields = w.parse_varlen(buf, off + FILE.offsets["vl"], off + hdr.size)
    values = event_values(name, hdr, ctx)
    pid = proc["pid"]
    first = _resolve(fields, w.VL_PATH, w.VL_DIR, dfd, pid, ctx, values, "file.path")
    second = (_resolve(fields, w.VL_PATH_NEW, w.VL_DIR_NEW, dfd2, pid, ctx, values,
                       "file.path") if w.VL_PATH_NEW in fields else None)
    path, old_path, target = first, None, None
    if hdr.type == w.EVENT_FILE_RENAME:
        path, old_path = second, first
    elif hdr.type == w.EVENT_FILE_LINK:
        path = second
        if syscall in _SYMLINK_OPS:
            if w.VL_LINK_TARGET in fields:
                raw, flags = fields[w.VL_LINK_TARGET]
                target = w.text(raw)
                if flags & w.VL_F_TRUNCATED:
                    note_truncated(values, "file.target")
        else:
            target = first
    chmod = hdr.type == w.EVENT_FILE_CHMOD
    values["process"] = build(Process, proc)
    values["file"] = build(FileInfo, {
        "path": path,
        "old_path": old_path,
        "target": target,
        "type": _file_type(syscall, mode, oflags, hdr.type),
        "mode": stat.S_IMODE(mode) if chmod or hdr.type == w.EVENT_FILE_CREATE else None,
        "uid": uid if hdr.type == w.EVENT_FILE_CHOWN and uid != UNCHANGED_ID else None,
        "gid": gid if hdr.type == w.EVENT_FILE_CHOWN and gid != UNCHANGED_ID else None,
        "flags": oflags if oflags else None,
        "syscall": syscall,
        "result": ret,
    })
    return build(model, values)


for _etype in FILE_EVENTS:
    w.decoder(_etype)(decode_file)
