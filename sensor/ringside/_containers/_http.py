"""A small HTTP/1.1 client over a unix socket, for the Docker Engine API.

Just what the Engine API needs: GET with a JSON answer, and one streaming
GET (``/events``) whose body is a chunked stream of JSON lines.  One
connection per request (``Connection: close``): lookups are rare, and a
fresh connection is never left half-read by an earlier failure.

Every failure comes out as :class:`EnrichmentError` (retriable), with the
socket path and what went wrong, translated here at the boundary.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ._model import RuntimeFailure

MAX_HEADER = 64 << 10
MAX_BODY = 8 << 20
MAX_LINE = 1 << 20


@dataclass(slots=True)
class Response:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes


class UnixHttp:
    def __init__(self, path: str, timeout: float = 2.0, host: str = "localhost") -> None:
        self.path = path
        self.timeout = timeout
        self.host = host

    async def _open(self, target: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            reader, writer = await asyncio.open_unix_connection(self.path, limit=MAX_LINE)
        except FileNotFoundError as exc:
            raise RuntimeFailure(f"runtime socket {self.path} does not exist",
                                 reason="socket_missing") from exc
        except ConnectionRefusedError as exc:
            raise RuntimeFailure(f"runtime socket {self.path} refused the connection "
                                  "(is the runtime's API service running?)",
                                 reason="socket_refused") from exc
        except OSError as exc:
            raise RuntimeFailure(f"runtime socket {self.path}: {exc.strerror or exc}",
                                 reason="socket_error") from exc
        request = (f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\n"
                   "User-Agent: ringside\r\nAccept: application/json\r\n"
                   "Connection: close\r\n\r\n").encode()
        try:
            writer.write(request)
            await writer.drain()
        except OSError as exc:
            writer.close()
            raise RuntimeFailure(f"runtime socket {self.path}: {exc.strerror or exc}",
                                 reason="socket_error") from exc
        return reader, writer

    async def _head(self, reader: asyncio.StreamReader) -> tuple[int, str, dict[str, str]]:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            raise RuntimeFailure(f"runtime socket {self.path} closed the connection "
                                  "before answering", reason="connection_lost") from exc
        except asyncio.LimitOverrunError as exc:
            raise RuntimeFailure(f"runtime socket {self.path} answered garbage "
                                  "(no end of HTTP headers)", reason="garbage") from exc
        if len(raw) > MAX_HEADER:
            raise RuntimeFailure(f"runtime socket {self.path}: HTTP headers too long",
                                 reason="garbage")
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise RuntimeFailure(f"runtime socket {self.path} answered garbage: "
                                  f"{lines[0][:80]!r} is not an HTTP status line", reason="garbage")
        headers = {}
        for line in lines[1:]:
            if not line:
                continue
            key, sep, value = line.partition(":")
            if not sep:
                raise RuntimeFailure(f"runtime socket {self.path} answered garbage: "
                                      f"header line {line[:80]!r}", reason="garbage")
            headers[key.strip().lower()] = value.strip()
        return int(parts[1]), parts[2] if len(parts) > 2 else "", headers

    async def get(self, target: str) -> Response:
        """One GET, the whole body read (at most MAX_BODY bytes), within the timeout."""
        try:
            return await asyncio.wait_for(self._get(target), self.timeout)
        except TimeoutError as exc:
            raise RuntimeFailure(f"runtime socket {self.path} did not answer GET {target} "
                                  f"within {self.timeout:g}s", reason="timeout") from exc

    async def _get(self, target: str) -> Response:
        reader, writer = await self._open(target)
        try:
            status, reason, headers = await self._head(reader)
            body = b"".join([chunk async for chunk in self._body(reader, headers)])
            return Response(status, reason, headers, body)
        except OSError as exc:
            raise RuntimeFailure(f"runtime socket {self.path}: {exc.strerror or exc}",
                                 reason="socket_error") from exc
        finally:
            writer.close()

    async def _chunk_size(self, reader: asyncio.StreamReader) -> int:
        """The size line of a chunked body's next chunk, as a number (0: the last)."""
        size_line = await reader.readuntil(b"\r\n")
        try:
            return int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise RuntimeFailure(f"runtime socket {self.path} answered garbage "
                                 f"(bad chunk size {size_line[:40]!r})",
                                 reason="garbage") from None

    async def _body(self, reader: asyncio.StreamReader,
                    headers: dict[str, str]) -> AsyncIterator[bytes]:
        try:
            if headers.get("transfer-encoding", "").lower() == "chunked":
                total = 0
                while True:
                    size = await self._chunk_size(reader)
                    if size == 0:
                        return
                    total += size
                    if total > MAX_BODY:
                        raise RuntimeFailure(f"runtime socket {self.path}: body over "
                                              f"{MAX_BODY} bytes", reason="garbage")
                    data = await reader.readexactly(size)
                    await reader.readexactly(2)  # the CRLF after each chunk
                    yield data
            elif "content-length" in headers:
                try:
                    length = int(headers["content-length"])
                except ValueError:
                    raise RuntimeFailure(f"runtime socket {self.path} answered garbage "
                                          "(bad Content-Length)", reason="garbage") from None
                if not 0 <= length <= MAX_BODY:
                    raise RuntimeFailure(f"runtime socket {self.path}: body of {length} bytes",
                                         reason="garbage")
                yield await reader.readexactly(length)
            else:
                data = await reader.read(MAX_BODY + 1)
                if len(data) > MAX_BODY:
                    raise RuntimeFailure(f"runtime socket {self.path}: body over {MAX_BODY} bytes",
                                         reason="garbage")
                yield data
        except asyncio.IncompleteReadError as exc:
            raise RuntimeFailure(f"runtime socket {self.path} closed the connection "
                                  "in the middle of an answer", reason="connection_lost") from exc
        except asyncio.LimitOverrunError as exc:
            raise RuntimeFailure(f"runtime socket {self.path} answered garbage "
                                  "(a chunk header too long)", reason="garbage") from exc

    async def stream_lines(self, target: str) -> AsyncIterator[bytes]:
        """A streaming GET: each non-empty line of the body, as it comes; no timeout
        once the headers are in (event streams are quiet for long stretches)."""
        try:
            reader, writer = await asyncio.wait_for(self._open(target), self.timeout)
        except TimeoutError as exc:
            raise RuntimeFailure(f"runtime socket {self.path} did not accept a connection "
                                  f"within {self.timeout:g}s", reason="timeout") from exc
        try:
            try:
                status, reason, headers = await asyncio.wait_for(self._head(reader),
                                                                 self.timeout)
            except TimeoutError as exc:
                raise RuntimeFailure(f"runtime socket {self.path} did not answer "
                                      f"GET {target}", reason="timeout") from exc
            if status != 200:
                body = b"".join([c async for c in self._body(reader, headers)])
                raise RuntimeFailure(f"runtime socket {self.path}: GET {target} answered "
                                      f"{status} {reason}: {body[:200]!r}", reason="http_error")
            pending = b""
            async for chunk in self._stream_body(reader, headers):
                pending += chunk
                if len(pending) > MAX_LINE:
                    raise RuntimeFailure(f"runtime socket {self.path}: a streamed line "
                                          f"over {MAX_LINE} bytes", reason="garbage")
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield line
            if pending.strip():
                yield pending
        except OSError as exc:
            raise RuntimeFailure(f"runtime socket {self.path}: {exc.strerror or exc}",
                                 reason="socket_error") from exc
        finally:
            writer.close()

    async def _stream_body(self, reader: asyncio.StreamReader,
                           headers: dict[str, str]) -> AsyncIterator[bytes]:
        """Like _body, without the total size cap (a stream runs for days)."""
        try:
            if headers.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    size = await self._chunk_size(reader)
                    if size == 0:
                        return
                    if size > MAX_LINE:
                        raise RuntimeFailure(f"runtime socket {self.path}: chunk of {size} "
                                              "bytes in an event stream", reason="garbage")
                    data = await reader.readexactly(size)
                    await reader.readexactly(2)
                    yield data
            else:
                while True:
                    data = await reader.read(65536)
                    if not data:
                        return
                    yield data
        except asyncio.IncompleteReadError as exc:
            raise RuntimeFailure(f"runtime socket {self.path} closed the event stream "
                                  "in the middle of a chunk", reason="connection_lost") from exc
        except asyncio.LimitOverrunError as exc:
            raise RuntimeFailure(f"runtime socket {self.path} answered garbage "
                                  "(a chunk header too long)", reason="garbage") from exc
