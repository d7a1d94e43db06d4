"""Decoders on byte fixtures: no root, no kernel."""

from __future__ import annotations

import pytest
from ringside_schema import (
    Host,
    ProcessExec,
    ProcessExit,
    ProcessFork,
    WireContext,
    WireFormatError,
    decode,
    encode,
    entity_id,
    validate,
    wire,
)

from tests import wirebuild as wb

HOST = Host(hostname="h1", id="machine-1", boot_id="boot-1")


@pytest.fixture
def ctx() -> WireContext:
    c = WireContext(HOST, "instance-1")
    c.clock.offset_ns = 1_700_000_000_000_000_000  # a fixed wall clock for exact timestamps
    return c


def dec(raw: bytes, ctx: WireContext) -> object:
    return wire.decode_record(raw, 0, len(raw), ctx)


def test_exec_record_decodes_every_field(ctx: WireContext) -> None:
    raw = wb.exec_record([
        (wire.VL_ARGV, 0, b"/bin/ls\0-l\0\0/tmp\0"),
        (wire.VL_EXE, 0, b"/usr/bin/ls"),
        (wire.VL_FILENAME, 0, b"/bin/ls"),
        (wire.VL_CWD, 0, b"/home/u"),
        (wire.VL_TTY_NAME, 0, b"pts3"),
    ], pid=4242, tid=4242, ppid=4000, uid=1000, euid=0, loginuid=0xFFFFFFFF,
        sessionid=7, comm=b"ls\0garbage-after-nul")
    ev = dec(raw, ctx)
    assert isinstance(ev, ProcessExec)
    assert ev.event == "process.exec"
    assert ev.timestamp == "2023-11-14T22:13:25.000000000Z"  # 1.7e18 ns + 5 s
    assert ev.ktime_ns == 5_000_000_000
    assert ev.sensor.instance == "instance-1" and ev.sensor.seq == 1 and ev.sensor.cpu == 0
    p = ev.process
    assert p.args == ["/bin/ls", "-l", "", "/tmp"]  # an empty argument survives
    assert p.args_truncated is False and ev.truncated is None
    assert (p.executable, ev.filename, p.cwd, p.tty) == ("/usr/bin/ls", "/bin/ls", "/home/u",
                                                          "pts/3")
    assert (p.pid, p.tid, p.ppid, p.uid, p.euid) == (4242, 4242, 4000, 1000, 0)
    assert p.loginuid is None and p.session_id == 7
    assert p.comm == "ls"
    assert p.entity_id == entity_id("machine-1", "boot-1", 4242, 4_000_000_000)
    assert p.parent_entity_id == entity_id("machine-1", "boot-1", 4000, 1_000_000)
    assert p.start_ns == 4_000_000_000


def test_truncated_fields_are_flagged(ctx: WireContext) -> None:
    raw = wb.exec_record([
        (wire.VL_ARGV, wire.VL_F_TRUNCATED, b"a\0bbbb"),
        (wire.VL_CWD, wire.VL_F_TRUNCATED, b"/deep/er"),
    ])
    ev = dec(raw, ctx)
    assert isinstance(ev, ProcessExec)
    assert ev.process.args == ["a", "bbbb"]
    assert ev.process.args_truncated is True
    assert ev.truncated == ["process.args", "process.cwd"]


def test_reduced_tier_record_leaves_unknown_fields_empty(ctx: WireContext) -> None:
    raw = wb.exec_record([], flags=0)  # no RS_PROC_F_* bit: nothing but ids and uid/gid known
    ev = dec(raw, ctx)
    p = ev.process  # type: ignore[attr-defined]
    assert (p.ppid, p.entity_id, p.parent_entity_id, p.start_ns) == (None, None, None, None)
    assert (p.euid, p.egid, p.loginuid, p.session_id) == (None, None, None, None)
    assert (p.uid, p.gid) == (1000, 1000)


@pytest.mark.parametrize(("status", "code", "signal", "core"), [
    (0, 0, None, False),
    (7 << 8, 7, None, False),
    (9, None, 9, False),
    (0x80 | 11, None, 11, True),
    (0xFFFFFFFF, None, None, False),
])
def test_exit_status(ctx: WireContext, status: int, code: int | None, signal: int | None,
                     core: bool) -> None:
    ev = dec(wb.exit_record(status), ctx)
    assert isinstance(ev, ProcessExit)
    assert (ev.exit_code, ev.exit_signal, ev.core_dumped) == (code, signal, core)
    assert ev.duration_ns == 1_000_000_000  # 5 s event - 4 s start


def test_fork_record(ctx: WireContext) -> None:
    ev = dec(wb.fork_record(child_pid=555, child_start_ns=4_500_000_000), ctx)
    assert isinstance(ev, ProcessFork)
    assert ev.child.pid == 555
    assert ev.child.entity_id == entity_id("machine-1", "boot-1", 555, 4_500_000_000)


@pytest.mark.parametrize(("raw", "reason"), [
    (b"\0" * 10, "short"),
    (wb.header(2, 32, version=9), "version"),
    (wb.header(2, 999), "size"),
    (wb.record(99, b""), "type"),
])
def test_header_errors(ctx: WireContext, raw: bytes, reason: str) -> None:
    with pytest.raises(WireFormatError) as err:
        dec(raw, ctx)
    assert err.value.reason == reason


def _patch_tail(raw: bytes, count: int | None = None, size: int | None = None,
                field_size: int | None = None, field_type: int | None = None) -> bytes:
    """Corrupt the tail of an exec record in one specific way."""
    buf = bytearray(raw)
    vl = 32 + 80 + 8
    if count is not None:
        buf[vl : vl + 4] = count.to_bytes(4, "little")
    if size is not None:
        buf[vl + 4 : vl + 8] = size.to_bytes(4, "little")
    if field_type is not None:
        buf[vl + 8 : vl + 10] = field_type.to_bytes(2, "little")
    if field_size is not None:
        buf[vl + 12 : vl + 16] = field_size.to_bytes(4, "little")
    return bytes(buf)


@pytest.mark.parametrize("corruption", [
    {"count": 2},          # says two fields, has one
    {"size": 3},           # tail size disagrees with the record
    {"field_size": 1000},  # a field runs past the end
    {"field_type": 77},    # an unknown field type
    {"count": 0},          # bytes left over after the fields
])
def test_varlen_errors(ctx: WireContext, corruption: dict[str, int]) -> None:
    raw = _patch_tail(wb.exec_record([(wire.VL_CWD, 0, b"/x")]), **corruption)
    with pytest.raises(WireFormatError) as err:
        dec(raw, ctx)
    assert err.value.reason == "varlen"


def test_non_utf8_names_keep_their_bytes(ctx: WireContext) -> None:
    ev = dec(wb.exec_record([(wire.VL_CWD, 0, b"/tmp/\xff\xfe")]), ctx)
    assert ev.process.cwd == "/tmp/\\xff\\xfe"  # type: ignore[attr-defined]


def test_decoded_events_pass_validation_and_round_trip(ctx: WireContext) -> None:
    """Decoders build models without validating; validation must agree with them."""
    records = [
        wb.exec_record([(wire.VL_ARGV, wire.VL_F_TRUNCATED, b"x\0y"), (wire.VL_EXE, 0, b"/x")]),
        wb.exec_record([], flags=0),
        wb.exit_record(7 << 8),
        wb.exit_record(0xFFFFFFFF, flags=0),
        wb.fork_record(9, 10),
    ]
    for raw in records:
        ev = dec(raw, ctx)
        dumped = ev.model_dump()  # type: ignore[attr-defined]
        assert validate(dumped).model_dump() == dumped
        assert decode(encode(ev)).model_dump() == dumped  # type: ignore[arg-type]
