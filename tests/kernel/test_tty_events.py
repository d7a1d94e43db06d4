"""Terminal output from the real kernel: a real shell on a real pty.

The shell runs under pty.fork(); this test types into the master side and
reads what the terminal shows, while the sensor records what processes
wrote to the slave side.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import termios
import time
from collections.abc import Iterator

import pytest
from ringside_schema import EventBase, ProcessExec, TtyWrite

from tests.harness import SensorThread

pytestmark = pytest.mark.kernel

PROMPT = "rs-prompt> "
ROWS, COLS = 41, 133


class PtyShell:
    def __init__(self) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: a shell with no rc files and a known prompt
            os.execve("/bin/bash", ["bash", "--norc", "--noprofile", "-i"],
                      {"PS1": PROMPT, "TERM": "dumb", "PATH": "/usr/bin:/bin"})
        self.pid, self.fd = pid, fd
        self.screen = b""
        # A window size, so events can show the one the kernel holds (a new pty has 0x0).
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))

    def expect(self, text: bytes, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.screen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{text!r} never appeared; screen: {self.screen[-500:]!r}"
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                self.screen += os.read(self.fd, 65536)

    def type(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\n")

    def close(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)


@pytest.fixture
def shell() -> Iterator[PtyShell]:
    sh = PtyShell()
    sh.expect(PROMPT.encode())
    yield sh
    sh.close()


def writes(sensor: SensorThread, pid: int) -> list[TtyWrite]:
    return [e for e in sensor.events if isinstance(e, TtyWrite) and e.process.pid == pid]


def exec_of(sensor: SensorThread, ppid: int, argv0: str) -> ProcessExec:
    (ev,) = sensor.wait_for(lambda e: isinstance(e, ProcessExec) and e.process.ppid == ppid
                            and (e.process.args or [""])[0] == argv0)
    assert isinstance(ev, ProcessExec)
    return ev


def test_prompt_and_output_of_a_shell(full_sensor: SensorThread, shell: PtyShell) -> None:
    shell.type("echo hello-$((6*7))")
    shell.expect(b"hello-42")
    shell.type("/bin/echo external-output")
    shell.expect(b"external-output\r\n")
    shell.expect(PROMPT.encode() * 1)

    full_sensor.wait_for(lambda e: isinstance(e, TtyWrite) and e.process.pid == shell.pid
                         and e.data == "hello-42\n")
    from_shell = writes(full_sensor, shell.pid)
    assert PROMPT in [w.data for w in from_shell]  # the prompt, exactly, as one write
    assert "hello-42\n" in [w.data for w in from_shell]  # a builtin's output
    tty_name = from_shell[0].tty.name
    assert tty_name is not None and tty_name.startswith("pts/")
    assert (from_shell[-1].tty.rows, from_shell[-1].tty.cols) == (ROWS, COLS)

    echo = exec_of(full_sensor, shell.pid, "/bin/echo")
    assert echo.process.tty == tty_name  # the controlling terminal of the exec
    out = full_sensor.wait_for(lambda e: isinstance(e, TtyWrite)
                               and e.process.pid == echo.process.pid)
    assert [(w.data, w.length, w.skipped) for w in out] == [("external-output\n", 16, 0)]
    assert out[0].process.entity_id == echo.process.entity_id


def test_output_over_8_kib_is_cut_and_the_rest_counted(full_sensor: SensorThread,
                                                       shell: PtyShell) -> None:
    alphabet = "abcdefghijklmnopqrstuvwxyz"
    shell.type(f"python3 -c \"import os; os.write(1, b'{alphabet}' * 770)\"")
    shell.expect(PROMPT.encode() + b"", timeout=30)
    py = exec_of(full_sensor, shell.pid, "python3")
    evs = full_sensor.wait_for(lambda e: isinstance(e, TtyWrite)
                               and e.process.pid == py.process.pid)
    (big,) = evs
    assert isinstance(big, TtyWrite)
    assert big.length == 26 * 770 == 20_020
    assert big.skipped == 20_020 - 8192
    assert big.data == (alphabet * 770)[:8192]
    assert big.truncated == ["data"]


def test_writev_is_captured_in_order(full_sensor: SensorThread, shell: PtyShell) -> None:
    shell.type("python3 -c 'import os; os.writev(1, [b\"vec-\", b\"tor\", b\"\\n\"])'")
    shell.expect(b"vec-tor\r\n")
    py = exec_of(full_sensor, shell.pid, "python3")
    (ev,) = full_sensor.wait_for(lambda e: isinstance(e, TtyWrite)
                                 and e.process.pid == py.process.pid)
    assert isinstance(ev, TtyWrite)
    assert (ev.data, ev.length, ev.skipped) == ("vec-tor\n", 8, 0)


def test_writes_through_any_descriptor_are_captured(full_sensor: SensorThread,
                                                   shell: PtyShell) -> None:
    """Descriptor 50 while the process's table is the small one inside files_struct;
    200 and 1 once a descriptor past it made the kernel allocate a larger table."""
    shell.type("python3 -c 'import os; os.dup2(1, 50); os.write(50, b\"fd-50\\n\"); "
               "os.dup2(1, 200); os.write(200, b\"fd-200\\n\"); os.write(1, b\"fd-1\\n\")'")
    shell.expect(b"fd-1\r\n")
    py = exec_of(full_sensor, shell.pid, "python3")
    evs = full_sensor.wait_for(lambda e: isinstance(e, TtyWrite)
                               and e.process.pid == py.process.pid, count=3)
    assert [e.data for e in evs if isinstance(e, TtyWrite)] == ["fd-50\n", "fd-200\n", "fd-1\n"]


def test_writes_to_a_pipe_or_file_are_not_captured(full_sensor: SensorThread,
                                                   shell: PtyShell) -> None:
    shell.type("/bin/echo piped-text | /bin/cat > /dev/null; /bin/echo to-file > /dev/null")
    shell.type("/bin/echo marker-done")
    shell.expect(b"marker-done\r\n")
    assert full_sensor.wait_for(lambda e: isinstance(e, TtyWrite)
                                and e.data == "marker-done\n")
    writers = {}
    for argv in (["/bin/echo", "piped-text"], ["/bin/cat"], ["/bin/echo", "to-file"]):
        (ex,) = full_sensor.wait_for(lambda e, argv=argv: isinstance(e, ProcessExec)
                                     and e.process.ppid == shell.pid and e.process.args == argv)
        writers[ex.process.pid] = argv
    captured: list[EventBase] = [e for e in full_sensor.events
                                 if isinstance(e, TtyWrite) and e.process.pid in writers]
    assert captured == []


@pytest.fixture
def tiny_budget(full_sensor: SensorThread) -> Iterator[int]:
    """The session sensor with a 1,000-byte-per-second terminal budget, set at run time."""
    programs = full_sensor.sensor.programs  # type: ignore[union-attr]
    assert programs is not None
    budget = 1000
    programs.options.tty_budget = budget
    full_sensor.call(programs.write_config)
    yield budget
    programs.options.tty_budget = full_sensor.config.tty_budget
    full_sensor.call(programs.write_config)


def test_a_process_over_its_budget_is_counted_not_captured(
        full_sensor: SensorThread, shell: PtyShell, tiny_budget: int) -> None:
    before = full_sensor.sensor.programs.tty_bytes()  # type: ignore[union-attr]
    # Ten writes of 600 bytes within well under a second: the first two fit the
    # budget (the second starts below it), the other eight do not.
    shell.type("python3 -c \"import os\nfor _ in range(10): os.write(1, b'z' * 599 + b'\\n')\"")
    shell.expect(b"z\r\n" * 1)
    shell.type("/bin/echo budget-done")
    shell.expect(b"budget-done\r\n")
    py = exec_of(full_sensor, shell.pid, "python3")
    full_sensor.wait_for(lambda e: isinstance(e, TtyWrite) and e.data == "budget-done\n")
    captured = writes(full_sensor, py.process.pid)
    after = full_sensor.sensor.programs.tty_bytes()  # type: ignore[union-attr]
    assert [w.length for w in captured] == [600, 600]
    assert after["over_budget"] - before["over_budget"] == 8 * 600
    assert after["captured"] - before["captured"] >= 1200
