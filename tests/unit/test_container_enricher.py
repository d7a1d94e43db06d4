"""The enricher and its clients, without a container runtime.

Runtimes themselves are exercised for real in tests/containers.  Here are
the inputs no real runtime can be made to give: sockets that are missing,
refuse, hang, or answer garbage (each is a real unix socket served by the
test, saying exactly that), and the cgroup records of the kernel, built
byte by byte as the BPF program lays them out.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import ringside_schema as rs
from ringside import ContainerEnricher, EnricherConfig, EnrichmentError
from ringside._containers import AUX_CGROUP, CgroupChange, CgroupFs, Mounts, decode_cgroup
from ringside._containers import _protobuf as pb
from ringside._containers._cri import _container_status
from ringside._containers._engine import EngineClient
from ringside._containers._http import UnixHttp
from ringside._containers._wire import CGROUP_OP_MKDIR, CGROUP_OP_RMDIR
from ringside_schema import WireContext, wire

ID = "3f4e1a2b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
UID = "0f5d3c1a-8a2b-4c6e-9f1d-2b3c4d5e6f70"


def event(cgroup_id: int, pid: int = 4242) -> rs.EventBase:
    return rs.validate({
        "event": "process.exit", "timestamp": "2026-01-01T00:00:00.000000000Z",
        "ktime_ns": 1, "host": {"hostname": "h", "id": "m", "boot_id": "b"},
        "sensor": {"instance": "i", "tier": "full", "cpu": 0, "seq": 1},
        "process": {"pid": pid, "tid": pid, "ppid": 1, "entity_id": f"e{pid}",
                    "parent_entity_id": None, "start_ns": 5, "uid": 0, "gid": 0,
                    "euid": 0, "egid": 0, "loginuid": None, "session_id": None,
                    "comm": "x", "executable": None, "args": None,
                    "args_truncated": False, "cwd": None, "tty": None, "cgroup_id": cgroup_id},
        "container": None, "truncated": None, "exit_code": 0, "exit_signal": None,
        "core_dumped": False, "duration_ns": 5})


def fs_with(paths: dict[int, str]) -> CgroupFs:
    """A resolver that knows only these cgroups (no hierarchy is mounted for it)."""
    fs = CgroupFs(Mounts())
    for cgroup_id, path in paths.items():
        fs.learn(cgroup_id, path)
    return fs


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def unix_server(path: Path, handler: Handler) -> AsyncIterator[None]:
    server = await asyncio.start_unix_server(handler, str(path))
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()


def answer(raw: bytes) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(raw)
        await writer.drain()
        writer.close()
    return handle


async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.read()  # never answers; the client gives up
    finally:
        writer.close()


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


# ---- the enricher ----

def test_containers_from_paths_without_a_runtime() -> None:
    async def go() -> None:
        fs = fs_with({10: f"/libpod_parent/libpod-{ID}",
                      11: f"/kubepods/besteffort/pod{UID}/{ID[::-1]}",
                      12: "/user.slice/user-0.slice/session-1.scope"})
        cfg = EnricherConfig(engine_socket="", cri_socket="", follow_events=False, v1="off")
        async with ContainerEnricher(cfg, fs=fs) as enricher:
            out = await enricher.process([event(10), event(11), event(12), event(10)])
            c0, c1, c2, c3 = (e.container for e in out)
            assert c0 is not None and (c0.id, c0.runtime, c0.metadata) == \
                (ID, "podman", "unavailable")
            assert c0.name is None and c0.image is None
            assert c1 is not None and (c1.id, c1.runtime) == (ID[::-1], "other")
            assert c1.pod is not None and c1.pod.uid == UID  # from the path alone
            assert c2 is None
            assert c3 is c0  # one model per container, shared by its events
            counters = enricher.counters()
            assert counters["cgroup_cache_misses"] == 3 and counters["cgroup_cache_hits"] == 1
            assert counters.get("waits", 0) == 0  # nobody to ask: nothing to wait for
            # What the stage built without validation is what validation gives.
            for ev in out:
                assert rs.validate(ev.model_dump()) == ev
    run(go())


def test_cgroup_records_teach_paths_and_expire() -> None:
    async def go() -> None:
        fs = fs_with({})
        cfg = EnricherConfig(engine_socket="", cri_socket="", follow_events=False, v1="off",
                             cgroup_grace=0)
        async with ContainerEnricher(cfg, fs=fs) as enricher:
            enricher.on_cgroup(CgroupChange(77, 0, 2, CGROUP_OP_MKDIR,
                                            f"/system.slice/docker-{ID}.scope"))
            enricher.on_cgroup(CgroupChange(78, 3, 2, CGROUP_OP_MKDIR, "/v1/ignored"))
            (ev,) = await enricher.process([event(77)])
            assert ev.container is not None and (ev.container.id, ev.container.runtime) == \
                (ID, "docker")
            assert enricher.counters()["cgroup_cache_misses"] == 0  # known from mkdir
            assert fs.known(78) is None  # v1 hierarchies (root != 0) are not ours
            enricher.on_cgroup(CgroupChange(77, 0, 2, CGROUP_OP_RMDIR, None))
            (ev,) = await enricher.process([event(77)])
            # Gone (grace 0) and no hierarchy to look in: unresolved, so host.
            assert ev.container is None
            assert enricher.counters()["cgroup_unresolved"] == 1
    run(go())


@pytest.mark.parametrize("reply, reason", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnot json!", "garbage"),
    (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "garbage"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "garbage"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", "connection_lost"),
    (b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops", "http_error"),
])
def test_runtime_answering_garbage(tmp_path: Path, reply: bytes, reason: str) -> None:
    sock = tmp_path / "engine.sock"

    async def go() -> None:
        async with unix_server(sock, answer(reply)):
            fs = fs_with({10: f"/system.slice/docker-{ID}.scope"})
            cfg = EnricherConfig(engine_socket=str(sock), cri_socket="", follow_events=False,
                                 v1="off", wait=5)
            async with ContainerEnricher(cfg, fs=fs) as enricher:
                (ev,) = await enricher.process([event(10)])
                c = ev.container
                assert c is not None and (c.id, c.runtime, c.metadata) == \
                    (ID, "docker", "unavailable")
                await enricher.flush()
                errors = enricher.counters()["errors"]
                assert errors == {reason: 2}  # the start-up probe and the lookup
                # The stage goes on: the next batch is enriched from the cache.
                (ev2,) = await enricher.process([event(10, pid=4343)])
                assert ev2.container is c
    run(go())


@pytest.mark.parametrize("kind", ["missing", "refused"])
def test_runtime_socket_missing_or_refusing(tmp_path: Path, kind: str) -> None:
    sock = tmp_path / "engine.sock"
    if kind == "refused":
        # A socket file nobody listens on: connect() is refused.
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(sock))
        s.close()

    async def go() -> None:
        fs = fs_with({10: f"/libpod_parent/libpod-{ID}"})
        cfg = EnricherConfig(engine_socket=str(sock), cri_socket="", follow_events=False,
                             v1="off")
        async with ContainerEnricher(cfg, fs=fs) as enricher:
            (ev,) = await enricher.process([event(10)])
            assert ev.container is not None and ev.container.metadata == "unavailable"
            await enricher.flush()
            errors = enricher.counters()["errors"]
            assert errors == {f"socket_{kind}": 2}  # the start-up probe and the lookup
            assert enricher.counters()["engine_answers"] is False
    run(go())


def test_pending_is_bounded_and_waited_for_once(tmp_path: Path) -> None:
    sock = tmp_path / "engine.sock"

    async def go() -> None:
        async with unix_server(sock, hang):
            fs = fs_with({10: f"/libpod_parent/libpod-{ID}"})
            cfg = EnricherConfig(engine_socket=str(sock), cri_socket="", follow_events=False,
                                 v1="off", wait=0.05, timeout=30, retry_after=60)
            async with ContainerEnricher(cfg, fs=fs) as enricher:
                (ev,) = await enricher.process([event(10)])
                assert ev.container is not None and ev.container.metadata == "pending"
                (ev,) = await enricher.process([event(10, pid=4343)])
                assert ev.container is not None and ev.container.metadata == "pending"
                counters = enricher.counters()
                assert counters["waits"] == 1 and counters["events_sent_pending"] == 2
                assert counters["lookups_in_flight"] == 1
            await asyncio.sleep(0.05)  # the server sees the client go
    run(go())


# ---- the kernel's cgroup record ----

def record(cgroup_id: int, op: int, path: bytes | None, flags: int = 0) -> bytes:
    tail = b""
    count = 0
    if path is not None:
        tail = struct.pack("<HHI", wire.VL_PATH, flags, len(path)) + path
        count = 1
    fixed = struct.pack("<QiiII", cgroup_id, 0, 2, op, 0) + struct.pack("<II", count, len(tail))
    size = 32 + len(fixed) + len(tail)
    hdr = struct.pack("<QQIHHHHI", 1, 0, size, wire.EVENT_AUX_CGROUP, 0, wire.WIRE_VERSION, 0, 0)
    return hdr + fixed + tail


def test_cgroup_record_decodes() -> None:
    ctx = WireContext(rs.Host(hostname="h", id="m", boot_id="b"), "i")
    raw = record(91, CGROUP_OP_MKDIR, b"/libpod_parent/libpod-" + ID.encode())
    assert len(raw) == AUX_CGROUP.size + 8 + len(b"/libpod_parent/libpod-") + 64
    rec = wire.decode_record(raw, 0, len(raw), ctx, {wire.EVENT_AUX_CGROUP: decode_cgroup})
    assert rec == CgroupChange(91, 0, 2, CGROUP_OP_MKDIR, "/libpod_parent/libpod-" + ID)
    # The reduced tier sends no path; a cut path is no path.
    raw = record(92, CGROUP_OP_RMDIR, None)
    assert decode_cgroup(raw, 0, wire.parse_header(raw, 0, len(raw)), ctx).path is None
    raw = record(93, CGROUP_OP_MKDIR, b"/a/b", flags=wire.VL_F_TRUNCATED)
    assert decode_cgroup(raw, 0, wire.parse_header(raw, 0, len(raw)), ctx).path is None
    bad = raw[:-1]
    with pytest.raises(rs.WireFormatError):
        wire.decode_record(bad, 0, len(bad), ctx, {wire.EVENT_AUX_CGROUP: decode_cgroup})


# ---- the clients ----

def test_http_chunked_and_content_length(tmp_path: Path) -> None:
    sock = tmp_path / "s.sock"
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\n{\"Id\"\r\n3;ext=1\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n")

    async def go() -> None:
        async with unix_server(sock, answer(chunked)):
            resp = await UnixHttp(str(sock)).get("/x")
            assert (resp.status, resp.body) == (200, b'{"Id": 1}')
    run(go())


def test_engine_event_stream_lines(tmp_path: Path) -> None:
    sock = tmp_path / "s.sock"
    lines = [
        {"status": "create", "id": ID, "from": "localhost/bbox:1", "Type": "container",
         "Action": "create", "Actor": {"ID": ID, "Attributes": {
             "image": "localhost/bbox:1", "name": "web", "team": "blue"}}},
        {"Type": "image", "Action": "pull", "Actor": {"ID": "sha256:1"}},
    ]
    import json
    body = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
    # Split mid-line across chunks, as a server may.
    chunks = [body[:50], body[50:]]
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"".join(
        f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks) + b"0\r\n\r\n"

    async def go() -> None:
        async with unix_server(sock, answer(raw)):
            got = [x async for x in EngineClient(str(sock)).events()]
            assert len(got) == 1
            action, info = got[0]
            assert action == "create"
            assert (info.id, info.name, info.image, info.labels) == \
                (ID, "web", "localhost/bbox:1", {"team": "blue"})
    run(go())


def test_engine_event_stream_with_a_bad_chunk_size(tmp_path: Path) -> None:
    """A chunk size that is not hex ends the stream with a "garbage" failure, after
    the events of the chunks before it."""
    sock = tmp_path / "s.sock"
    line = (b'{"Type": "container", "Action": "start", "Actor": {"ID": "%s", '
            b'"Attributes": {"image": "img", "name": "n"}}}\n' % ID.encode())
    raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           + f"{len(line):x}\r\n".encode() + line + b"\r\nzz\r\n")

    async def go() -> None:
        async with unix_server(sock, answer(raw)):
            got = []
            with pytest.raises(EnrichmentError, match="bad chunk size") as info:
                async for item in EngineClient(str(sock)).events():
                    got.append(item)
            assert getattr(info.value, "reason", None) == "garbage"
            assert [action for action, _ in got] == ["start"]
    run(go())


def test_engine_inspect_garbage_shapes(tmp_path: Path) -> None:
    sock = tmp_path / "s.sock"
    body = b'["a list, not an object"]'
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    async def go() -> None:
        async with unix_server(sock, answer(raw)):
            with pytest.raises(EnrichmentError, match="garbage"):
                await EngineClient(str(sock)).inspect(ID)
    run(go())


def test_protobuf_round_trip_and_garbage() -> None:
    msg = (pb.string(1, ID) + pb.message(2, pb.string(1, "app") + pb.uint(2, 3))
           + pb.message(8, pb.string(1, "docker.io/library/busybox:1.36"))
           + pb.string(9, "sha256:abc") + pb.uint(3, 1) + pb.uint(4, -5 & 0xFFFFFFFFFFFFFFFF)
           + pb.string_map(12, {"io.kubernetes.pod.name": "web", "k": ""}))
    info = _container_status(pb.parse(msg), "asked")
    assert (info.id, info.name, info.image, info.image_id) == \
        (ID, "app", "docker.io/library/busybox:1.36", "sha256:abc")
    assert info.labels == {"io.kubernetes.pod.name": "web", "k": ""}
    assert pb.parse(pb.uint(1, 2**63)) == {1: [2**63]}
    for garbage in (b"\x0a\xff", b"\x08", b"\x0b", b"\x00\x01", b"\xff" * 11):
        with pytest.raises(pb.ProtoError):
            pb.parse(garbage)
    # A field of the wrong wire type is garbage too, not a crash.
    with pytest.raises(pb.ProtoError):
        _container_status(pb.parse(pb.uint(1, 7)), "asked")
