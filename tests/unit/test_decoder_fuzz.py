"""Random and mutated records: each is decoded or rejected with a counted error.

Nothing a record contains may raise out of the pipeline's decoding step.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ringside._decode import BatchDecoder
from ringside._proctable import ProcessTable
from ringside._ring import Batch
from ringside._stats import Stats
from ringside_schema import EventBase, Host, WireContext, WireFormatError, wire

from tests import wirebuild as wb

HOST = Host(hostname="h", id="m", boot_id="b")
VL_TYPES = st.integers(min_value=1, max_value=wire.VL_TYPE_MAX)
FIELD = st.tuples(VL_TYPES, st.sampled_from([0, wire.VL_F_TRUNCATED]), st.binary(max_size=64))


@st.composite
def valid_records(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["exec", "exit", "fork", "file", "tty"]))
    proc = {
        "pid": draw(st.integers(0, 2**32 - 1)),
        "ppid": draw(st.integers(0, 2**32 - 1)),
        "flags": draw(st.integers(0, 15)),
        "comm": draw(st.binary(max_size=16)),
        "start_ns": draw(st.integers(0, 2**64 - 1)),
    }
    if kind == "exec":
        return wb.exec_record(draw(st.lists(FIELD, max_size=5)), **proc)
    if kind == "file":
        return wb.file_record(draw(st.integers(16, 22)), draw(st.integers(1, 28)),
                              draw(st.lists(FIELD, max_size=5)),
                              mode=draw(st.integers(0, 2**32 - 1)),
                              ret=draw(st.integers(-(2**31), 2**31 - 1)), **proc)
    if kind == "tty":
        return wb.tty_record(draw(st.lists(FIELD, max_size=3)),
                             length=draw(st.integers(0, 2**32 - 1)), **proc)
    if kind == "exit":
        return wb.exit_record(draw(st.integers(0, 2**32 - 1)), **proc)
    return wb.fork_record(draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**64 - 1)),
                          **proc)


@st.composite
def mutated_records(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(valid_records()))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "extend"]))
        if op == "flip" and raw:
            i = draw(st.integers(0, len(raw) - 1))
            raw[i] = draw(st.integers(0, 255))
        elif op == "cut" and raw:
            raw = raw[: draw(st.integers(0, len(raw) - 1))]
        else:
            raw += draw(st.binary(min_size=1, max_size=16))
    return bytes(raw)


def ctx() -> WireContext:
    return WireContext(HOST, "i")


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=300), valid_records(), mutated_records()))
def test_a_record_decodes_or_is_rejected(raw: bytes) -> None:
    try:
        ev = wire.decode_record(raw, 0, len(raw), ctx())
    except WireFormatError as exc:
        assert exc.reason in {"short", "version", "size", "type", "varlen", "malformed"}
    else:
        assert isinstance(ev, EventBase)


@settings(max_examples=400, deadline=None)
@given(valid_records())
def test_every_valid_record_decodes(raw: bytes) -> None:
    ev = wire.decode_record(raw, 0, len(raw), ctx())
    assert isinstance(ev, EventBase)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.binary(max_size=200), valid_records(), mutated_records()),
                min_size=1, max_size=30))
def test_the_pipeline_counts_every_bad_record_and_keeps_the_good(
        tmp_path: Path, records: list[bytes]) -> None:
    # An empty /proc: the process table learns nothing from it and reads nothing real.
    stats = Stats()
    decoder = BatchDecoder(ctx(), ProcessTable(ctx(), reduced=False, proc=tmp_path), stats)
    data = b"".join(records)
    offsets, lengths, pos = [], [], 0
    for raw in records:
        offsets.append(pos)
        lengths.append(len(raw))
        pos += len(raw)
    events = decoder.decode(Batch(data, offsets, lengths))  # must not raise
    good = 0
    for raw in records:
        try:
            wire.decode_record(raw, 0, len(raw), ctx())
            good += 1
        except WireFormatError:
            pass
    assert len(events) == good
    assert sum(stats.decode_errors.values()) == len(records) - good
    assert stats.internal_errors == 0
