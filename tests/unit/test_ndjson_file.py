"""NDJSON to a file: each batch is in the file once the sink has it, not at stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from ringside import _sinks
from ringside._sinks import NdjsonSink, to_json

from tests.kafka.events import exec_event


def test_a_batch_is_in_the_file_before_stop(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    path.write_bytes(b'{"earlier":1}\n')  # appended to, never truncated
    first, second = [exec_event(1)], [exec_event(2), exec_event(3)]

    async def main() -> list[bytes]:
        with open(path, "ab") as stream:  # buffered, as --output and a redirected stdout are
            sink = NdjsonSink(stream)
            await sink.start()
            seen = []
            for batch in (first, second):
                await sink.write(batch)
                seen.append(path.read_bytes())  # what a tail -f would read now
            await sink.stop()
        return seen

    seen = asyncio.run(main())
    assert seen[0] == b'{"earlier":1}\n' + to_json(first[0])
    assert seen[1] == seen[0] + b"".join(map(to_json, second))


def test_write_all_finishes_short_writes_and_long_batches(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """writev may write less than asked, and takes at most IOV_MAX parts a call."""
    written = bytearray()
    calls = []

    def short_writev(fd: int, parts: list[bytes]) -> int:
        assert len(parts) <= _sinks.IOV_MAX
        data = b"".join(parts)[:7]  # at most 7 bytes a call, often mid-part
        calls.append(len(data))
        written.extend(data)
        return len(data)

    monkeypatch.setattr(_sinks.os, "writev", short_writev)
    monkeypatch.setattr(_sinks, "IOV_MAX", 4)
    parts = [b"%d-" % i * (i % 5) + b"\n" for i in range(23)]
    expected = b"".join(parts)
    _sinks.write_all(99, list(parts))
    assert bytes(written) == expected
    assert 0 not in calls  # every call wrote something


def test_write_all_writes_a_batch_larger_than_iov_max(tmp_path: Path) -> None:
    parts = [b"line %d\n" % i for i in range(_sinks.IOV_MAX * 2 + 3)]
    path = tmp_path / "out"
    with open(path, "wb") as f:
        _sinks.write_all(f.fileno(), list(parts))
    assert path.read_bytes() == b"".join(parts)
