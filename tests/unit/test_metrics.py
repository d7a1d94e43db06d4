"""The Prometheus endpoint: its text format, on a real socket, and its lifecycle."""

from __future__ import annotations

import asyncio
import re
import socket
from typing import Any

import pytest
from ringside._errors import ConfigError
from ringside._metrics import MetricsServer, flatten, render

COUNTERS: dict[str, Any] = {
    "ring": {"records": 12, "bytes": 2048},
    "decoded": {"file.create": 5, "aux.cwd": 1},
    "decode_errors": {"short": 2},
    "internal_errors": 0,
    "user_drops": {"queue/file.create": 3},
    "delivered": {"ndjson/file.create": 2, "ndjson/process.exec": 4},
    "seq_gaps": 7,
    "kernel": {
        "sent": {"file.create": 5},
        "drops": {"file.create/ringbuf_full": 9},
        "dropped": 9,
        "tty_bytes": {"captured": 64, "over_cap": 0, "over_budget": 128},
    },
    "sensor": {"instance": 'in"st\\x', "tier": "full", "startup_seconds": 1.25},
    "queue_depth": 1,
    "paused": {"now": True, "pauses": 2, "seconds": 3.5},
    "process_table": {"size": 3, "evicted": 0, "proc_reads": 1},
    "components": {"kafka": {"sent": 10, "acked": 8, "failed": 1, "spooled": 1,
                             "broker": "127.0.0.1:9092", "ok": True},
                   "containers": {"cache": {"hits": 4, "misses": 2}}},
}

# name{labels} value, as the exposition format allows (labels optional).
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
                    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})? (\S+)$')


def parse(text: str) -> dict[str, float]:
    """Every line is a comment or a well-formed sample; TYPE comes before a family's samples."""
    assert text.endswith("\n")
    samples: dict[str, float] = {}
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            assert kind in ("counter", "gauge")
            assert name not in typed, f"{name} typed twice"
            typed.add(name)
            continue
        if line.startswith("# HELP "):
            continue
        m = SAMPLE.match(line)
        assert m, f"malformed sample line {line!r}"
        assert m.group(1) in typed, f"{m.group(1)} has no TYPE line before it"
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return samples


def test_counters_become_labelled_samples() -> None:
    samples = parse(render(flatten(COUNTERS)))
    assert samples['ringside_events_delivered_total{sink="ndjson",type="file.create"}'] == 2
    assert samples['ringside_kernel_drops_total{type="file.create",reason="ringbuf_full"}'] == 9
    assert samples['ringside_user_drops_total{stage="queue",type="file.create"}'] == 3
    assert samples['ringside_kernel_tty_bytes_total{kind="over_budget"}'] == 128
    assert samples['ringside_decode_errors_total{reason="short"}'] == 2
    assert samples['ringside_queue_depth{queue="batches"}'] == 1
    assert samples["ringside_seq_gaps_total"] == 7
    assert samples["ringside_startup_seconds"] == 1.25
    assert samples["ringside_paused"] == 1
    assert samples["ringside_pauses_total"] == 2
    assert samples["ringside_paused_seconds_total"] == 3.5
    # Components: every number, whatever its name; strings and booleans are not metrics.
    assert samples['ringside_component_acked{component="kafka"}'] == 8
    assert samples['ringside_component_spooled{component="kafka"}'] == 1
    assert samples['ringside_component_cache_hits{component="containers"}'] == 4
    assert not any("broker" in k or "_ok{" in k for k in samples)
    # Label values are escaped.
    assert samples['ringside_info{instance="in\\"st\\\\x",tier="full"}'] == 1


def _get(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return lines[0], headers, body


def test_served_on_a_real_socket() -> None:
    calls = []

    def counters() -> dict[str, Any]:
        calls.append(1)
        return COUNTERS

    async def main() -> None:
        server = MetricsServer(counters, 0)
        async with server:
            assert server.port
            loop = asyncio.get_running_loop()
            status, headers, body = await loop.run_in_executor(
                None, _get, server.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status == "HTTP/1.1 200 OK"
            assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert int(headers["Content-Length"]) == len(body)
            samples = parse(body.decode())
            assert samples['ringside_component_failed{component="kafka"}'] == 1
            assert samples["process_resident_memory_bytes"] > 0
            assert samples["process_cpu_seconds_total"] > 0
            status, _, _ = await loop.run_in_executor(
                None, _get, server.port, b"GET /other HTTP/1.1\r\n\r\n")
            assert status.startswith("HTTP/1.1 404")
            status, _, _ = await loop.run_in_executor(
                None, _get, server.port, b"POST /metrics HTTP/1.1\r\n\r\n")
            assert status.startswith("HTTP/1.1 405")
            port = server.port
        assert len(calls) == 1  # only the good request read the counters
        await server.stop()  # twice is fine
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()

    asyncio.run(main())


def test_port_in_use_is_a_config_error() -> None:
    async def main() -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            with pytest.raises(ConfigError, match="cannot serve metrics"):
                await MetricsServer(dict, taken.getsockname()[1]).start()

    asyncio.run(main())
