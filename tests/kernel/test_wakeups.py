"""When records wake the ring's reader: the rs_wakeup switch, in the kernel and in the sensor.

While records flow the sensor reads the ring on a timer and turns wakeups
off (each costs a self-interrupt in the program that finds the ring empty);
quiet, it turns them on and waits on epoll.  These tests check that the
programs obey the switch, and that a record sent with wakeups off while the
sensor waits on epoll (the race the quiet check is for) is still delivered.
"""

from __future__ import annotations

import ctypes
import os
import select
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence

import pytest
from ringside import CallbackSink, SensorConfig
from ringside._bpf import WAKEUP_WHEN_EMPTY, LoadOptions, Programs
from ringside._ring import RingReader
from ringside_schema import EventBase, ProcessExec

from tests.harness import SensorThread

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def programs() -> Iterator[Programs]:
    progs = Programs(LoadOptions(tier="full", areas=("process",), ring_size=1 << 20,
                                 self_tgid=os.getpid()))
    progs.load()
    yield progs
    progs.close()


def _drain(reader: RingReader) -> None:
    while reader.poll() is not None:
        pass


def _registered_on_empty_ring(reader: RingReader) -> select.epoll:
    """An epoll on the ring, registered while the ring was empty (other processes exec too)."""
    for _ in range(50):
        _drain(reader)
        ep = select.epoll()
        ep.register(reader.fd, select.EPOLLIN)
        if not ep.poll(0):
            return ep
        ep.close()
    pytest.fail("the ring never stayed empty long enough to register an epoll on it")


def _until(sensor: SensorThread, check: Callable[[], bool], what: str) -> None:
    """Poll ``check`` on the sensor's loop thread until it is true (30 s at most)."""
    deadline = time.monotonic() + 30
    while not sensor.call(check):
        assert time.monotonic() < deadline, f"the sensor never {what}"
        time.sleep(0.05)


def _exec_true(n: int) -> None:
    for _ in range(n):
        subprocess.run(["/bin/true"], check=True)


def test_records_wake_an_epoll_reader_only_when_wakeups_are_on(programs: Programs) -> None:
    reader = RingReader(programs.ring_fd, programs.ring_size)
    try:
        programs.set_wakeups(False)
        ep = _registered_on_empty_ring(reader)
        _exec_true(5)
        assert reader.pending_bytes() > 0, "the execs sent nothing: the test shows nothing"
        assert ep.poll(0.5) == [], "a record woke the reader with wakeups off"

        programs.set_wakeups(True)
        _drain(reader)  # the kernel wakes a reader when a record lands in an empty ring
        _exec_true(1)
        assert ep.poll(5) != [], "no wakeup with wakeups on"
        ep.close()
    finally:
        programs.set_wakeups(True)
        reader.close()


def test_a_record_sent_without_a_wakeup_to_a_waiting_sensor_is_delivered(
        full_sensor: SensorThread) -> None:
    sensor = full_sensor.sensor
    assert sensor is not None and sensor.programs is not None
    programs = sensor.programs

    def turn_off_while_waiting() -> bool:
        # On the loop thread, and only while the sensor waits on epoll (armed).
        if not sensor._armed:
            return False
        programs.set_wakeups(False)  # as a program that looked just before the switch turned
        return True

    _until(full_sensor, turn_off_while_waiting, "went quiet")
    quiet_reads = full_sensor.counters()["ring"]["quiet_check_reads"]
    child = subprocess.Popen(["/bin/true"])
    child.wait()
    found = full_sensor.wait_for(
        lambda e: isinstance(e, ProcessExec) and e.process.pid == child.pid, timeout=15)
    assert found, "the exec never arrived: nothing woke the sensor"
    assert full_sensor.counters()["ring"]["quiet_check_reads"] > quiet_reads

    # Quiet again, the sensor has turned wakeups back on.
    _until(full_sensor, lambda: sensor._armed, "went quiet again")
    mode = full_sensor.call(lambda: programs.bpf[b"rs_wakeup"][ctypes.c_int(0)].value)
    assert mode == WAKEUP_WHEN_EMPTY


def test_a_record_that_wakes_a_quiet_sensor_waits_the_read_interval() -> None:
    """Woken, the sensor gathers records for read_interval before it reads them."""
    interval = 0.5
    arrivals: list[tuple[int, EventBase]] = []

    def note(batch: Sequence[EventBase]) -> None:
        now = time.clock_gettime_ns(time.CLOCK_BOOTTIME)  # the clock of ktime_ns
        arrivals.extend((now, ev) for ev in batch)

    thread = SensorThread(SensorConfig(tier="full", areas=("process",), read_interval=interval),
                          sinks=[CallbackSink(note)]).start()
    try:
        sensor = thread.sensor
        assert sensor is not None
        pids = []
        for _ in range(3):
            _until(thread, lambda: sensor._armed, "went quiet")
            child = subprocess.Popen(["/bin/true"])
            child.wait()
            pids.append(child.pid)
            assert thread.wait_for(
                lambda e, pid=child.pid: isinstance(e, ProcessExec) and e.process.pid == pid,
                timeout=15), "the exec never arrived"
    finally:
        thread.stop()
    delays = [(now - ev.ktime_ns) / 1e9 for now, ev in arrivals
              if isinstance(ev, ProcessExec) and ev.process.pid in pids]
    assert len(delays) == 3
    # Another process's record may wake the sensor first and shorten a wait;
    # not all three (read at once, each would be delivered within ms).
    # 20 ms of slack: the loop's clock is read once per turn.
    assert max(delays) >= interval - 0.02, delays
