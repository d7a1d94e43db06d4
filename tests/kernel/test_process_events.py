"""Process events from the real kernel, in both tiers.

Each test starts real programs and asserts the exact events they caused.
The full tier must fill every field; the reduced tier (no kernel reads)
must fill the fields it promises: pid, tid, ppid, uid, gid, comm, argv,
filename, executable, cwd, entity ids, exit code.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from ringside_schema import EventBase, ProcessExec, ProcessExit, ProcessFork

from tests.harness import SensorThread

pytestmark = pytest.mark.kernel

NOBODY = 65534
ECHO = "/bin/echo"
ECHO_REAL = os.path.realpath(ECHO)


@pytest.fixture
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # World-readable, so that a child running as nobody may chdir into it.
    path = Path(tmp_path_factory.mktemp("work", numbered=True))
    path.chmod(0o755)
    path.parent.chmod(0o755)
    return path


def of_pid(pid: int, kind: type[EventBase]) -> object:
    return lambda e: isinstance(e, kind) and e.process.pid == pid


def test_exec_with_10000_byte_argument(sensor: SensorThread, workdir: Path) -> None:
    arg = "a" * 10_000
    child = subprocess.Popen([ECHO, arg], cwd=workdir, user=NOBODY, group=NOBODY,
                             stdout=subprocess.DEVNULL)
    assert child.wait() == 0

    execs = sensor.wait_for(of_pid(child.pid, ProcessExec))
    exits = sensor.wait_for(of_pid(child.pid, ProcessExit))
    assert len(execs) == 1, execs
    assert len(exits) == 1, exits
    ex, end = execs[0], exits[0]
    assert isinstance(ex, ProcessExec) and isinstance(end, ProcessExit)
    p = ex.process
    assert p.args == [ECHO, arg]
    assert p.args_truncated is False
    assert ex.truncated is None
    assert p.pid == child.pid and p.tid == child.pid
    assert p.ppid == os.getpid()
    assert (p.uid, p.gid) == (NOBODY, NOBODY)
    assert p.cwd == str(workdir)
    if sensor.config.tier == "full":
        assert p.executable == ECHO_REAL  # the file the kernel mapped, links resolved
    else:
        assert p.executable == ECHO  # the path given to execve, made absolute
    assert ex.filename == ECHO
    assert p.comm == "echo"
    assert p.entity_id and p.parent_entity_id and p.entity_id != p.parent_entity_id
    assert p.start_ns is not None and 0 < p.start_ns <= ex.ktime_ns
    assert ex.sensor.tier == sensor.config.tier

    assert end.process.entity_id == p.entity_id
    assert end.exit_code == 0 and end.exit_signal is None
    assert end.duration_ns is not None and 0 < end.duration_ns < 10_000_000_000
    if sensor.config.tier == "full":
        assert (p.euid, p.egid) == (NOBODY, NOBODY)


OTHER_GID = 4321  # unlike NOBODY: a uid/gid (or euid/egid) mix-up shows


def test_credentials_and_login_session(sensor: SensorThread) -> None:
    # Login uid 1234 (which starts a new audit session), then uid nobody and
    # gid 4321, then cat prints the session id the kernel gave it.
    script = (f"echo 1234 > /proc/self/loginuid && exec setpriv --reuid={NOBODY} "
              f"--regid={OTHER_GID} --clear-groups /bin/cat /proc/self/sessionid")
    child = subprocess.Popen(["/bin/sh", "-c", script], stdout=subprocess.PIPE, text=True)
    out, _ = child.communicate()
    assert child.returncode == 0
    session = int(out)
    assert session not in (1234, 0xFFFFFFFF)

    # sh execs setpriv, which execs cat: one pid throughout.
    def cat_exec(e: EventBase) -> bool:
        return isinstance(e, ProcessExec) and e.process.pid == child.pid \
            and e.process.comm == "cat"

    (ex,) = sensor.wait_for(cat_exec)
    (end,) = sensor.wait_for(of_pid(child.pid, ProcessExit))
    for p in (ex.process, end.process):
        assert (p.uid, p.gid) == (NOBODY, OTHER_GID)
        if sensor.config.tier == "full":
            # Read from the task's cred and its audit fields in the kernel.
            assert (p.euid, p.egid) == (NOBODY, OTHER_GID)
            assert (p.loginuid, p.session_id) == (1234, session)


def test_exit_code_and_signal(sensor: SensorThread) -> None:
    code = subprocess.Popen(["/bin/sh", "-c", "exit 7"])
    assert code.wait() == 7
    killed = subprocess.Popen(["/bin/sleep", "30"])
    sensor.wait_for(of_pid(killed.pid, ProcessExec))
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL

    (end,) = sensor.wait_for(of_pid(code.pid, ProcessExit))
    assert isinstance(end, ProcessExit)
    assert (end.exit_code, end.exit_signal) == (7, None)
    (dead,) = sensor.wait_for(of_pid(killed.pid, ProcessExit))
    assert isinstance(dead, ProcessExit)
    if sensor.config.tier == "full":
        assert (dead.exit_code, dead.exit_signal) == (None, signal.SIGKILL)
    else:
        # No exit_group() ran: the reduced tier cannot know the signal.
        assert (dead.exit_code, dead.exit_signal) == (None, None)


def test_argv_over_the_cap_is_truncated_and_flagged(sensor: SensorThread) -> None:
    args = [f"{i:05d}" + "b" * 994 for i in range(30)]  # 30 x 1000 bytes > 20 KiB
    child = subprocess.Popen([ECHO, *args], stdout=subprocess.DEVNULL)
    assert child.wait() == 0
    (ex,) = sensor.wait_for(of_pid(child.pid, ProcessExec))
    p = ex.process
    assert p.args_truncated is True
    assert ex.truncated is not None and "process.args" in ex.truncated
    sent = "\0".join(p.args or [])
    full = "\0".join([ECHO, *args])
    assert len(sent) == 20480 - 1 or len(sent) == 20480  # the cap, less a cut NUL
    assert full.startswith(sent)


def test_relative_exec_and_chdir_in_child(sensor: SensorThread, workdir: Path) -> None:
    (workdir / "sub").mkdir()
    script = workdir / "sub" / "hello.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    # The shell changes directory, then runs a program by a relative path.
    sh = subprocess.Popen(["/bin/sh", "-c", "cd sub && exec ./hello.sh"], cwd=workdir)
    assert sh.wait() == 0
    execs = sensor.wait_for(of_pid(sh.pid, ProcessExec), count=2)
    assert len(execs) == 2
    second = execs[1]
    assert isinstance(second, ProcessExec)
    assert second.filename == "./hello.sh"
    assert second.process.cwd == str(workdir / "sub")
    if sensor.config.tier == "full":
        assert second.process.executable == "/usr/bin/dash"  # the interpreter runs
    else:
        assert second.process.executable == str(script)  # the reduced tier sees the path


FORK_STORM = textwrap.dedent("""
    import os, sys
    n = int(sys.argv[1])
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
""")


def test_fork_storm_of_2000_children_loses_nothing(sensor: SensorThread) -> None:
    before = sensor.counters()
    storm = subprocess.Popen([sys.executable, "-c", FORK_STORM, "2000"])
    assert storm.wait(120) == 0

    def forked(e: EventBase) -> bool:
        return isinstance(e, ProcessFork) and e.process.pid == storm.pid

    forks = sensor.wait_for(forked, count=2000, timeout=60)
    children = {e.child.pid for e in forks if isinstance(e, ProcessFork)}

    def child_exit(e: EventBase) -> bool:
        return isinstance(e, ProcessExit) and e.process.pid in children

    exits = sensor.wait_for(child_exit, count=2000, timeout=60)
    state = f"counters before {before}, after {sensor.counters()}"
    assert len(forks) == 2000, f"{len(forks)} forks; {state}"
    assert len(children) == 2000, state
    assert len(exits) == 2000, f"{len(exits)} exits; {state}"
    fork_ids = {e.child.entity_id for e in forks if isinstance(e, ProcessFork)}
    assert {e.process.entity_id for e in exits} == fork_ids
    assert all(e.process.ppid == storm.pid for e in exits)
    after = sensor.counters()
    assert after["kernel"]["dropped"] == before["kernel"]["dropped"] == 0
    assert after["seq_gaps"] == 0
    assert after["user_drops"] == {}
    assert after["decode_errors"] == {}


def test_own_activity_is_not_reported(full_sensor: SensorThread) -> None:
    # This test process is the sensor's process: its forks are left out in
    # the kernel.  The child's own exec is another process, and reported.
    child = subprocess.Popen(["/bin/true"])
    child.wait()
    full_sensor.wait_for(of_pid(child.pid, ProcessExit))
    me = os.getpid()
    assert not [e for e in full_sensor.events
                if isinstance(e, ProcessFork) and e.process.pid == me]
    assert [e for e in full_sensor.events if isinstance(e, ProcessExec)
            and e.process.pid == child.pid]


def test_own_activity_is_reported_when_asked() -> None:
    from ringside import SensorConfig

    mine = SensorThread(SensorConfig(tier="full", areas=("process",), include_self=True)).start()
    try:
        child = subprocess.Popen(["/bin/true"])
        child.wait()
        forks = mine.wait_for(lambda e: isinstance(e, ProcessFork)
                              and e.child.pid == child.pid)
        assert len(forks) == 1 and forks[0].process.pid == os.getpid()
    finally:
        mine.stop()
