"""What user space knows of each live process, and what it fills in from it.

Events other than exec do not carry the executable, working directory or
terminal: the kernel side would have to resolve them on every file write.
The table learns them from exec events, fork events (a child inherits them),
chdir records and, for processes that started before the sensor, /proc.

In the reduced tier the kernel side sends less (see bpf/process.bpf.c), and
the table also supplies argv and the executable (from the execve-entry
record), the parent and start time of processes it has not seen forked, and
the credentials, all from /proc where the fork tracking does not reach.
"""

from __future__ import annotations

import os.path
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ringside_schema import EventBase, WireContext

from ._aux import AT_FDCWD, CwdChange, ExecArgs
from ._procfs import ProcSnapshot, read_process, readlink_cwd, readlink_fd

# Both bounded: a sensor runs for months and must not grow with every pid it sees.
MAX_PROCESSES = 65536
MAX_PENDING_EXECS = 4096


@dataclass(slots=True)
class ProcInfo:
    pid: int
    start_ns: int | None
    entity_id: str | None
    ppid: int | None
    parent_entity_id: str | None
    executable: str | None
    cwd: str | None
    tty: str | None
    euid: int | None = None
    egid: int | None = None
    loginuid: int | None = None
    session_id: int | None = None
    # start_ns came from /proc (clock ticks) or is unknown, not from the kernel side
    start_from_proc: bool = False


class ProcessTable:
    def __init__(self, ctx: WireContext, reduced: bool, proc: Path = Path("/proc")) -> None:
        self._ctx = ctx
        self._reduced = reduced
        self._proc = proc
        self._procs: OrderedDict[int, ProcInfo] = OrderedDict()
        self._pending: OrderedDict[int, ExecArgs] = OrderedDict()
        self.evicted = 0
        self.proc_reads = 0

    def __len__(self) -> int:
        return len(self._procs)

    # ---- learning ----

    def _remember(self, info: ProcInfo) -> ProcInfo:
        self._procs[info.pid] = info
        self._procs.move_to_end(info.pid)
        if len(self._procs) > MAX_PROCESSES:
            self._procs.popitem(last=False)
            self.evicted += 1
        return info

    def _snapshot(self, pid: int) -> ProcSnapshot | None:
        self.proc_reads += 1
        return read_process(pid, self._proc)

    def _from_proc(self, pid: int, start_ns: int | None) -> ProcInfo:
        """A process first seen now: what /proc still says about it."""
        snap = self._snapshot(pid)
        if snap is None:
            return ProcInfo(pid, start_ns, None, None, None, None, None, None,
                            start_from_proc=start_ns is None)
        start = start_ns if start_ns is not None else snap.start_ns
        parent = self._procs.get(snap.ppid) if snap.ppid else None
        if parent is None and snap.ppid:
            psnap = self._snapshot(snap.ppid)
            pstart = psnap.start_ns if psnap else None
        else:
            pstart = parent.start_ns if parent else None
        return ProcInfo(
            pid=pid,
            start_ns=start,
            entity_id=self._ctx.entity_id(pid, start) if start is not None else None,
            ppid=snap.ppid,
            parent_entity_id=(
                parent.entity_id if parent
                else self._ctx.entity_id(snap.ppid, pstart) if snap.ppid and pstart is not None
                else None
            ),
            executable=snap.executable,
            cwd=snap.cwd,
            tty=snap.tty,
            euid=snap.euid,
            egid=snap.egid,
            loginuid=snap.loginuid,
            session_id=snap.session_id,
            start_from_proc=start_ns is None,
        )

    def _info_for(self, proc: dict[str, Any]) -> ProcInfo:
        pid, start = proc["pid"], proc["start_ns"]
        info = self._procs.get(pid)
        if info is not None and info.start_from_proc and start is not None:
            # First learnt from a record without a start time (a chdir), so its
            # start came from /proc in clock ticks; the kernel side's is the one
            # every event of this process carries.
            info.start_ns = start
            info.entity_id = proc["entity_id"]
            info.start_from_proc = False
        if info is not None and (start is None or info.start_ns == start):
            if info.ppid is None and proc["ppid"] is not None:
                info.ppid = proc["ppid"]
                info.parent_entity_id = proc["parent_entity_id"] or self._parent_entity_id(
                    proc["ppid"])
            return info
        # Unknown, or a reused pid: in the full tier the event has the
        # parentage already, and /proc only adds the rest.
        info = self._from_proc(pid, start)
        if proc["ppid"] is not None:
            info.ppid = proc["ppid"]
            info.parent_entity_id = proc["parent_entity_id"]
        if proc["entity_id"] is not None:
            info.entity_id = proc["entity_id"]
        if info.parent_entity_id is None and info.ppid:
            info.parent_entity_id = self._parent_entity_id(info.ppid)
        return self._remember(info)

    def _parent_entity_id(self, ppid: int) -> str | None:
        """The entity id of a parent the kernel side could not name (reduced tier)."""
        parent = self._procs.get(ppid)
        if parent is None:
            parent = self._remember(self._from_proc(ppid, None))
        return parent.entity_id

    # ---- auxiliary records ----

    def on_exec_args(self, rec: ExecArgs) -> None:
        self._pending[rec.pid] = rec
        self._pending.move_to_end(rec.pid)
        if len(self._pending) > MAX_PENDING_EXECS:
            self._pending.popitem(last=False)

    def on_cwd(self, rec: CwdChange) -> None:
        info = self._procs.get(rec.pid)
        if info is None:
            info = self._remember(self._from_proc(rec.pid, None))
        if rec.fd != AT_FDCWD or rec.path is None:
            info.cwd = readlink_cwd(rec.pid, self._proc)  # fchdir: only /proc knows
        elif rec.path.startswith("/"):
            info.cwd = os.path.normpath(rec.path)
        elif info.cwd is not None:
            info.cwd = os.path.normpath(os.path.join(info.cwd, rec.path))
        else:
            info.cwd = readlink_cwd(rec.pid, self._proc)

    def resolve_dir(self, pid: int, dfd: int) -> str | None:
        """Where a relative path of `pid` given with dirfd `dfd` starts (reduced tier)."""
        if dfd == AT_FDCWD:
            info = self._procs.get(pid)
            return info.cwd if info is not None and info.cwd else readlink_cwd(pid, self._proc)
        return readlink_fd(pid, dfd, self._proc)

    # ---- events ----

    def apply(self, event: EventBase) -> None:
        """Fill the event's process block from the table, and update the table."""
        proc = event.process.__dict__
        info = self._info_for(proc)
        kind = event.event
        if kind == "process.exec":
            self._on_exec(event, proc, info)
        if proc["executable"] is None:
            proc["executable"] = info.executable
        if proc["cwd"] is None:
            proc["cwd"] = info.cwd
        if proc["tty"] is None:
            proc["tty"] = info.tty
        if self._reduced:
            self._fill_reduced(proc, info)
        if kind == "process.fork":
            # The child inherits the rest.  Spelt out: dataclasses.replace
            # took 1.6 us here, this 0.5.
            child = event.__dict__["child"].__dict__
            self._remember(ProcInfo(
                pid=child["pid"], start_ns=child["start_ns"], entity_id=child["entity_id"],
                ppid=info.pid, parent_entity_id=info.entity_id, executable=info.executable,
                cwd=info.cwd, tty=info.tty, euid=info.euid, egid=info.egid,
                loginuid=info.loginuid, session_id=info.session_id,
                start_from_proc=info.start_from_proc))
        elif kind == "process.exit":
            self._procs.pop(proc["pid"], None)
            self._pending.pop(proc["pid"], None)

    def _on_exec(self, event: EventBase, proc: dict[str, Any], info: ProcInfo) -> None:
        values = event.__dict__
        if self._reduced:
            pending = self._pending.pop(proc["pid"], None)
            if pending is not None:
                self._apply_exec_args(values, proc, pending, info.cwd)
            else:
                # The entry record was lost or came from a thread we did not see:
                # /proc has the new image if the process still runs.
                snap = self._snapshot(proc["pid"])
                if snap is not None:
                    proc["args"] = snap.args
                    proc["executable"] = snap.executable
        info.executable = proc["executable"]
        if proc["cwd"] is not None:
            info.cwd = proc["cwd"]
        if proc["tty"] is not None:
            info.tty = proc["tty"]

    @staticmethod
    def _apply_exec_args(values: dict[str, Any], proc: dict[str, Any], rec: ExecArgs,
                         cwd: str | None) -> None:
        proc["args"] = rec.args
        values["filename"] = rec.filename
        truncated = []
        if rec.args_truncated:
            proc["args_truncated"] = True
            truncated.append("process.args")
        if rec.filename_truncated:
            truncated.append("filename")
        if truncated:
            values["truncated"] = (values["truncated"] or []) + truncated
        name = rec.filename
        if name is not None:
            if name.startswith("/"):
                proc["executable"] = os.path.normpath(name)
            elif cwd is not None:
                proc["executable"] = os.path.normpath(os.path.join(cwd, name))

    def _fill_reduced(self, proc: dict[str, Any], info: ProcInfo) -> None:
        for key in ("ppid", "start_ns", "entity_id", "parent_entity_id", "euid", "egid",
                    "loginuid", "session_id"):
            if proc[key] is None:
                proc[key] = getattr(info, key)
        if info.ppid is None and proc["ppid"] is not None:
            info.ppid = proc["ppid"]
