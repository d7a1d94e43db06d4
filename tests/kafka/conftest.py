"""The Kafka tier: a real broker (deploy/kafka/kafka.sh), started once per session.

The shared broker is the ``test`` instance on 127.0.0.1:19092 (away from a
developer's own broker on 9092).  The session starts it if it is not
running, and stops it at the end only if it started it and no other test
session still uses it.  Each test publishes under a topic prefix of its
own, so tests never see each other's events.

Tests that kill the broker, or need a TLS listener, run their own instances
(see test_faults.py and test_tls.py): killing the shared one would fail
whatever else uses it at that moment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tests.kafka.broker import Broker

SESSION_PORT = int(os.environ.get("RINGSIDE_TEST_KAFKA_PORT", "19092"))
RINGSIDE = [sys.executable, "-m", "ringside"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if not missing:
        return
    skip = pytest.mark.skip(reason=f"the real Kafka broker needs {' and '.join(missing)} "
                            "(Debian: openjdk-17-jre-headless, maven)")
    for item in items:
        if "kafka" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    b = Broker("test", SESSION_PORT)
    started = b.status() is None
    if started:
        b.start()
    b.register()
    try:
        yield b
    finally:
        others = b.unregister()
        if started and others == 0:
            b.stop()


@pytest.fixture
def prefix() -> str:
    """A topic prefix no other test uses."""
    return f"t{uuid.uuid4().hex[:12]}."


class Consumed:
    """What ``ringside consume`` printed: events on stdout, reports on stderr."""

    def __init__(self, result: subprocess.CompletedProcess[bytes]) -> None:
        self.returncode = result.returncode
        self.events: list[dict[str, Any]] = [orjson.loads(line)
                                             for line in result.stdout.splitlines()]
        self.reports: list[dict[str, Any]] = []
        self.stderr = result.stderr.decode(errors="replace")
        for line in self.stderr.splitlines():
            if line.startswith("{"):
                self.reports.append(orjson.loads(line))
        summaries = [r["summary"] for r in self.reports if "summary" in r]
        self.summary: dict[str, Any] = summaries[-1] if summaries else {}

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [r[kind] for r in self.reports if kind in r]


def consume(bootstrap: str, prefix: str, *extra: str, timeout: float = 8.0,
            env: dict[str, str] | None = None) -> Consumed:
    """Run ``ringside consume --from-beginning`` until it saw nothing for ``timeout`` s."""
    cmd = [*RINGSIDE, "consume", "--kafka", bootstrap, "--kafka-topic-prefix", prefix,
           "--from-beginning", "--timeout", str(timeout), *extra]
    result = subprocess.run(cmd, capture_output=True, timeout=600,
                            env={**os.environ, **(env or {})})
    return Consumed(result)


def dedup_key(e: dict[str, Any] | Any) -> tuple[str, str, int, int]:
    """(host id, sensor instance, cpu, seq) of an event, as a dict or as a model."""
    if isinstance(e, dict):
        return (e["host"]["id"], e["sensor"]["instance"], e["sensor"]["cpu"],
                e["sensor"]["seq"])
    return (e.host.id, e.sensor.instance, e.sensor.cpu, e.sensor.seq)


def lost_before_kafka(counters: dict[str, Any]) -> int:
    """Events the sensor lost before publishing: kernel drops of event (not auxiliary)
    records, each of which spent a sequence number, and user-space drops.

    (The sensor's own ``seq_gaps`` is not used: it counts a jump in a CPU's
    sequence as it reads the ring, and a record can reach the ring after a later
    one of the same CPU, when a program was preempted between taking its number
    and writing; the consumer's sequence sets see that it arrived.)"""
    kernel = counters.get("kernel", {}).get("drops", {})
    dropped = sum(n for key, n in kernel.items() if not key.startswith("aux."))
    return dropped + sum(counters["user_drops"].values())
