"""Pausing the sensor: its programs detached and attached again, in the library and the CLI."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ringside import SensorConfig
from ringside._cli import _pause_handler
from ringside_schema import EventBase, ProcessExec

from tests.harness import SensorThread, metric, metrics_port, wait_metric

pytestmark = pytest.mark.kernel

RINGSIDE = [sys.executable, "-m", "ringside"]


@pytest.fixture(scope="module")
def process_sensor() -> Iterator[SensorThread]:
    thread = SensorThread(SensorConfig(tier="full", areas=("process",))).start()
    yield thread
    thread.stop()


def _exec_true() -> int:
    child = subprocess.Popen(["/bin/true"])
    child.wait()
    return child.pid


def _exec_of(pid: int) -> Callable[[EventBase], bool]:
    return lambda e: isinstance(e, ProcessExec) and e.process.pid == pid


def test_a_paused_sensor_records_nothing_until_it_is_resumed(
        process_sensor: SensorThread) -> None:
    sensor = process_sensor.sensor
    assert sensor is not None and sensor.programs is not None
    programs = sensor.programs
    assert programs.attached

    assert sensor.state == "running"
    before = _exec_true()
    assert process_sensor.call(sensor.pause) is True
    assert process_sensor.call(sensor.pause) is False  # paused already
    assert sensor.state == "paused"
    assert not programs.attached
    # What the ring held at the pause is still read and delivered.
    assert process_sensor.wait_for(_exec_of(before), timeout=15), "the exec before the pause"

    during = _exec_true()
    time.sleep(0.5)  # well past the read interval
    assert process_sensor.counters()["paused"]["now"] is True

    assert process_sensor.call(sensor.resume) is True
    assert process_sensor.call(sensor.resume) is False  # running already
    assert sensor.state == "running"
    assert programs.attached
    after = _exec_true()
    assert process_sensor.wait_for(_exec_of(after), timeout=15), "no exec after the resume"
    # The exec during the pause was never recorded: it came before `after`'s, and
    # the sensor delivers in the order the kernel recorded.
    assert not [e for e in process_sensor.events if _exec_of(during)(e)]

    paused = process_sensor.counters()["paused"]
    assert paused["now"] is False and paused["pauses"] == 1
    assert paused["seconds"] >= 0.5


def test_a_pause_signal_that_does_nothing_says_what_the_sensor_is(
        process_sensor: SensorThread, caplog: pytest.LogCaptureFixture) -> None:
    sensor = process_sensor.sensor
    assert sensor is not None
    with caplog.at_level(logging.WARNING, logger="ringside._cli"):
        process_sensor.call(_pause_handler(sensor, "SIGUSR2", sensor.resume))
    assert "SIGUSR2: the sensor is running already; nothing done" in caplog.text

    stopped = SensorThread(SensorConfig(tier="full", areas=("process",))).start()
    stopped.stop()
    assert stopped.sensor is not None and stopped.sensor.state == "stopped"
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ringside._cli"):
        _pause_handler(stopped.sensor, "SIGUSR1", stopped.sensor.pause)()
    # Not "running already", as it said before: a signal after the stop finds it stopped.
    assert "SIGUSR1: the sensor is stopped; nothing done" in caplog.text


def test_run_pauses_on_sigusr1_and_resumes_on_sigusr2(tmp_path: Path) -> None:
    out, err = tmp_path / "events.ndjson", tmp_path / "stderr"
    with open(err, "wb") as err_file:
        proc = subprocess.Popen([*RINGSIDE, "--log-level", "info", "run", "--events", "process",
                                 "--pause-signals", "--metrics-port", "0", "--output", str(out),
                                 "--duration", "120"], stderr=err_file)
    try:
        port = metrics_port(proc, err)
        proc.send_signal(signal.SIGUSR1)
        wait_metric(port, "ringside_paused", 1)
        during = _exec_true()
        proc.send_signal(signal.SIGUSR2)
        wait_metric(port, "ringside_paused", 0)
        after = _exec_true()
        time.sleep(0.5)
        assert metric(port, "ringside_pauses_total") == 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, err.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    execs = [json.loads(line) for line in out.read_text().splitlines()]
    pids = {e["process"]["pid"] for e in execs if e["event"] == "process.exec"}
    assert after in pids and during not in pids
    log = err.read_text()
    assert "paused: the BPF programs are detached" in log
    assert "resumed after" in log
