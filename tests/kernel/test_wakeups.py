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
from collections.abc import Iterator

import pytest
from ringside._bpf import WAKEUP_WHEN_EMPTY, LoadOptions, Programs
from ringside._ring import RingReader
from ringside_schema import ProcessExec

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

    deadline = time.monotonic() + 30
    while not full_sensor.call(turn_off_while_waiting):
        assert time.monotonic() < deadline, "the sensor never went quiet"
        time.sleep(0.05)
    quiet_reads = full_sensor.counters()["ring"]["quiet_check_reads"]
    child = subprocess.Popen(["/bin/true"])
    child.wait()
    found = full_sensor.wait_for(
        lambda e: isinstance(e, ProcessExec) and e.process.pid == child.pid, timeout=15)
    assert found, "the exec never arrived: nothing woke the sensor"
    assert full_sensor.counters()["ring"]["quiet_check_reads"] > quiet_reads

    # Quiet again, the sensor has turned wakeups back on.
    deadline = time.monotonic() + 30
    while not full_sensor.call(lambda: sensor._armed):
        assert time.monotonic() < deadline, "the sensor never went quiet again"
        time.sleep(0.05)
    mode = full_sensor.call(lambda: programs.bpf[b"rs_wakeup"][ctypes.c_int(0)].value)
    assert mode == WAKEUP_WHEN_EMPTY
