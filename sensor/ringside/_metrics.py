"""The sensor's counters as Prometheus metrics, over HTTP (``ringside run --metrics-port``).

A few dozen lines of asyncio instead of a client library: one route,
``GET /metrics``, answered in the text exposition format (version 0.0.4)
with what :meth:`Sensor.counters` returns at that moment, flattened into
metric families with labels::

    ringside_events_delivered_total{sink="ndjson",type="file.create"} 1234
    ringside_kernel_drops_total{type="file.create",reason="ringbuf_full"} 0
    ringside_component_acked{component="kafka"} 1200

Counters of stages and sinks (``components.<name>``) are served generically:
every number under a component becomes ``ringside_component_<path>``,
labelled with the component's name, so a new component's counters (Kafka
sent/acked/failed/spooled, enrichment cache hits) appear without a change
here.  The standard ``process_*`` metrics (CPU seconds, resident memory)
come from /proc/self.

Scrapes run on the sensor's event loop: reading the counters takes well
under a millisecond of the loop's time (a few BPF map lookups), and a
scraper that stalls cannot stall the sensor (each connection has a deadline).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._errors import ConfigError

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REQUEST_TIMEOUT = 5.0  # s for a client to send its request line and headers
_NAME_BAD = re.compile(r"[^a-zA-Z0-9_]")

Sample = tuple[str, dict[str, str], float]  # metric name, labels, value


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _metric_name(text: str) -> str:
    name = _NAME_BAD.sub("_", text).strip("_")
    return name if name and not name[0].isdigit() else f"_{name}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# Families: name -> (type, help).  The order is the order of the output.
FAMILIES: dict[str, tuple[str, str]] = {
    "ringside_ring_records_total": ("counter", "Records read from the kernel ring"),
    "ringside_ring_bytes_total": ("counter", "Bytes read from the kernel ring"),
    "ringside_ring_wakeups_total": ("counter", "Times the kernel woke the idle ring reader"),
    "ringside_ring_quiet_check_reads_total": (
        "counter", "Times the idle reader's once-a-second check found records that woke nobody"),
    "ringside_events_decoded_total": ("counter", "Records decoded, by event type"),
    "ringside_events_delivered_total": ("counter", "Events delivered, by sink and event type"),
    "ringside_decode_errors_total": ("counter", "Records that could not be decoded, by reason"),
    "ringside_internal_errors_total": ("counter", "Batches lost to a failing stage or sink"),
    "ringside_user_drops_total": ("counter", "Events dropped in user space, by stage and type"),
    "ringside_seq_gaps_total": ("counter", "Events missing from the per-CPU sequences"),
    "ringside_kernel_sent_total": ("counter", "Records the kernel put in the ring, by type"),
    "ringside_kernel_drops_total": (
        "counter", "Records the kernel could not send, by event type and reason"),
    "ringside_kernel_tty_bytes_total": (
        "counter", "Terminal output bytes: captured, over the per-write cap, over the budget"),
    "ringside_queue_depth": ("gauge", "Batches waiting between the reader and the sinks"),
    "ringside_process_table_size": ("gauge", "Processes in the sensor's process table"),
    "ringside_process_table_evicted_total": ("counter", "Process table entries evicted"),
    "ringside_process_table_proc_reads_total": ("counter", "Processes looked up in /proc"),
    "ringside_startup_seconds": ("gauge", "Time the sensor took to compile and attach"),
    "ringside_paused": ("gauge", "1 while the sensor is paused (its BPF programs detached)"),
    "ringside_pauses_total": ("counter", "Times the sensor was paused"),
    "ringside_paused_seconds_total": ("counter", "Time the sensor spent paused, seconds"),
    "ringside_info": ("gauge", "The sensor instance and tier (value 1)"),
}


def _split(key: str, n: int) -> list[str]:
    parts = key.split("/", n - 1)
    return parts + [""] * (n - len(parts))


def flatten(counters: Mapping[str, Any]) -> list[Sample]:
    """Sensor.counters() as (name, labels, value) samples."""
    out: list[Sample] = []
    ring = counters.get("ring", {})
    out.append(("ringside_ring_records_total", {}, ring.get("records", 0)))
    out.append(("ringside_ring_bytes_total", {}, ring.get("bytes", 0)))
    out.append(("ringside_ring_wakeups_total", {}, ring.get("wakeups", 0)))
    out.append(("ringside_ring_quiet_check_reads_total", {}, ring.get("quiet_check_reads", 0)))
    for typ, n in counters.get("decoded", {}).items():
        out.append(("ringside_events_decoded_total", {"type": typ}, n))
    for key, n in counters.get("delivered", {}).items():
        sink, typ = _split(key, 2)
        out.append(("ringside_events_delivered_total", {"sink": sink, "type": typ}, n))
    for reason, n in counters.get("decode_errors", {}).items():
        out.append(("ringside_decode_errors_total", {"reason": reason}, n))
    out.append(("ringside_internal_errors_total", {}, counters.get("internal_errors", 0)))
    for key, n in counters.get("user_drops", {}).items():
        stage, typ = _split(key, 2)
        out.append(("ringside_user_drops_total", {"stage": stage, "type": typ}, n))
    out.append(("ringside_seq_gaps_total", {}, counters.get("seq_gaps", 0)))
    kernel = counters.get("kernel") or {}
    for typ, n in kernel.get("sent", {}).items():
        out.append(("ringside_kernel_sent_total", {"type": typ}, n))
    for key, n in kernel.get("drops", {}).items():
        typ, reason = _split(key, 2)
        out.append(("ringside_kernel_drops_total", {"type": typ, "reason": reason}, n))
    for kind, n in (kernel.get("tty_bytes") or {}).items():
        out.append(("ringside_kernel_tty_bytes_total", {"kind": kind}, n))
    out.append(("ringside_queue_depth", {"queue": "batches"}, counters.get("queue_depth", 0)))
    table = counters.get("process_table")
    if table:
        out.append(("ringside_process_table_size", {}, table.get("size", 0)))
        out.append(("ringside_process_table_evicted_total", {}, table.get("evicted", 0)))
        out.append(("ringside_process_table_proc_reads_total", {}, table.get("proc_reads", 0)))
    sensor = counters.get("sensor") or {}
    if sensor:
        out.append(("ringside_startup_seconds", {}, sensor.get("startup_seconds", 0)))
        out.append(("ringside_info", {"instance": str(sensor.get("instance")),
                                      "tier": str(sensor.get("tier"))}, 1))
    paused = counters.get("paused")
    if paused:
        out.append(("ringside_paused", {}, int(bool(paused.get("now")))))
        out.append(("ringside_pauses_total", {}, paused.get("pauses", 0)))
        out.append(("ringside_paused_seconds_total", {}, paused.get("seconds", 0.0)))
    for component, values in (counters.get("components") or {}).items():
        out.extend(_component(str(component), values))
    return out


def _component(component: str, values: Any, path: tuple[str, ...] = ()) -> Iterable[Sample]:
    if _is_number(values):
        name = _metric_name("_".join(("ringside_component", *path)))
        yield (name, {"component": component}, values)
    elif isinstance(values, Mapping):
        for key, value in values.items():
            yield from _component(component, value, (*path, str(key)))


def process_samples(proc: str = "/proc/self") -> list[Sample]:
    """The standard process metrics of the Prometheus client libraries, from /proc."""
    try:
        with open(f"{proc}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        with open(f"{proc}/statm", "rb") as f:
            rss_pages = int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return []
    ticks = os.sysconf("SC_CLK_TCK")
    # fields[0] is field 3 (state): utime and stime are fields 14 and 15.
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    return [
        ("process_cpu_seconds_total", {}, cpu),
        ("process_resident_memory_bytes", {}, rss_pages * os.sysconf("SC_PAGE_SIZE")),
    ]


_PROCESS_FAMILIES = {
    "process_cpu_seconds_total": ("counter", "User and system CPU time of the sensor, seconds"),
    "process_resident_memory_bytes": ("gauge", "Resident memory of the sensor, bytes"),
}


def _format_value(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def render(samples: Iterable[Sample]) -> str:
    """The text exposition format: samples grouped by family, HELP and TYPE first."""
    by_name: dict[str, list[Sample]] = {}
    for sample in samples:
        by_name.setdefault(sample[0], []).append(sample)
    known = {**FAMILIES, **_PROCESS_FAMILIES}
    order = [n for n in known if n in by_name] + sorted(n for n in by_name if n not in known)
    lines = []
    for name in order:
        kind, text = known.get(name, ("gauge" if not name.endswith("_total") else "counter",
                                      "A counter of a stage or sink"))
        lines.append(f"# HELP {name} {text}")
        lines.append(f"# TYPE {name} {kind}")
        for _, labels, value in by_name[name]:
            if labels:
                inner = ",".join(f'{k}="{_label_value(v)}"' for k, v in labels.items())
                lines.append(f"{name}{{{inner}}} {_format_value(value)}")
            else:
                lines.append(f"{name} {_format_value(value)}")
    return "\n".join(lines) + "\n"


class MetricsServer:
    """Serves ``GET /metrics`` on ``host:port`` (port 0: any free port; see :attr:`port`)."""

    def __init__(self, counters: Callable[[], Mapping[str, Any]], port: int,
                 host: str = "127.0.0.1") -> None:
        self._counters = counters
        self._host = host
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self.port: int | None = None
        self.scrapes = 0

    async def start(self) -> None:
        if self._server is not None:
            return
        try:
            self._server = await asyncio.start_server(self._handle, self._host,
                                                      self._requested_port)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {self._host}:{self._requested_port}: "
                              f"{exc.strerror or exc}") from exc
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("metrics on http://%s:%d/metrics", self._host, self.port)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await server.wait_closed()

    async def __aenter__(self) -> MetricsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def body(self) -> bytes:
        return render([*flatten(self._counters()), *process_samples()]).encode()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
            parts = head.split(b"\r\n", 1)[0].split()
            method, target = (parts[0], parts[1]) if len(parts) >= 2 else (b"", b"")
            path = target.split(b"?", 1)[0]
            if method not in (b"GET", b"HEAD"):
                status, body, ctype = "405 Method Not Allowed", b"use GET\n", "text/plain"
            elif path != b"/metrics":
                status, body, ctype = "404 Not Found", b"see /metrics\n", "text/plain"
            else:
                status, body, ctype = "200 OK", self.body(), CONTENT_TYPE
                self.scrapes += 1
            header = (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                      f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
            writer.write(header if method == b"HEAD" else header + body)
            await asyncio.wait_for(writer.drain(), REQUEST_TIMEOUT)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError):
            pass  # a client that went away or never asked: nothing to answer
        except Exception:
            log.exception("metrics request failed")
        finally:
            writer.close()
