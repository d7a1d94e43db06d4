"""/proc parsing and the process table, on a /proc tree built here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ringside._aux import CwdChange, ExecArgs
from ringside._procfs import CLK_TCK, read_process, tty_from_nr
from ringside._proctable import ProcessTable
from ringside_schema import Host, WireContext, entity_id, wire

from tests import wirebuild as wb


@pytest.mark.parametrize(("nr", "name"), [
    (0, None), (34816, "pts/0"), ((136 << 8) | 5, "pts/5"), ((137 << 8) | 1, "pts/257"),
    ((4 << 8) | 1, "tty1"), ((4 << 8) | 65, "ttyS1"), ((5 << 8) | 1, "console"),
])
def test_tty_names(nr: int, name: str | None) -> None:
    assert tty_from_nr(nr) == name


def fake_proc(root: Path, pid: int, *, ppid: int, comm: str = "a b) c", start_ticks: int = 250,
              tty_nr: int = 34817, cwd: str = "/srv", exe: str = "/usr/bin/x") -> None:
    d = root / str(pid)
    d.mkdir(parents=True)
    rest = ["S", str(ppid), "1", "1", str(tty_nr)] + ["0"] * 14 + [str(start_ticks)] + ["0"] * 20
    (d / "stat").write_text(f"{pid} ({comm}) " + " ".join(rest) + "\n")
    (d / "status").write_text("Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t100\t50\t50\t50\n")
    (d / "loginuid").write_text("4294967295")
    (d / "sessionid").write_text("12")
    (d / "cmdline").write_bytes(b"x\0--flag\0")
    os.symlink(cwd, d / "cwd")
    os.symlink(exe + " (deleted)", d / "exe")


def test_read_process(tmp_path: Path) -> None:
    fake_proc(tmp_path, 42, ppid=7)
    snap = read_process(42, tmp_path)
    assert snap is not None
    assert (snap.ppid, snap.tty, snap.cwd, snap.executable) == (7, "pts/1", "/srv", "/usr/bin/x")
    assert snap.start_ns == 250 * (1_000_000_000 // CLK_TCK)
    assert (snap.euid, snap.egid, snap.loginuid, snap.session_id) == (0, 50, None, 12)
    assert snap.args == ["x", "--flag"]
    assert read_process(43, tmp_path) is None


HOST = Host(hostname="h", id="m", boot_id="b")


def decode(raw: bytes, ctx: WireContext) -> object:
    return wire.decode_record(raw, 0, len(raw), ctx)


def test_reduced_tier_exec_is_completed_from_the_entry_record(tmp_path: Path) -> None:
    ctx = WireContext(HOST, "i", tier="reduced")
    table = ProcessTable(ctx, reduced=True, proc=tmp_path)
    fake_proc(tmp_path, 10, ppid=1, cwd="/home/u")  # the parent, alive before the sensor
    # The parent forks 11 (the kernel side knows its start, not the parent's).
    fork = decode(wb.fork_record(11, 7_000, pid=10, tid=10, flags=0), ctx)
    table.apply(fork)  # type: ignore[arg-type]
    table.on_cwd(CwdChange(pid=11, tid=11, fd=-100, path="sub/dir", truncated=False))
    table.on_exec_args(ExecArgs(pid=11, tid=11, filename="./run", filename_truncated=False,
                                args=["./run", "-v"], args_truncated=False))
    ex = decode(wb.exec_record([], pid=11, tid=11, ppid=10, start_ns=7_000,
                               flags=wire.PROC_F_PARENT | wire.PROC_F_START), ctx)
    table.apply(ex)  # type: ignore[arg-type]
    p = ex.process  # type: ignore[attr-defined]
    assert p.cwd == "/home/u/sub/dir"
    assert p.args == ["./run", "-v"]
    assert p.executable == "/home/u/sub/dir/run"
    assert ex.filename == "./run"  # type: ignore[attr-defined]
    assert p.entity_id == entity_id("m", "b", 11, 7_000)
    parent_start = 250 * (1_000_000_000 // CLK_TCK)
    assert p.parent_entity_id == entity_id("m", "b", 10, parent_start)
    assert (p.euid, p.egid) == (0, 50)  # inherited from the parent's /proc entry


def test_full_tier_fills_non_exec_events_and_forgets_exited(tmp_path: Path) -> None:
    ctx = WireContext(HOST, "i")
    table = ProcessTable(ctx, reduced=False, proc=tmp_path)
    ex = decode(wb.exec_record([(wire.VL_EXE, 0, b"/bin/app"), (wire.VL_CWD, 0, b"/w"),
                                (wire.VL_TTY_NAME, 0, b"pts9")], pid=20, tid=20), ctx)
    table.apply(ex)  # type: ignore[arg-type]
    end = decode(wb.exit_record(0, pid=20, tid=20), ctx)
    table.apply(end)  # type: ignore[arg-type]
    p = end.process  # type: ignore[attr-defined]
    assert (p.executable, p.cwd, p.tty) == ("/bin/app", "/w", "pts/9")
    assert len(table) == 0


def test_full_tier_child_inherits_the_parents_entry_until_it_execs(tmp_path: Path) -> None:
    ctx = WireContext(HOST, "i")
    table = ProcessTable(ctx, reduced=False, proc=tmp_path)  # an empty /proc: no reads help
    ex = decode(wb.exec_record([(wire.VL_EXE, 0, b"/bin/sh"), (wire.VL_CWD, 0, b"/srv"),
                                (wire.VL_TTY_NAME, 0, b"pts3")], pid=30, tid=30,
                               start_ns=5_000), ctx)
    table.apply(ex)  # type: ignore[arg-type]
    fork = decode(wb.fork_record(31, 9_000, pid=30, tid=30, start_ns=5_000), ctx)
    table.apply(fork)  # type: ignore[arg-type]
    # The child's first event carries no executable, cwd or terminal of its own.
    touch = decode(wb.file_record(wire.EVENT_FILE_CREATE, 2, [(wire.VL_PATH, 0, b"/srv/x")],
                                  pid=31, tid=31, ppid=30, start_ns=9_000,
                                  parent_start_ns=5_000), ctx)
    table.apply(touch)  # type: ignore[arg-type]
    p = touch.process  # type: ignore[attr-defined]
    assert (p.executable, p.cwd, p.tty) == ("/bin/sh", "/srv", "pts/3")
    assert p.entity_id == entity_id("m", "b", 31, 9_000)
    assert p.parent_entity_id == entity_id("m", "b", 30, 5_000)
    # An exec of the child replaces what it inherited; the parent keeps its own.
    ex2 = decode(wb.exec_record([(wire.VL_EXE, 0, b"/usr/bin/env"), (wire.VL_CWD, 0, b"/tmp")],
                                pid=31, tid=31, ppid=30, start_ns=9_000,
                                parent_start_ns=5_000), ctx)
    table.apply(ex2)  # type: ignore[arg-type]
    later = decode(wb.exit_record(0, pid=30, tid=30, start_ns=5_000), ctx)
    table.apply(later)  # type: ignore[arg-type]
    assert (later.process.executable, later.process.cwd) == ("/bin/sh", "/srv")  # type: ignore[attr-defined]
    assert len(table) == 1  # the child; the parent exited
