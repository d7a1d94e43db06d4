"""The C decoder (``_fastdecode.c``) agrees with the Python decoders of file and process events.

The sensor decodes file, fork, exec and exit records with it; the Python
decoders are the reference.  Each test decodes the same record both ways and compares the
events: their type, every field, and the order of the fields (the order
the Kafka value and the NDJSON line are written in).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ringside._decode import NATIVE_TYPES, native_config
from ringside._native import FASTDECODE
from ringside_schema import EventBase, Host, WireContext, WireFormatError, file, process, wire
from ringside_schema.codec import model_fields

from tests import wirebuild as wb

HOST = Host(hostname="h", id="m", boot_id="b")
OPS = {name: op for op, name in file.SYSCALLS.items()}


@pytest.fixture(scope="module")
def fastdecode() -> Iterator[ModuleType]:
    module = FASTDECODE.load_extension()
    assert module is not None, f"{FASTDECODE.path.name} is not built (make setup builds it)"
    module.configure(native_config())
    yield module
    module.configure(native_config())


def ctx() -> WireContext:
    c = WireContext(HOST, "instance-1")
    c.resolve_dir = lambda pid, dfd: f"/proc-said/{pid}/{dfd}"
    return c


def decode_both(fastdecode: ModuleType, raw: bytes) -> tuple[Any, Any]:
    """(C result, Python result); a result is the event or the WireFormatError raised."""
    results = []
    context = ctx()  # one clock for both
    for native in (True, False):
        try:
            hdr = wire.parse_header(raw, 0, len(raw))
            fn = fastdecode.decode if native else wire.DECODERS[hdr.type]
            results.append(fn(raw, 0, hdr, context))
        except WireFormatError as exc:
            results.append(exc)
        except Exception as exc:  # noqa: BLE001 - what decode_file raises, C must raise too
            results.append(exc)
    return results[0], results[1]


def assert_same(fast: Any, slow: Any) -> None:
    assert type(fast) is type(slow)
    if isinstance(slow, EventBase):
        assert fast.model_dump() == slow.model_dump()
        pack = msgpack.Packer(default=model_fields, use_bin_type=True).pack
        assert pack(fast.__dict__) == pack(slow.__dict__)  # same fields, same order
        assert fast.model_fields_set == slow.model_fields_set
        # What build() makes must be what validation would accept.
        assert type(slow).model_validate(fast.model_dump()).model_dump() == slow.model_dump()
    else:
        assert str(fast) == str(slow)


def damaged(draw: st.DrawFn, rec: bytearray) -> bytearray:
    """The record cut short or with stray bytes after it, its header's size kept true:
    what the Python decoders reject with their own errors."""
    rec = rec[:draw(st.integers(0, len(rec)))] + draw(st.binary(max_size=3))
    size_off = wire.HEADER.offsets["size"]
    if len(rec) >= size_off + 4:
        rec[size_off:size_off + 4] = len(rec).to_bytes(4, "little")
    return rec


ABS_PATH = st.lists(st.sampled_from([b"tmp", b"a", b"x.y", b"..", b".", b"", b"\xff\xfe", b"d e"]),
                    min_size=1, max_size=5).map(lambda parts: b"/" + b"/".join(parts))
PATH = st.one_of(ABS_PATH, st.binary(max_size=20))
FLAGS = st.sampled_from([0, 0, 0, wire.VL_F_TRUNCATED])
FIELD = st.tuples(st.sampled_from([wire.VL_PATH, wire.VL_PATH_NEW, wire.VL_LINK_TARGET,
                                   wire.VL_DIR, wire.VL_DIR_NEW]), FLAGS, PATH)


@st.composite
def file_records(draw: st.DrawFn) -> bytes:
    etype = draw(st.sampled_from(sorted(file.FILE_EVENTS)))
    op = draw(st.sampled_from([*sorted(file.SYSCALLS), 0, 99]))
    fields = draw(st.lists(FIELD, max_size=4))
    raw = wb.file_record(
        etype, op, fields,
        # type bits of every kind, and one (0o170000) that names no type
        mode=draw(st.sampled_from([0, 0o100644, 0o40755, 0o20666, 0o60660, 0o10600,
                                   0o140777, 0o170000, 2**32 - 1])),
        ret=draw(st.integers(-(2**31), 2**31 - 1)),
        pid=draw(st.integers(0, 2**32 - 1)), flags=draw(st.integers(0, 15)),
        comm=draw(st.binary(max_size=16)),
    )
    rec = bytearray(raw)
    fixed = file.FILE.offsets["op"]
    for name, value in (("uid", draw(st.sampled_from([0, 1000, 2**32 - 1]))),
                        ("gid", draw(st.sampled_from([0, 1000, 2**32 - 1]))),
                        ("oflags", draw(st.sampled_from([0, 0o1101, 0x200, 2**32 - 1])))):
        off = file.FILE.offsets[name]
        rec[off:off + 4] = value.to_bytes(4, "little")
    assert fixed < file.FILE.offsets["vl"]
    # The wall clock of a random kernel stamp, across seconds and days.
    rec[0:8] = draw(st.integers(0, 2**62)).to_bytes(8, "little")
    if draw(st.booleans()):
        rec = damaged(draw, rec)
    return bytes(rec)


@settings(max_examples=1500, deadline=None)
@given(file_records())
def test_random_file_records_decode_as_in_python(fastdecode: ModuleType, raw: bytes) -> None:
    assert_same(*decode_both(fastdecode, raw))


def storm_records() -> list[bytes]:
    """What a file storm makes: absolute paths, nothing cut."""
    p = wire.VL_PATH
    return [
        wb.file_record(wire.EVENT_FILE_CREATE, OPS["openat"], [(p, 0, b"/tmp/s/f1")],
                       mode=0o100644),
        wb.file_record(wire.EVENT_FILE_MODIFY, OPS["openat"], [(p, 0, b"/tmp/s/f1")]),
        wb.file_record(wire.EVENT_FILE_RENAME, OPS["renameat2"],
                       [(p, 0, b"/tmp/s/f1"), (wire.VL_PATH_NEW, 0, b"/tmp/s/g1")]),
        wb.file_record(wire.EVENT_FILE_DELETE, OPS["unlinkat"], [(p, 0, b"/tmp/s/g1")]),
        wb.file_record(wire.EVENT_FILE_CREATE, OPS["mkdirat"], [(p, 0, b"/tmp/s/d")],
                       mode=0o40755),
        wb.file_record(wire.EVENT_FILE_LINK, OPS["symlinkat"],
                       [(wire.VL_LINK_TARGET, 0, b"rel/t"), (wire.VL_PATH_NEW, 0, b"/tmp/s/l")]),
        wb.file_record(wire.EVENT_FILE_LINK, OPS["linkat"],
                       [(p, 0, b"/tmp/s/f1"), (wire.VL_PATH_NEW, 0, b"/tmp/s/h")]),
        wb.file_record(wire.EVENT_FILE_CHMOD, OPS["fchmodat"], [(p, 0, b"/tmp/s/f1")],
                       mode=0o104755),
        wb.file_record(wire.EVENT_FILE_CHOWN, OPS["fchownat"], [(p, 0, b"/tmp/\xffs/f1")]),
        # Elastic's long-argv exec storm: fork, exec of ls with 10,000 bytes of argv, exit.
        wb.fork_record(4243, 9_000_000, pid=4242, start_ns=5),
        wb.exec_record([(wire.VL_ARGV, 0, b"ls\0" + b"a" * 10_000 + b"\0"),
                        (wire.VL_EXE, 0, b"/usr/bin/ls"), (wire.VL_FILENAME, 0, b"/bin/ls"),
                        (wire.VL_CWD, 0, b"/root"), (wire.VL_TTY_NAME, 0, b"pts3")],
                       pid=4243, start_ns=9_000_000),
        wb.exit_record(0x100, pid=4243, start_ns=9_000_000),
        wb.exit_record(0x89, pid=4244, start_ns=9_000_000),
    ]


TEXT = st.one_of(st.binary(max_size=24), st.sampled_from(
    [b"pts3", b"pts", b"pts/1", b"tty1", b"pts1x", b"pts\xd9\xa3", b"/usr/bin/ls", b""]))
PROC_FIELD = st.tuples(st.sampled_from([wire.VL_ARGV, wire.VL_EXE, wire.VL_FILENAME, wire.VL_CWD,
                                        wire.VL_TTY_NAME]), FLAGS,
                       st.one_of(TEXT, st.lists(TEXT, max_size=4).map(b"\0".join),
                                 st.lists(TEXT, max_size=4).map(lambda a: b"\0".join(a) + b"\0")))
PROC = st.fixed_dictionaries({
    "pid": st.integers(0, 2**32 - 1), "ppid": st.integers(0, 2**32 - 1),
    "flags": st.integers(0, 15), "comm": st.binary(max_size=16),
    "start_ns": st.sampled_from([0, 1, 5_000_000_000, 2**63, 2**64 - 1]),
})


@st.composite
def process_records(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["exec", "fork", "exit"]))
    proc = draw(PROC)
    if kind == "exec":
        raw = wb.exec_record(draw(st.lists(PROC_FIELD, max_size=6)), **proc)
    elif kind == "fork":
        raw = wb.fork_record(draw(st.integers(0, 2**32 - 1)),
                             draw(st.sampled_from([0, 7, 2**64 - 1])), **proc)
    else:
        raw = wb.exit_record(draw(st.sampled_from([0, 1 << 8, 9, 0x89, 0x7F, 0xFF00, 2**32 - 1])),
                             **proc)
    rec = bytearray(raw)
    rec[0:8] = draw(st.sampled_from([0, 1, 5_000_000_000, 2**62])).to_bytes(8, "little")
    flags_off = wire.HEADER.offsets["flags"]
    rec[flags_off] = draw(st.sampled_from([0, wire.HDR_F_REDUCED]))
    if draw(st.integers(0, 4)) == 0:
        rec = damaged(draw, rec)
    return bytes(rec)


@settings(max_examples=1500, deadline=None)
@given(process_records())
def test_random_process_records_decode_as_in_python(fastdecode: ModuleType, raw: bytes) -> None:
    assert_same(*decode_both(fastdecode, raw))


def test_a_storms_records_are_decoded_in_c(fastdecode: ModuleType) -> None:
    """The fast path is taken: a fallback that refuses would fail these."""
    def refuse(*args: object) -> None:
        raise AssertionError("handed to the Python decoder")

    fastdecode.configure(native_config({t: refuse for t in NATIVE_TYPES}))
    try:
        context = ctx()
        for raw in storm_records():
            hdr = wire.parse_header(raw, 0, len(raw))
            fast = fastdecode.decode(raw, 0, hdr, context)
            assert_same(fast, wire.DECODERS[hdr.type](raw, 0, hdr, context))
        # A relative path needs the process table: not decoded in C.
        raw = wb.file_record(wire.EVENT_FILE_CREATE, OPS["openat"], [(wire.VL_PATH, 0, b"rel")])
        with pytest.raises(AssertionError, match="handed to the Python decoder"):
            fastdecode.decode(raw, 0, wire.parse_header(raw, 0, len(raw)), ctx())
    finally:
        fastdecode.configure(native_config())


def test_process_blocks_are_cached_by_their_bytes_and_handed_out_as_copies(
        fastdecode: ModuleType) -> None:
    """The C decoder keeps ctx.process_cache as process.process_block does."""
    context = ctx()
    raw = wb.exit_record(0, pid=4243, start_ns=9_000_000)
    hdr = wire.parse_header(raw, 0, len(raw))
    events = [fastdecode.decode(raw, 0, hdr, context)]  # built and cached
    assert len(context.process_cache) == 1
    # The process table fills in an event's block; the next event's must not see it,
    # whether its block was built or came from the cache.
    for _ in range(2):
        events[-1].process.__dict__["executable"] = "/filled/in"
        events.append(fastdecode.decode(raw, 0, hdr, context))
        assert events[-1].process.executable is None
    assert len({id(e.process.__dict__) for e in events}) == 3
    assert len(context.process_cache) == 1
    # Another block is another entry; a full cache starts afresh (bounded memory).
    other = wb.exit_record(0, pid=4244, start_ns=9_000_000)
    fastdecode.decode(other, 0, wire.parse_header(other, 0, len(other)), context)
    assert len(context.process_cache) == 2
    for i in range(process.PROCESS_CACHE_MAX - 2):
        context.process_cache[i.to_bytes(80, "little")] = {}
    third = wb.exit_record(0, pid=4245, start_ns=9_000_000)
    hdr = wire.parse_header(third, 0, len(third))
    fast = fastdecode.decode(third, 0, hdr, context)
    assert list(context.process_cache) == [third[wire.HEADER.size:wire.HEADER.size + 80]]
    assert_same(fast, wire.DECODERS[hdr.type](third, 0, hdr, context))


def test_records_at_an_offset_in_a_batch_decode_as_in_python(fastdecode: ModuleType) -> None:
    records = storm_records()
    data = b"".join(records)
    off = 0
    context = ctx()
    for raw in records:
        hdr = wire.parse_header(data, off, len(raw))
        python = wire.DECODERS[hdr.type]
        assert_same(fastdecode.decode(data, off, hdr, context), python(data, off, hdr, context))
        assert_same(fastdecode.decode(memoryview(data), off, hdr, context),
                    python(data, off, hdr, context))
        off += len(raw)


@pytest.mark.parametrize("path", [b"/tmp/", b"/tmp//x", b"/tmp/./x", b"/tmp/../x", b"/", b"//",
                                  b"/a/.hidden", b"/tmp/x.", b"/\xff/\xfe"])
def test_paths_to_tidy_decode_as_in_python(fastdecode: ModuleType, path: bytes) -> None:
    raw = wb.file_record(wire.EVENT_FILE_CREATE, OPS["openat"], [(wire.VL_PATH, 0, path)])
    fast, slow = decode_both(fastdecode, raw)
    assert_same(fast, slow)
