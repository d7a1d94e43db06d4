"""File events from the real kernel: each operation runs in a child process
(this test process is the sensor's, whose own activity is left out) and the
exact events it caused are asserted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from ringside._bpf import Exclusions
from ringside_schema import EventBase, FileInfo

from tests.harness import SensorThread

pytestmark = pytest.mark.kernel


def run_child(code: str, *args: str, cwd: Path | None = None) -> int:
    """Run Python code in a child process; returns its pid once it exited (status 0)."""
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], cwd=cwd)
    assert child.wait(60) == 0
    return child.pid


def file_events(sensor: SensorThread, pid: int, *, marker: str | None = None,
                count: int = 1) -> list[EventBase]:
    """The file events of `pid`; waits for `count` of them, or for the marker file."""
    def of_pid(e: EventBase) -> bool:
        return e.event.startswith("file.") and e.process.pid == pid

    if marker is not None:
        sensor.wait_for(lambda e: of_pid(e) and getattr(e, "file", None) is not None
                        and e.file.path == marker)
    else:
        sensor.wait_for(of_pid, count=count)
    return [e for e in sensor.events if of_pid(e)]


def info(e: EventBase) -> FileInfo:
    f = getattr(e, "file", None)
    assert isinstance(f, FileInfo)
    return f


@pytest.fixture
def d(tmp_path: Path) -> Path:
    return tmp_path


def test_create_then_modify_and_truncate(full_sensor: SensorThread, d: Path) -> None:
    p = d / "new.txt"
    pid = run_child("""
        import os, sys
        p = sys.argv[1]
        os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o640))  # creates
        os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o640))  # opens it again for writing
        os.truncate(p, 0)
        fd = os.open(p, os.O_RDWR)
        os.ftruncate(fd, 3)
        os.close(fd)
        os.close(os.open(p + ".done", os.O_CREAT | os.O_WRONLY, 0o600))
    """, str(p))
    evs = file_events(full_sensor, pid, marker=f"{p}.done")
    got = [(e.event, info(e).path, info(e).syscall) for e in evs]
    assert got == [
        ("file.create", str(p), "openat"),
        ("file.modify", str(p), "openat"),
        ("file.modify", str(p), "truncate"),
        ("file.modify", str(p), "openat"),     # O_RDWR is an open for writing
        ("file.modify", str(p), "ftruncate"),  # path from the descriptor
        ("file.create", f"{p}.done", "openat"),
    ]
    first = info(evs[0])
    assert (first.type, first.mode, first.result) == ("file", 0o640, 3)
    assert evs[0].process.executable and evs[0].process.entity_id
    assert evs[0].process.ppid == os.getpid()


def test_delete_rmdir_rename_across_directories(sensor: SensorThread, d: Path) -> None:
    (d / "a").mkdir()
    (d / "b").mkdir()
    (d / "a" / "x").write_text("x")
    (d / "gone").write_text("")
    (d / "empty").mkdir()
    pid = run_child("""
        import os, sys
        d = sys.argv[1]
        os.rename(d + "/a/x", d + "/b/y")
        os.unlink(d + "/gone")
        os.rmdir(d + "/empty")
        os.mkdir(d + "/made", 0o700)
        os.close(os.open(d + "/done", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    """, str(d))
    evs = file_events(sensor, pid, marker=f"{d}/done")
    assert [(e.event, info(e).path, info(e).old_path, info(e).type) for e in evs] == [
        ("file.rename", f"{d}/b/y", f"{d}/a/x", None),
        ("file.delete", f"{d}/gone", None, None),
        ("file.delete", f"{d}/empty", None, "directory"),
        ("file.create", f"{d}/made", None, "directory"),
        ("file.create", f"{d}/done", None, "file"),
    ]
    assert info(evs[3]).mode == 0o700


def test_chmod_chown_and_links(sensor: SensorThread, d: Path) -> None:
    p = d / "f"
    p.write_text("data")
    pid = run_child("""
        import os, sys
        d = sys.argv[1]
        p = d + "/f"
        os.chmod(p, 0o600)
        os.chown(p, 65534, -1)
        os.link(p, d + "/hard")
        os.symlink("f", d + "/soft")
        os.close(os.open(d + "/done", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    """, str(d))
    evs = file_events(sensor, pid, marker=f"{d}/done")
    chmod, chown, hard, soft, _done = evs
    assert (chmod.event, info(chmod).path, info(chmod).mode) == ("file.chmod", str(p), 0o600)
    assert (chown.event, info(chown).uid, info(chown).gid) == ("file.chown", 65534, None)
    assert (hard.event, info(hard).path, info(hard).target, info(hard).type) == (
        "file.link", f"{d}/hard", str(p), None)
    assert (soft.event, info(soft).path, info(soft).target, info(soft).type) == (
        "file.link", f"{d}/soft", "f", "symlink")  # the target text, as given


def test_relative_paths_through_dirfd_and_chdir(sensor: SensorThread, d: Path) -> None:
    (d / "sub").mkdir()
    (d / "cwd").mkdir()
    # The child keeps its descriptors open until the events are in: the reduced
    # tier learns where a dirfd points from /proc, which only a live process has.
    code = textwrap.dedent("""
        import os, sys
        d = sys.argv[1]
        dfd = os.open(d + "/sub", os.O_RDONLY | os.O_DIRECTORY)
        os.close(os.open("via-dirfd", os.O_CREAT | os.O_WRONLY, 0o600, dir_fd=dfd))
        os.chdir(d + "/cwd")
        os.close(os.open("via-chdir", os.O_CREAT | os.O_WRONLY, 0o600))
        os.close(os.open("../sub/../done", os.O_CREAT | os.O_WRONLY, 0o600))
        sys.stdin.read()
    """)
    child = subprocess.Popen([sys.executable, "-c", code, str(d)], stdin=subprocess.PIPE)
    try:
        evs = file_events(sensor, child.pid, marker=f"{d}/done")
    finally:
        child.communicate(b"", timeout=60)
    assert [info(e).path for e in evs] == [
        f"{d}/sub/via-dirfd", f"{d}/cwd/via-chdir", f"{d}/done"]


def test_path_longer_than_the_cap_is_truncated_and_flagged(full_sensor: SensorThread,
                                                           d: Path) -> None:
    # 24 directories of 200 bytes: a 4,800-byte path, only reachable relative to a deep cwd.
    pid = run_child("""
        import os, sys
        os.chdir(sys.argv[1])
        for _ in range(24):
            os.mkdir("d" * 200)
            os.chdir("d" * 200)
        os.close(os.open("deep-file", os.O_CREAT | os.O_WRONLY, 0o600))
    """, str(d))
    evs = full_sensor.wait_for(lambda e: e.event == "file.create" and e.process.pid == pid
                               and (info(e).path or "").endswith("/deep-file"))
    assert len(evs) == 1
    ev = evs[0]
    assert ev.truncated == ["file.path"]
    path = info(ev).path or ""
    assert path.endswith("/" + "/".join(["d" * 200] * 3) + "/deep-file")
    assert len(path) <= 4096 + 1 + len("deep-file")  # the directory was cut to the cap
    assert not path.startswith(str(d))  # its leading components are the ones left out


def test_read_only_opens_are_not_events(sensor: SensorThread, d: Path) -> None:
    p = d / "read-me"
    p.write_text("x")
    pid = run_child("""
        import os, sys
        for _ in range(200):
            os.close(os.open(sys.argv[1], os.O_RDONLY))
        with open(sys.argv[1]) as f:
            f.read()
        os.close(os.open(sys.argv[1] + ".done", os.O_CREAT | os.O_WRONLY, 0o600))
    """, str(p))
    evs = file_events(sensor, pid, marker=f"{p}.done")
    assert [info(e).path for e in evs] == [f"{p}.done"]


def test_an_open_for_writing_says_what_it_opened(request: pytest.FixtureRequest,
                                                 sensor: SensorThread, d: Path) -> None:
    regular, fifo = d / "regular", d / "fifo"
    regular.write_text("x")
    os.mkfifo(fifo)
    pid = run_child("""
        import os, sys
        regular, fifo = sys.argv[1], sys.argv[2]
        os.close(os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY))  # a terminal's master side
        os.close(os.open(fifo, os.O_RDWR))  # Linux opens a FIFO so without a reader
        # A mode argument with a character device's type bits, on a regular file:
        # the kernel ignores it without O_CREAT, and so must the event.
        os.close(os.open(regular, os.O_WRONLY, 0o020777))
        # O_EXCL: a create in the reduced tier too, which cannot see the file was new
        os.close(os.open(regular + ".done", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    """, str(regular), str(fifo))
    evs = file_events(sensor, pid, marker=f"{regular}.done")
    got = [(e.event, info(e).path, info(e).type, info(e).mode) for e in evs]
    full = "full" in request.node.callspec.id
    assert got == [
        ("file.modify", "/dev/ptmx", "char_device" if full else None, None),
        ("file.modify", str(fifo), "fifo" if full else None, None),
        ("file.modify", str(regular), "file" if full else None, None),
        ("file.create", f"{regular}.done", "file", 0o600),
    ]


@pytest.fixture
def excluding(full_sensor: SensorThread, d: Path) -> Iterator[Path]:
    """The session sensor, told at run time (no recompiling) to leave out d/skip/."""
    skip = d / "skip"
    skip.mkdir()
    programs = full_sensor.sensor.programs  # type: ignore[union-attr]
    assert programs is not None
    full_sensor.call(lambda: programs.set_exclusions(
        Exclusions(path_prefixes=(f"{skip}/",))))
    yield skip
    full_sensor.call(lambda: programs.set_exclusions(Exclusions()))


def test_an_excluded_prefix_produces_nothing(full_sensor: SensorThread, excluding: Path,
                                            d: Path) -> None:
    pid = run_child("""
        import os, sys
        skip, d = sys.argv[1], sys.argv[2]
        os.close(os.open(skip + "/absolute", os.O_CREAT | os.O_WRONLY, 0o600))
        os.mkdir(skip + "/dir")
        os.chmod(skip + "/dir", 0o700)
        os.rmdir(skip + "/dir")
        os.chdir(skip)
        os.close(os.open("relative", os.O_CREAT | os.O_WRONLY, 0o600))
        os.rename(skip + "/absolute", skip + "/moved")
        os.rename(skip + "/moved", d + "/escaped")  # leaves the excluded tree: reported
        os.close(os.open(d + "/done", os.O_CREAT | os.O_WRONLY, 0o600))
    """, str(excluding), str(d))
    evs = file_events(full_sensor, pid, marker=f"{d}/done")
    assert [(e.event, info(e).path) for e in evs] == [
        ("file.rename", f"{d}/escaped"),
        ("file.create", f"{d}/done"),
    ]


def test_failed_operations_are_not_reported_by_default(sensor: SensorThread, d: Path) -> None:
    pid = run_child("""
        import os, sys
        d = sys.argv[1]
        for call in (lambda: os.unlink(d + "/missing"), lambda: os.mkdir(d + "/no/such/dir"),
                     lambda: os.rename(d + "/missing", d + "/x")):
            try:
                call()
            except OSError:
                pass
        os.close(os.open(d + "/done", os.O_CREAT | os.O_WRONLY, 0o600))
    """, str(d))
    evs = file_events(sensor, pid, marker=f"{d}/done")
    assert [info(e).path for e in evs] == [f"{d}/done"]


def test_calls_in_flight_are_counted_exactly(sensor: SensorThread, d: Path) -> None:
    """rs_file_calls_live lets exits skip the map while it is zero.  It may exceed
    the map's size (an entry left by a call whose exit came before the exit
    programs were attached, then overwritten), never fall below it; and a
    process's calls, failed and reported ones alike, must leave the surplus as
    it was: a call forgotten without counting would add one each time."""
    programs = sensor.sensor.programs  # type: ignore[union-attr]
    assert programs is not None

    def snapshot() -> tuple[int, int, int]:
        live = programs.bpf[b"rs_file_calls_live"]
        before = live[0].value
        entries = len(programs.bpf[b"rs_file_calls"].items())
        return before, entries, live[0].value

    def surplus() -> int:
        # Other processes' calls come and go: take a snapshot no call crossed.
        for _ in range(100):
            before, entries, after = sensor.call(snapshot)
            if before == after:
                break
        assert before == after
        assert before >= entries
        return before - entries

    at_start = surplus()
    pid = run_child("""
        import os, sys
        d = sys.argv[1]
        for _ in range(20):
            try:
                os.unlink(d + "/missing")
            except OSError:
                pass
            os.close(os.open(d + "/f", os.O_CREAT | os.O_WRONLY, 0o600))
            os.rename(d + "/f", d + "/g")
            os.unlink(d + "/g")
        os.close(os.open(d + "/done", os.O_CREAT | os.O_WRONLY, 0o600))
    """, str(d))
    file_events(sensor, pid, marker=f"{d}/done")
    assert surplus() == at_start
