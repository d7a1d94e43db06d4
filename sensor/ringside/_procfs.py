"""What /proc says about a process: the fallback for what the kernel side did not send.

Every read is best effort: a process can exit between two reads, and then
the fields it could not give stay None.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
UNSET_ID = 0xFFFFFFFF


@dataclass(slots=True)
class ProcSnapshot:
    pid: int
    ppid: int | None = None
    start_ns: int | None = None  # from start_boottime, in clock ticks: 10 ms steps
    tty: str | None = None
    executable: str | None = None
    cwd: str | None = None
    args: list[str] | None = None
    euid: int | None = None
    egid: int | None = None
    loginuid: int | None = None
    session_id: int | None = None


def tty_from_nr(tty_nr: int) -> str | None:
    """The /dev name of a tty_nr from /proc/<pid>/stat (a dev_t, new encoding)."""
    if tty_nr == 0:
        return None
    major = (tty_nr >> 8) & 0xFFF
    minor = (tty_nr & 0xFF) | ((tty_nr >> 12) & 0xFFF00)
    if 136 <= major <= 143:  # UNIX98 pty slaves
        return f"pts/{(major - 136) * 256 + minor}"
    if major == 4:
        return f"tty{minor}" if minor < 64 else f"ttyS{minor - 64}"
    if major == 5 and minor == 1:
        return "console"
    return f"tty({major}:{minor})"


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _readlink(path: Path) -> str | None:
    try:
        target = os.readlink(path)
    except OSError:
        return None
    return target[: -len(" (deleted)")] if target.endswith(" (deleted)") else target


def _id(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return None if value == UNSET_ID else value


def read_process(pid: int, proc: Path = Path("/proc")) -> ProcSnapshot | None:
    """A snapshot of /proc/<pid>, or None if the process is gone."""
    base = proc / str(pid)
    stat = _read(base / "stat")
    if stat is None:
        return None
    snap = ProcSnapshot(pid=pid)
    # comm is in parentheses and may itself contain spaces and parentheses.
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        snap.ppid = int(fields[1])
        snap.tty = tty_from_nr(int(fields[4]))
        snap.start_ns = int(fields[19]) * (1_000_000_000 // CLK_TCK)
    except (IndexError, ValueError):
        return None
    status = _read(base / "status") or ""
    for line in status.splitlines():
        if line.startswith("Uid:"):
            snap.euid = int(line.split()[2])
        elif line.startswith("Gid:"):
            snap.egid = int(line.split()[2])
    snap.loginuid = _id(_read(base / "loginuid"))
    snap.session_id = _id(_read(base / "sessionid"))
    snap.executable = _readlink(base / "exe")
    snap.cwd = _readlink(base / "cwd")
    cmdline = _read_bytes(base / "cmdline")
    if cmdline:
        snap.args = [
            a.decode("utf-8", "backslashreplace") for a in cmdline.rstrip(b"\0").split(b"\0")
        ]
    return snap


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def readlink_cwd(pid: int, proc: Path = Path("/proc")) -> str | None:
    return _readlink(proc / str(pid) / "cwd")


def readlink_fd(pid: int, fd: int, proc: Path = Path("/proc")) -> str | None:
    target = _readlink(proc / str(pid) / "fd" / str(fd))
    # pipes and sockets read as "pipe:[123]": not a directory anyone can start from
    return target if target and target.startswith("/") else None
