"""A sensor running in a background thread, collecting what it delivers; and
the metrics endpoint of a ``ringside run`` started by a test.

Kernel tests share one sensor per tier for the whole session (compiling the
programs takes a second or two) and pick out the events of the processes
they started.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import uvloop
from ringside import CallbackSink, Sensor, SensorConfig
from ringside_schema import EventBase


class SensorThread:
    def __init__(self, config: SensorConfig, stages: Sequence[Any] = (),
                 sinks: Sequence[Any] = ()) -> None:
        self.config = config
        self.events: list[EventBase] = []
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.sensor: Sensor | None = None
        self._stages = list(stages)
        self._sinks = list(sinks)  # after the collecting sink (e.g. a Kafka publisher)
        self._thread = threading.Thread(target=self._main, name="sensor", daemon=True)

    def _collect(self, batch: Sequence[EventBase]) -> None:
        with self._cond:
            self.events.extend(batch)
            self._cond.notify_all()

    def _main(self) -> None:
        try:
            uvloop.run(self._amain())
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self._error = exc
            self._ready.set()

    async def _amain(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.sensor = Sensor(self.config, sinks=[CallbackSink(self._collect), *self._sinks],
                             stages=self._stages)
        async with self.sensor:
            self._ready.set()
            await self._stop.wait()

    def start(self) -> SensorThread:
        self._thread.start()
        self._ready.wait(120)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run fn on the sensor's loop thread and return its result."""
        assert self._loop is not None
        fut: Any = asyncio.run_coroutine_threadsafe(_call(fn), self._loop)
        return fut.result(30)

    def counters(self) -> dict[str, Any]:
        assert self.sensor is not None
        return self.call(self.sensor.counters)  # type: ignore[no-any-return]

    def wait_for(self, predicate: Callable[[EventBase], bool], count: int = 1,
                 timeout: float = 60.0) -> list[EventBase]:
        """Events matching predicate, once at least `count` arrived (or timeout)."""
        deadline = time.monotonic() + timeout
        found: list[EventBase] = []
        seen = 0
        while True:
            # Scan only new events, and outside the lock: the sensor's loop takes
            # that lock to deliver, and must not wait while a test scans.
            with self._cond:
                new = self.events[seen:]
            seen += len(new)
            found.extend(e for e in new if predicate(e))
            remaining = deadline - time.monotonic()
            if len(found) >= count or remaining <= 0:
                return found
            with self._cond:
                if len(self.events) == seen:
                    self._cond.wait(min(remaining, 0.5))

    def settle(self, predicate: Callable[[EventBase], bool], quiet: float = 1.0,
               timeout: float = 30.0) -> list[EventBase]:
        """Events matching predicate once none new arrived for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        last_n, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            with self._cond:
                found = [e for e in self.events if predicate(e)]
            if len(found) != last_n:
                last_n, last_change = len(found), time.monotonic()
            elif time.monotonic() - last_change >= quiet:
                return found
            time.sleep(0.1)
        return found


async def _call(fn: Callable[[], Any]) -> Any:
    return fn()


def metrics_port(proc: subprocess.Popen[Any], err_path: Path, timeout: float = 60.0) -> int:
    """The port ``ringside run --metrics-port 0`` logged (needs ``--log-level info``)."""
    deadline = time.monotonic() + timeout
    while not (m := re.search(r"metrics on http://127\.0\.0\.1:(\d+)/",
                              err_path.read_text())):
        assert proc.poll() is None, f"ringside run exited:\n{err_path.read_text()}"
        assert time.monotonic() < deadline, f"no metrics port logged:\n{err_path.read_text()}"
        time.sleep(0.1)
    return int(m.group(1))


def metric(port: int, name: str) -> float:
    """One unlabelled metric's value from the endpoint."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    assert m, f"{name} not served"
    return float(m.group(1))


def wait_metric(port: int, name: str, value: float, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while metric(port, name) != value:
        assert time.monotonic() < deadline, f"{name} never became {value}"
        time.sleep(0.05)
