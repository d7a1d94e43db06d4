"""Faults: the broker killed mid-stream, the sensor restarted while the broker is down.

These tests kill a broker, so they run one of their own (instance ``fault``,
free ports, data in a temporary directory), never the session's.  Events
keep coming throughout; afterwards every event the sensor delivered to its
sinks must be read back from Kafka (a duplicate is allowed where a lost
acknowledgement made a resend necessary: ``consume`` drops and counts it),
and the spool must have held them meanwhile.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ringside import SensorConfig
from ringside._kafka import KafkaSink
from ringside._kafka_config import KafkaConfig, KafkaConnection

from tests.harness import SensorThread
from tests.kafka.broker import Broker, free_port_block
from tests.kafka.conftest import consume, lost_before_kafka
from tests.kafka.test_end_to_end import check_delivery

pytestmark = [pytest.mark.kafka, pytest.mark.kernel]


@pytest.fixture(scope="module")
def fault_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = Broker("fault", free_port_block(2), home=tmp_path_factory.mktemp("kafka-home"))
    b.start()
    try:
        yield b
    finally:
        b.stop()


class Workload:
    """Execs in a loop (about 100 a second) until stopped: events keep coming."""

    def __init__(self, directory: Path) -> None:
        self.stop_file = directory / "stop-workload"
        self.proc = subprocess.Popen(["/bin/sh", "-c", f"while [ ! -e {self.stop_file} ]; do "
                                      "/bin/true; /bin/sleep 0.01; done"])

    def stop(self) -> None:
        self.stop_file.touch()
        assert self.proc.wait(60) == 0


def make_sink(broker: Broker, prefix: str, spool: Path, **kw: Any) -> KafkaSink:
    # 64 KiB of memory: the spool takes over within a second of the broker going away.
    return KafkaSink(KafkaConfig(KafkaConnection(broker.bootstrap), topic_prefix=prefix,
                                 spool_dir=str(spool), memory_bytes=64 << 10,
                                 request_timeout_ms=10_000, **kw))


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.25)


def kafka_counters(sensor: SensorThread) -> dict[str, Any]:
    counters = sensor.counters()["components"]["kafka"]
    assert isinstance(counters, dict)
    return counters


def test_broker_killed_mid_stream_and_back_20s_later(fault_broker: Broker, prefix: str,
                                                    tmp_path: Path) -> None:
    sink = make_sink(fault_broker, prefix, tmp_path / "spool")
    sensor = SensorThread(SensorConfig(areas=("process",)), sinks=[sink]).start()
    workload = Workload(tmp_path)
    try:
        wait_until(lambda: kafka_counters(sensor)["acknowledged"] > 100, 60,
                   "the broker acknowledged events before the fault")
        fault_broker.kill()
        killed_at = time.monotonic()
        acked_at_kill = kafka_counters(sensor)["acknowledged"]
        # The broker stays dead for 20 s while events keep coming: they go to
        # the spool once the 64 KiB of memory are full.
        wait_until(lambda: kafka_counters(sensor)["spool"]["unread"] > 0, 20,
                   "events reached the spool")
        time.sleep(max(0.0, 20 - (time.monotonic() - killed_at)))
        # Nothing was acknowledged while it was dead (it really was).
        assert kafka_counters(sensor)["acknowledged"] == acked_at_kill
        fault_broker.start()
        wait_until(lambda: kafka_counters(sensor)["replayed"] > 0, 120,
                   "the spool was replayed after the restart")
        time.sleep(3)  # events keep coming after the restart too
    finally:
        workload.stop()
    time.sleep(1)
    wait_until(lambda: kafka_counters(sensor)["unacknowledged"] == 0, 180,
               "everything was acknowledged")
    sensor.stop()
    assert sensor.sensor is not None
    counters = sensor.sensor.counters()
    kafka = counters["components"]["kafka"]
    collected = list(sensor.events)
    assert kafka["received"] == len(collected)
    assert kafka["spooled"] > 0 and kafka["replayed"] > 0
    assert kafka["dropped"] == {}
    assert kafka["acknowledged"] >= len(collected)
    lost = lost_before_kafka(counters)  # in the kernel, before Kafka: 0 unless the host is busy

    result = consume(fault_broker.bootstrap, prefix)
    assert result.returncode == 0, result.stderr
    check_delivery(collected, result.events)
    assert result.summary["missing"] == lost
    assert result.summary["events"] == len(collected)


def test_sensor_restarted_while_the_broker_is_down(fault_broker: Broker, prefix: str,
                                                  tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    first = SensorThread(SensorConfig(areas=("process",)),
                         sinks=[make_sink(fault_broker, prefix, spool, stop_timeout=2)]).start()
    workload = Workload(tmp_path)
    second: SensorThread | None = None
    try:
        wait_until(lambda: kafka_counters(first)["acknowledged"] > 100, 60,
                   "the broker acknowledged events before the fault")
        fault_broker.kill()
        time.sleep(5)
        pending = kafka_counters(first)["unacknowledged"]
        assert pending > 0
        first.stop()  # broker down: what is not acknowledged goes to the spool
        assert first.sensor is not None
        first_kafka = first.sensor.counters()["components"]["kafka"]
        assert first_kafka["spooled"] > 0 and first_kafka["unacknowledged"] >= pending
        assert list(spool.glob("*.seg")), "the first sensor left nothing in the spool"

        second = SensorThread(SensorConfig(areas=("process",)),
                              sinks=[make_sink(fault_broker, prefix, spool)]).start()
        left = kafka_counters(second)["spool"]["unread"]
        assert left > 0  # the first run's events, waiting
        time.sleep(3)  # the second sensor's own events queue behind them
        fault_broker.start()
        wait_until(lambda: kafka_counters(second)["replayed"] >= left, 120,
                   "the first run's events were replayed")
    finally:
        workload.stop()
        if second is None:
            first.stop()
    time.sleep(1)
    wait_until(lambda: kafka_counters(second)["unacknowledged"] == 0, 180,
               "everything was acknowledged")
    second.stop()
    assert first.sensor is not None and second.sensor is not None
    assert second.sensor.counters()["components"]["kafka"]["dropped"] == {}
    lost = lost_before_kafka(first.sensor.counters()) + lost_before_kafka(second.sensor.counters())

    collected = list(first.events) + list(second.events)
    result = consume(fault_broker.bootstrap, prefix)
    assert result.returncode == 0, result.stderr
    # Every event of both runs, once; per process, the first run's before the
    # second's (the workload's shell lives through the restart).
    check_delivery(collected, result.events)
    instances = {e["sensor"]["instance"] for e in result.events}
    assert instances == {first.sensor.instance, second.sensor.instance}
    assert result.summary["missing"] == lost
