"""Process events (``process.fork``, ``process.exec``, ``process.exit``) and their decoders.

Byte schema of the records (``bpf/events.h``), after the 32-byte header::

    rs_process (80 bytes)
      0 start_ns u64        8 parent_start_ns u64    16 cgroup_id u64
     24 pid u32            28 tid u32               32 ppid u32
     36 uid u32            40 gid u32               44 euid u32
     48 egid u32           52 loginuid u32          56 sessionid u32
     60 flags u32          64 comm char[16]

    rs_fork_event   hdr, proc, child_start_ns u64, child_pid u32, pad u32, rs_varlen
    rs_exec_event   hdr, proc, old_tid u32, pad u32, rs_varlen
                    fields: ARGV, EXE, FILENAME, CWD, TTY_NAME
    rs_exit_event   hdr, proc, exit_code u32 (wait status), pad u32, rs_varlen
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from . import wire as w
from ._common import EventBase, Process, WireContext, _Model, build


class ForkChild(_Model):
    pid: int
    entity_id: str | None
    start_ns: int | None


class ProcessFork(EventBase):
    """A process created a new process (threads are not reported)."""

    event: Literal["process.fork"]
    child: ForkChild


class ProcessExec(EventBase):
    """A process started a new program; ``process`` describes it after the exec."""

    event: Literal["process.exec"]
    filename: str | None = Field(description="the path given to execve, as given")


class ProcessExit(EventBase):
    """The last thread of a process exited."""

    event: Literal["process.exit"]
    exit_code: int | None = Field(description="exit status 0-255; null if killed or unknown")
    exit_signal: int | None = Field(description="the signal that killed it, if one did")
    core_dumped: bool
    duration_ns: int | None = Field(description="process lifetime")


FORK = w.CStruct(
    "rs_fork_event",
    [("hdr", "32s"), ("proc", "80s"), ("child_start_ns", "Q"), ("child_pid", "I"),
     ("pad", "I"), ("vl", "8s")],
)
EXEC = w.CStruct(
    "rs_exec_event",
    [("hdr", "32s"), ("proc", "80s"), ("old_tid", "I"), ("pad", "I"), ("vl", "8s")],
)
EXIT = w.CStruct(
    "rs_exit_event",
    [("hdr", "32s"), ("proc", "80s"), ("exit_code", "I"), ("pad", "I"), ("vl", "8s")],
)
_FORK_OFF, _FORK_FIXED = FORK.part("child_start_ns", "child_pid")
_EXEC_OFF, _EXEC_FIXED = EXEC.part("old_tid", "old_tid")
_EXIT_OFF, _EXIT_FIXED = EXIT.part("exit_code", "exit_code")

EXIT_CODE_UNKNOWN = 0xFFFFFFFF


def tty_name(kernel_name: str) -> str:
    """``pts3`` (tty_struct.name) as users know it: ``pts/3``, the name under /dev."""
    if kernel_name.startswith("pts") and kernel_name[3:].isdigit():
        return f"pts/{kernel_name[3:]}"
    return kernel_name


def split_argv(data: bytes) -> list[str]:
    """NUL-separated arguments; a final NUL ends the last one rather than starting another."""
    if data.endswith(b"\0"):
        data = data[:-1]
    return [w.text(a) for a in data.split(b"\0")]


# Decoded process blocks kept at most (WireContext.process_cache); then it starts afresh.
PROCESS_CACHE_MAX = 4096


def process_block(buf: Any, off: int, ctx: WireContext) -> dict[str, Any]:
    """The ``process`` values of an rs_process at ``off`` (a fresh dict: callers fill it).

    The 80 bytes of a thread's block repeat from event to event, so decoded
    blocks are kept by their bytes; a hit costs a slice and a dict copy.
    (The sensor's C decoder keeps the same cache the same way, and builds a
    missing block with :func:`build_process_block`.)
    """
    raw = bytes(buf[off : off + w.PROCESS.size])
    cached = ctx.process_cache.get(raw)
    if cached is None:
        if len(ctx.process_cache) >= PROCESS_CACHE_MAX:
            ctx.process_cache.clear()
        cached = ctx.process_cache[raw] = build_process_block(raw, ctx)
    return cached.copy()


def build_process_block(buf: Any, ctx: WireContext) -> dict[str, Any]:
    """The ``process`` values of the rs_process that ``buf`` starts with (uncached)."""
    off = 0
    (start_ns, pstart, cgroup_id, pid, tid, ppid, uid, gid, euid, egid, loginuid,
     sessionid, flags, comm) = w.PROCESS.unpack_from(buf, off)
    creds = flags & w.PROC_F_CREDS
    has_start = flags & w.PROC_F_START
    has_parent = flags & w.PROC_F_PARENT
    return {
        "pid": pid,
        "tid": tid,
        "ppid": ppid if has_parent else None,
        "entity_id": ctx.entity_id(pid, start_ns) if has_start else None,
        "parent_entity_id": (
            ctx.entity_id(ppid, pstart) if has_parent and ppid and flags & w.PROC_F_PSTART
            else None
        ),
        "start_ns": start_ns if has_start else None,
        "uid": uid,
        "gid": gid,
        "euid": euid if creds else None,
        "egid": egid if creds else None,
        "loginuid": loginuid if creds and loginuid != w.UNSET_ID else None,
        "session_id": sessionid if creds and sessionid != w.UNSET_ID else None,
        "comm": w.comm(comm),
        "executable": None,
        "args": None,
        "args_truncated": False,
        "cwd": None,
        "tty": None,
        "cgroup_id": cgroup_id,
    }


def event_values(event: str, hdr: w.Header, ctx: WireContext) -> dict[str, Any]:
    """The fields of :class:`EventBase`, in declaration order; ``process`` is set last."""
    return {
        "event": event,
        "timestamp": ctx.clock.rfc3339(hdr.ts_ns),
        "ktime_ns": hdr.ts_ns,
        "host": ctx.host,
        "sensor": ctx.sensor(hdr.cpu, hdr.seq),
        "process": None,
        "container": None,
        "truncated": None,
    }


def note_truncated(values: dict[str, Any], name: str) -> None:
    if values["truncated"] is None:
        values["truncated"] = [name]
    else:
        values["truncated"].append(name)


@w.decoder(w.EVENT_PROCESS_FORK)
def decode_fork(buf: Any, off: int, hdr: w.Header, ctx: WireContext) -> ProcessFork:
    proc = process_block(buf, off + w.HEADER.size, ctx)
    child_start, child_pid = _FORK_FIXED.unpack_from(buf, off + _FORK_OFF)
    w.parse_varlen(buf, off + FORK.offsets["vl"], off + hdr.size)
    known = hdr.flags & w.HDR_F_REDUCED == 0 or child_start != 0
    values = event_values("process.fork", hdr, ctx)
    values["process"] = build(Process, proc)
    values["child"] = build(ForkChild, {
        "pid": child_pid,
        "entity_id": ctx.entity_id(child_pid, child_start) if known else None,
        "start_ns": child_start if known else None,
    })
    return build(ProcessFork, values)


@w.decoder(w.EVENT_PROCESS_EXEC)
def decode_exec(buf: Any, off: int, hdr: w.Header, ctx: WireContext) -> ProcessExec:
    proc = process_block(buf, off + w.HEADER.size, ctx)
    fields = w.parse_varlen(buf, off + EXEC.offsets["vl"], off + hdr.size)
    values = event_values("process.exec", hdr, ctx)
    apply_exec_fields(values, proc, fields)
    values["process"] = build(Process, proc)
    return build(ProcessExec, values)


# Text fields of an exec: (vl type, dotted name, key, in the process block?).
_EXEC_TEXT_FIELDS = (
    (w.VL_EXE, "process.executable", "executable", True),
    (w.VL_CWD, "process.cwd", "cwd", True),
    (w.VL_FILENAME, "filename", "filename", False),
)


def apply_exec_fields(values: dict[str, Any], proc: dict[str, Any], fields: w.VarFields) -> None:
    """Put the variable-length fields of an exec (or the reduced tier's args record) in place."""
    values.setdefault("filename", None)
    if w.VL_ARGV in fields:
        data, flags = fields[w.VL_ARGV]
        proc["args"] = split_argv(data)
        if flags & w.VL_F_TRUNCATED:
            proc["args_truncated"] = True
            note_truncated(values, "process.args")
    for vl_type, dotted, key, in_process in _EXEC_TEXT_FIELDS:
        if vl_type in fields:
            data, flags = fields[vl_type]
            (proc if in_process else values)[key] = w.text(data)
            if flags & w.VL_F_TRUNCATED:
                note_truncated(values, dotted)
    if w.VL_TTY_NAME in fields:
        proc["tty"] = tty_name(w.text(fields[w.VL_TTY_NAME][0]))


@w.decoder(w.EVENT_PROCESS_EXIT)
def decode_exit(buf: Any, off: int, hdr: w.Header, ctx: WireContext) -> ProcessExit:
    proc = process_block(buf, off + w.HEADER.size, ctx)
    (status,) = _EXIT_FIXED.unpack_from(buf, off + _EXIT_OFF)
    w.parse_varlen(buf, off + EXIT.offsets["vl"], off + hdr.size)
    values = event_values("process.exit", hdr, ctx)
    values["process"] = build(Process, proc)
    values.update(exit_status(status))
    start = proc["start_ns"]
    values["duration_ns"] = hdr.ts_ns - start if start is not None and start <= hdr.ts_ns else None
    return build(ProcessExit, values)


def exit_status(status: int) -> dict[str, Any]:
    """exit_code, exit_signal and core_dumped of a wait(2) status."""
    if status == EXIT_CODE_UNKNOWN:
        return {"exit_code": None, "exit_signal": None, "core_dumped": False}
    signal = status & 0x7F
    return {
        "exit_code": None if signal else (status >> 8) & 0xFF,
        "exit_signal": signal or None,
        "core_dumped": bool(status & 0x80),
    }
