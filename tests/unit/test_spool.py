"""The on-disk spool: order, bounds, acknowledgements, restarts, torn and corrupt frames."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from ringside import ConfigError
from ringside._kafka_record import Record
from ringside._spool import MAGIC, Spool


def rec(i: int, size: int = 100) -> Record:
    name = ("process.exec", "process.exit", "process.fork")[i % 3]
    return Record(name, f"key-{i % 7}".encode(), bytes([i % 251]) * size, 1_700_000_000_000 + i,
                  10**12 + i, 1)


def spool(path: Path, **kw: object) -> Spool:
    s = Spool(path, **{"max_bytes": 1 << 20, "segment_bytes": 4096, "fsync": "never", **kw})  # type: ignore[arg-type]
    s.open()
    return s


def read_all(s: Spool) -> list[tuple[int, Record]]:
    out = []
    while batch := s.read(7):
        out += batch
    return out


def test_records_come_back_in_order_with_every_field(tmp_path: Path) -> None:
    s = spool(tmp_path)
    records = [rec(i, size=50 + i) for i in range(200)]
    assert s.append(records[:120], range(0, 120)) == 120
    assert s.append(records[120:], range(120, 200)) == 200 - 120
    assert s.segments > 3  # 4 KiB segments: the records span several
    assert s.unread == 200
    got = read_all(s)
    assert [i for i, _ in got] == list(range(200))
    assert [r for _, r in got] == records
    assert s.unread == 0
    s.close()


def test_reading_interleaved_with_appending(tmp_path: Path) -> None:
    s = spool(tmp_path)
    seen: list[int] = []
    nxt = 0
    for round_ in range(30):
        n = round_ % 5 + 1
        assert s.append([rec(i) for i in range(nxt, nxt + n)], range(nxt, nxt + n)) == n
        nxt += n
        seen += [i for i, _ in s.read(3)]
    seen += [i for i, _ in read_all(s)]
    assert seen == list(range(nxt))
    s.close()


def test_acknowledged_segments_are_deleted_and_not_replayed(tmp_path: Path) -> None:
    s = spool(tmp_path)
    s.append([rec(i) for i in range(100)], range(100))
    first_size = s.size
    got = read_all(s)
    assert len(got) == 100
    s.acknowledge(60)
    assert s.size < first_size  # the segments wholly below 60 are gone
    assert min(int(p.stem) for p in tmp_path.glob("*.seg")) > 0  # the first one is gone
    s.close()
    # After a restart only the unacknowledged records come back, and the
    # indexes go on after the last one.
    s = spool(tmp_path)
    assert s.unread == 40
    assert [i for i, _ in read_all(s)] == list(range(60, 100))
    assert s.next_index == 100
    s.acknowledge(100)
    assert s.segments == 0 and s.size == 0
    assert not list(tmp_path.glob("*.seg"))
    s.close()
    s = spool(tmp_path)
    assert s.unread == 0 and s.next_index == 100  # the count goes on, from acked.json
    s.close()


def test_acknowledged_ranges_above_the_watermark_are_skipped_after_restart(tmp_path: Path) -> None:
    s = spool(tmp_path)
    s.append([rec(i) for i in range(50)], range(50))
    read_all(s)
    s.acknowledge(10, [(20, 30), (40, 45)], force_save=True)
    s.close()
    assert json.loads((tmp_path / "acked.json").read_text()) == {
        "below": 10, "ranges": [[20, 30], [40, 45]]}
    s = spool(tmp_path)
    expected = [i for i in range(10, 50) if not (20 <= i < 30 or 40 <= i < 45)]
    assert s.unread == len(expected)
    assert [i for i, _ in read_all(s)] == expected
    s.close()


def test_full_spool_writes_what_fits_and_nothing_partial(tmp_path: Path) -> None:
    s = spool(tmp_path, max_bytes=8192, segment_bytes=4096)
    n = s.append([rec(i, size=300) for i in range(100)], range(100))
    assert 0 < n < 100
    assert s.size <= 8192
    assert s.append([rec(100, size=300)], [100]) == 0  # still full
    got = read_all(s)
    assert [i for i, _ in got] == list(range(n))
    # Once acknowledged and deleted, there is room again.
    s.acknowledge(n)
    assert s.append([rec(i, size=300) for i in range(n, n + 5)], range(n, n + 5)) == 5
    s.close()


def test_a_torn_last_frame_is_cut_and_counted(tmp_path: Path) -> None:
    s = spool(tmp_path, segment_bytes=1 << 20)
    s.append([rec(i) for i in range(10)], range(10))
    s.close()
    (seg,) = tmp_path.glob("*.seg")
    data = seg.read_bytes()
    seg.write_bytes(data[:-30])  # a crash in the middle of the last write
    s = spool(tmp_path)
    assert s.stats.corrupt_frames == 1
    assert [i for i, _ in read_all(s)] == list(range(9))
    assert seg.stat().st_size < len(data) - 30 + 1  # cut back to the last whole frame
    s.close()


def test_a_corrupt_frame_stops_its_segment_and_is_counted(tmp_path: Path) -> None:
    s = spool(tmp_path, segment_bytes=1 << 20)
    s.append([rec(i) for i in range(10)], range(10))
    s.close()
    (seg,) = tmp_path.glob("*.seg")
    data = bytearray(seg.read_bytes())
    frame = (len(data) - len(MAGIC)) // 10
    data[len(MAGIC) + 4 * frame + 40] ^= 0xFF  # inside the fifth record's body
    seg.write_bytes(bytes(data))
    s = spool(tmp_path)
    assert s.stats.corrupt_frames == 1
    assert s.stats.skipped_bytes == 6 * frame
    assert [i for i, _ in read_all(s)] == [0, 1, 2, 3]
    s.close()


def test_a_file_that_is_no_segment_is_set_aside(tmp_path: Path) -> None:
    bogus = tmp_path / f"{5:020d}.seg"
    tmp_path.mkdir(exist_ok=True)
    bogus.write_bytes(b"not a spool segment at all")
    s = spool(tmp_path)
    assert s.unread == 0 and s.stats.corrupt_frames == 1
    assert bogus.with_suffix(".corrupt").exists()
    s.close()


def test_a_dump_at_stop_goes_before_later_segments(tmp_path: Path) -> None:
    # The publisher held 0-9 in memory (unacknowledged) while 10-29 went to
    # the spool; at stop it writes 0-9 to the spool too.  After a restart
    # the order is the order the events happened.
    s = spool(tmp_path)
    s.append([rec(i) for i in range(10, 30)], range(10, 30))
    s.append([rec(i) for i in range(10)], range(10))
    s.close()
    s = spool(tmp_path)
    assert [i for i, _ in read_all(s)] == list(range(30))
    s.close()


def test_a_second_sensor_cannot_share_the_spool(tmp_path: Path) -> None:
    s = spool(tmp_path)
    with pytest.raises(ConfigError, match="in use by another sensor"):
        spool(tmp_path)
    s.close()
    spool(tmp_path).close()  # free again once closed


def test_fsync_policies(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="fsync policy"):
        Spool(tmp_path / "x", fsync="sometimes")
    always = spool(tmp_path / "always", fsync="always")
    always.append([rec(i) for i in range(3)], range(3))
    always.append([rec(3)], [3])
    assert always.stats.fsyncs == 2  # one per append, before it returns
    always.close()

    never = spool(tmp_path / "never", fsync="never")
    never.append([rec(i) for i in range(3)], range(3))
    assert never.stats.fsyncs == 0
    never.close()
    assert never.stats.fsyncs >= 1  # close syncs everything

    interval = spool(tmp_path / "interval", fsync="interval", fsync_interval=0.05)
    interval.append([rec(i) for i in range(3)], range(3))
    deadline = time.monotonic() + 30
    while interval.stats.fsyncs == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert interval.stats.fsyncs >= 1  # the thread synced it, without close
    interval.close()


def test_close_is_idempotent_and_counters_are_plain(tmp_path: Path) -> None:
    s = spool(tmp_path)
    s.append([rec(1)], [1])
    counters = s.counters()
    json.dumps(counters)
    assert counters["unread"] == 1 and counters["appended"] == 1
    s.close()
    s.close()


def test_stretches_between_memory_stretches_read_back_in_order(tmp_path: Path) -> None:
    # The publisher spools only the overflow of a burst: 10-19 and 30-39
    # while 0-9 and 20-29 went through memory.  A stretch that skips indexes
    # starts a segment of its own, so a dump of 20-29 at stop fits between.
    s = spool(tmp_path, segment_bytes=1 << 20)
    s.append([rec(i) for i in range(10, 20)], range(10, 20))
    s.append([rec(i) for i in range(30, 40)], range(30, 40))
    assert s.segments == 2
    assert s.segment_between(9, 20) and s.segment_between(29, 40)
    assert not s.segment_between(20, 29) and not s.segment_between(30, 40)
    assert s.next_unread() == 10
    # Reading stops before the first index not below the bound, leaving it unread.
    assert [i for i, _ in s.read(100, below=15)] == list(range(10, 15))
    assert s.next_unread() == 15 and s.unread == 15
    assert [i for i, _ in s.read(100, below=30)] == list(range(15, 20))
    assert s.next_unread() == 30
    s.append([rec(i) for i in range(20, 30)], range(20, 30))  # the dump at stop
    s.close()
    s = spool(tmp_path)
    assert s.next_unread() == 10  # nothing was acknowledged: all of it again
    assert [i for i, _ in read_all(s)] == list(range(10, 40))
    assert s.next_unread() is None
    s.close()
