"""Auxiliary records: state for the process table, never published.

Byte schema (``bpf/events.h``), after the 32-byte header::

    rs_aux_exec_args   pid u32, tid u32, rs_varlen     fields: FILENAME, ARGV
    rs_aux_cwd         pid u32, tid u32, fd s32, pad u32, rs_varlen   field: CWD
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ringside_schema import WireContext, wire
from ringside_schema.process import split_argv

AUX_EXEC_ARGS = wire.CStruct(
    "rs_aux_exec_args", [("hdr", "32s"), ("pid", "I"), ("tid", "I"), ("vl", "8s")]
)
AUX_CWD = wire.CStruct(
    "rs_aux_cwd",
    [("hdr", "32s"), ("pid", "I"), ("tid", "I"), ("fd", "i"), ("pad", "I"), ("vl", "8s")],
)
_ARGS_OFF, _ARGS_FIXED = AUX_EXEC_ARGS.part("pid", "tid")
_CWD_OFF, _CWD_FIXED = AUX_CWD.part("pid", "fd")
AT_FDCWD = -100


@dataclass(slots=True)
class ExecArgs:
    """argv and filename as passed to execve, read at its entry (reduced tier)."""

    pid: int
    tid: int
    filename: str | None
    filename_truncated: bool
    args: list[str] | None
    args_truncated: bool


@dataclass(slots=True)
class CwdChange:
    """A successful chdir (path as given, or resolved by the kernel) or fchdir (fd)."""

    pid: int
    tid: int
    fd: int
    path: str | None
    truncated: bool


def decode_exec_args(buf: Any, off: int, hdr: wire.Header, ctx: WireContext) -> ExecArgs:
    pid, tid = _ARGS_FIXED.unpack_from(buf, off + _ARGS_OFF)
    fields = wire.parse_varlen(buf, off + AUX_EXEC_ARGS.offsets["vl"], off + hdr.size)
    filename, fflags = fields.get(wire.VL_FILENAME, (None, 0))
    argv, aflags = fields.get(wire.VL_ARGV, (None, 0))
    return ExecArgs(
        pid=pid,
        tid=tid,
        filename=wire.text(filename) if filename is not None else None,
        filename_truncated=bool(fflags & wire.VL_F_TRUNCATED),
        args=split_argv(argv) if argv is not None else None,
        args_truncated=bool(aflags & wire.VL_F_TRUNCATED),
    )


def decode_cwd(buf: Any, off: int, hdr: wire.Header, ctx: WireContext) -> CwdChange:
    pid, tid, fd = _CWD_FIXED.unpack_from(buf, off + _CWD_OFF)
    fields = wire.parse_varlen(buf, off + AUX_CWD.offsets["vl"], off + hdr.size)
    path, flags = fields.get(wire.VL_CWD, (None, 0))
    return CwdChange(
        pid=pid,
        tid=tid,
        fd=fd,
        path=wire.text(path) if path is not None else None,
        truncated=bool(flags & wire.VL_F_TRUNCATED),
    )


AUX_DECODERS = {
    wire.EVENT_AUX_EXEC_ARGS: decode_exec_args,
    wire.EVENT_AUX_CWD: decode_cwd,
}
