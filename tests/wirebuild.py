"""Builds ring records byte by byte, as the BPF programs lay them out (bpf/events.h).

Independent of the decoders' unpacking code: fields are packed from the C
order written out here, so a decoder reading the wrong offset fails a test.
"""

from __future__ import annotations

import struct

WIRE_VERSION = 1
PROC_ALL = 0b1111  # RS_PROC_F_CREDS | PARENT | START | PSTART


def header(etype: int, size: int, *, ts_ns: int = 5_000_000_000, seq: int = 1, cpu: int = 0,
           version: int = WIRE_VERSION, flags: int = 0) -> bytes:
    return struct.pack("<QQIHHHHI", ts_ns, seq, size, etype, cpu, version, flags, 0)


def process(*, pid: int = 100, tid: int = 100, ppid: int = 1, uid: int = 1000, gid: int = 1000,
            euid: int = 1000, egid: int = 1000, loginuid: int = 1000, sessionid: int = 3,
            start_ns: int = 4_000_000_000, parent_start_ns: int = 1_000_000,
            cgroup_id: int = 1, flags: int = PROC_ALL, comm: bytes = b"bash") -> bytes:
    return struct.pack("<QQQIIIIIIIIII16s", start_ns, parent_start_ns, cgroup_id, pid, tid,
                       ppid, uid, gid, euid, egid, loginuid, sessionid, flags, comm)


def varlen(fields: list[tuple[int, int, bytes]]) -> bytes:
    body = b"".join(struct.pack("<HHI", t, f, len(d)) + d for t, f, d in fields)
    return struct.pack("<II", len(fields), len(body)) + body


def record(etype: int, fixed: bytes, fields: list[tuple[int, int, bytes]] = (),  # type: ignore[assignment]
           **hdr: int) -> bytes:
    """header + fixed part + tail, with the header's size filled in."""
    tail = varlen(list(fields))
    size = 32 + len(fixed) + len(tail)
    return header(etype, size, **hdr) + fixed + tail


def exec_record(fields: list[tuple[int, int, bytes]], *, old_tid: int = 100,
                **proc: object) -> bytes:
    return record(2, process(**proc) + struct.pack("<II", old_tid, 0), fields)  # type: ignore[arg-type]


def exit_record(status: int, **proc: object) -> bytes:
    return record(3, process(**proc) + struct.pack("<II", status, 0))  # type: ignore[arg-type]


def fork_record(child_pid: int, child_start_ns: int, **proc: object) -> bytes:
    return record(1, process(**proc) + struct.pack("<QII", child_start_ns, child_pid, 0))  # type: ignore[arg-type]


def file_record(etype: int, op: int, fields: list[tuple[int, int, bytes]], *, mode: int = 0,
                uid: int = 0xFFFFFFFF, gid: int = 0xFFFFFFFF, oflags: int = 0, ret: int = 0,
                dfd: int = -100, dfd2: int = -100, **proc: object) -> bytes:
    fixed = struct.pack("<IIIIIiii", op, mode, uid, gid, oflags, ret, dfd, dfd2)
    return record(etype, process(**proc) + fixed, fields)  # type: ignore[arg-type]


def tty_record(fields: list[tuple[int, int, bytes]], *, length: int, skipped: int = 0,
               rows: int = 24, cols: int = 80, **proc: object) -> bytes:
    fixed = struct.pack("<IIHHI", length, skipped, rows, cols, 0)
    return record(32, process(**proc) + fixed, fields)  # type: ignore[arg-type]
