"""Where events go: NDJSON on a stream, or a Python callback.

A sink receives batches (lists) of events in the order the kernel recorded
them.  ``write`` may wait (that is how a slow sink pushes back); the stage
that feeds it has a bounded queue, and what overflows it is counted.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable, Sequence
from typing import IO, Any

import orjson
from ringside_schema import EventBase
from ringside_schema.codec import model_fields

IOV_MAX = os.sysconf("SC_IOV_MAX") if "SC_IOV_MAX" in os.sysconf_names else 1024


def to_json(event: EventBase) -> bytes:
    """One NDJSON line (newline included)."""
    return orjson.dumps(event.__dict__, default=model_fields, option=orjson.OPT_APPEND_NEWLINE)


class Sink:
    """Base of the sinks: every method may be awaited; ``stop`` is safe twice."""

    name = "sink"

    async def start(self) -> None:
        return None

    async def write(self, events: Sequence[EventBase]) -> None:
        raise NotImplementedError

    async def flush(self) -> None:
        return None

    async def stop(self) -> None:
        await self.flush()


class NdjsonSink(Sink):
    """One JSON object per line.

    Pipes, sockets and terminals are written through an asyncio transport,
    so a slow reader pushes back instead of blocking the event loop; regular
    files and other devices (/dev/null) are written directly: uvloop's pipe
    transport aborts the process on a character device that is not a tty.
    """

    name = "ndjson"

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._writer: asyncio.StreamWriter | None = None  # None: written directly
        self._stopped = False

    async def start(self) -> None:
        fd = self._stream.fileno()
        mode = os.fstat(fd).st_mode
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd):
            loop = asyncio.get_running_loop()
            transport, protocol = await loop.connect_write_pipe(
                asyncio.streams.FlowControlMixin, os.fdopen(os.dup(fd), "wb", buffering=0)
            )
            self._writer = asyncio.StreamWriter(transport, protocol, None, loop)

    async def write(self, events: Sequence[EventBase]) -> None:
        if self._writer is not None:
            self._writer.write(b"".join(map(to_json, events)))
            await self._writer.drain()
            return
        # Written at once: a buffer would hold a quiet host's events back
        # from whoever tails the file (--output, or stdout redirected to a
        # file).  The lines go out as they are, with writev: joining them
        # first copied every byte once more (recorded long-argv exec storm
        # batches, caches cold: 15.3 against 13.2 us an event to encode and
        # write; file storm batches 8.1 against 7.6).
        self._stream.flush()  # whatever was written to the stream before us
        write_all(self._stream.fileno(), list(map(to_json, events)))

    async def flush(self) -> None:
        if self._writer is not None:
            await self._writer.drain()
        else:
            self._stream.flush()

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            await self.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the reader went away; nothing left to tell it
        if self._writer is not None:
            self._writer.close()


def write_all(fd: int, parts: list[bytes]) -> None:
    """Write every byte of ``parts`` to ``fd``, in order, in as few writev calls as it takes.

    ``parts`` is the caller's scratch list: a line cut short by a write is
    replaced in it by its unwritten rest.
    """
    start = 0
    while start < len(parts):
        chunk = parts[start:start + IOV_MAX]
        written = os.writev(fd, chunk)
        for part in chunk:  # skip what went out whole; keep the rest of a part cut short
            if written < len(part):
                if written:
                    parts[start] = part[written:]
                break
            written -= len(part)
            start += 1


class CallbackSink(Sink):
    """Hands each batch to a function: for embedding the sensor in a Python program."""

    name = "callback"

    def __init__(self, fn: Callable[[Sequence[EventBase]], Any]) -> None:
        self._fn = fn

    async def write(self, events: Sequence[EventBase]) -> None:
        result = self._fn(events)
        if asyncio.iscoroutine(result):
            await result
