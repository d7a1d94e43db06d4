"""Kernel to Kafka to ``ringside consume``: nothing lost, nothing twice, in order.

A real sensor publishes to the real broker while a workload runs; the
events the sensor handed to its sinks (collected by the harness) must be
exactly the events ``ringside consume`` reads back: each once, the events
of every process in the order the sensor saw them, and no hole in any
per-CPU sequence that the sensor did not see itself.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from ringside import SensorConfig
from ringside._kafka import KafkaSink
from ringside._kafka_config import KafkaConfig, KafkaConnection
from ringside_schema import EventBase

from tests.harness import SensorThread
from tests.kafka.broker import Broker
from tests.kafka.conftest import consume, dedup_key, lost_before_kafka

pytestmark = [pytest.mark.kafka, pytest.mark.kernel]


def ordering_key(e: dict[str, Any] | EventBase) -> tuple[str, str]:
    """Where order is kept: the topic (event category) and the record key (entity id,
    else host id and pid).  A process's file events and its process events are in two
    topics, each in order."""
    if isinstance(e, dict):
        p = e["process"]
        return e["event"].split(".")[0], p["entity_id"] or f"{e['host']['id']}:{p['pid']}"
    return e.event.split(".")[0], e.process.entity_id or f"{e.host.id}:{e.process.pid}"


def publish_while(broker: Broker, prefix: str, tmp_path: Path, areas: tuple[str, ...],
                  workload: Callable[[], Any]) -> tuple[SensorThread, Any]:
    """Run a sensor publishing to Kafka around ``workload``; stop it once all is acknowledged."""
    sink = KafkaSink(KafkaConfig(KafkaConnection(broker.bootstrap), topic_prefix=prefix,
                                 spool_dir=str(tmp_path / "spool"), stop_timeout=120))
    sensor = SensorThread(SensorConfig(areas=areas, ring_size=32 << 20), sinks=[sink]).start()
    try:
        result = workload()
        time.sleep(1)  # the last events of the workload reach the ring and the sinks
    finally:
        sensor.stop()  # drains the ring, waits for the broker's acknowledgements
    return sensor, result


def check_delivery(collected: list[EventBase], consumed: list[dict[str, Any]]) -> None:
    """Consumed == collected, each once, every process's events (per topic) in the sensor's
    order."""
    got = [dedup_key(e) for e in consumed]
    assert len(got) == len(set(got)), "an event was printed twice"
    want = [dedup_key(e) for e in collected]
    assert len(want) == len(set(want))
    missing = set(want) - set(got)
    extra = set(got) - set(want)
    assert not missing, f"{len(missing)} of {len(want)} events never arrived"
    assert not extra, f"{len(extra)} events arrived that the sensor did not deliver"
    order_want: dict[tuple[str, str], list[tuple[str, str, int, int]]] = defaultdict(list)
    order_got: dict[tuple[str, str], list[tuple[str, str, int, int]]] = defaultdict(list)
    for e in collected:
        order_want[ordering_key(e)].append(dedup_key(e))
    for d in consumed:
        order_got[ordering_key(d)].append(dedup_key(d))
    out_of_order = [k for k in order_want if order_want[k] != order_got[k]]
    assert not out_of_order, f"{len(out_of_order)} processes' events out of order"


def sensor_counters(sensor: SensorThread) -> dict[str, Any]:
    assert sensor.sensor is not None
    return sensor.sensor.counters()


def test_10000_execs_arrive_once_in_order_without_gaps(broker: Broker, prefix: str,
                                                      tmp_path: Path) -> None:
    def workload() -> int:
        shell = subprocess.Popen(["/bin/sh", "-c", "i=0; while [ $i -lt 10000 ]; do "
                                  "/bin/true; i=$((i+1)); done"])
        assert shell.wait(600) == 0
        return shell.pid

    sensor, shell_pid = publish_while(broker, prefix, tmp_path, ("process",), workload)
    collected = list(sensor.events)
    execs = [e for e in collected if e.event == "process.exec" and e.process.ppid == shell_pid
             and e.process.executable is not None and e.process.executable.endswith("true")]
    assert len(execs) == 10_000

    counters = sensor_counters(sensor)
    kafka = counters["components"]["kafka"]
    assert kafka["acknowledged"] == kafka["received"] == len(collected)
    assert kafka["dropped"] == {} and kafka["unacknowledged"] == 0
    assert lost_before_kafka(counters) == 0, (counters.get("kernel"), counters["user_drops"])

    result = consume(broker.bootstrap, prefix)
    assert result.returncode == 0, result.stderr
    check_delivery(collected, result.events)
    consumed_execs = [e for e in result.events if e["event"] == "process.exec"
                      and e["process"]["ppid"] == shell_pid]
    assert len(consumed_execs) == 10_000
    s = result.summary
    assert s["events"] == len(collected) and s["duplicates"] == 0
    assert s["missing"] == 0 and s["gaps"] == {} and not result.of("gap")
    assert s["skipped"] == {}


def test_10000_file_events_arrive_once_in_order(broker: Broker, prefix: str,
                                                tmp_path: Path) -> None:
    work = tmp_path / "files"
    work.mkdir()

    def workload() -> None:
        child = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
            import os, sys
            d = sys.argv[1]
            for i in range(5000):
                p = os.path.join(d, f"f{i}")
                os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o600))
                os.unlink(p)
        """), str(work)])
        assert child.wait(600) == 0

    sensor, _ = publish_while(broker, prefix, tmp_path, ("process", "file"), workload)
    collected = list(sensor.events)

    def ours(events: Iterable[Any]) -> list[Any]:
        out = []
        for e in events:
            name = e["event"] if isinstance(e, dict) else e.event
            path = (e.get("file") or {}).get("path") if isinstance(e, dict) else \
                getattr(getattr(e, "file", None), "path", None)
            if name in ("file.create", "file.delete") and path and path.startswith(str(work)):
                out.append(e)
        return out

    counters = sensor_counters(sensor)
    assert len(ours(collected)) == 10_000, (
        "the sensor itself did not see all 10,000 file events: kernel drops "
        f"{counters.get('kernel', {}).get('drops')}, user drops {counters['user_drops']}")
    kafka = counters["components"]["kafka"]
    assert kafka["acknowledged"] == kafka["received"] == len(collected)
    assert kafka["dropped"] == {} and kafka["unacknowledged"] == 0

    result = consume(broker.bootstrap, prefix)
    assert result.returncode == 0, result.stderr
    check_delivery(collected, result.events)
    assert len(ours(result.events)) == 10_000
    # Kafka adds no hole: the consumer finds exactly those the sensor lost itself
    # (other programs' file events can overflow the ring on a busy host).
    assert result.summary["missing"] == lost_before_kafka(counters)
    assert result.summary["duplicates"] == 0
