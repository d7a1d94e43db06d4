"""The ring reader on a ring laid out by hand in a memfd: no root, no kernel.

A BPF ring buffer map, as user space maps it, is a consumer page, a producer
page and the data area; a memfd with the same layout is mapped by the reader
exactly as a map is.  Both header walks (C, built by `make setup`, and
Python) must return the same records, stop at a record still being written,
skip discarded ones, and cut batches at the byte limit.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Iterator

import pytest
from ringside._ring import BUSY_BIT, DISCARD_BIT, RingReader
from ringside._ringwalk import library_path

PAGE = mmap.PAGESIZE
SIZE = 4 * PAGE


class FakeRing:
    """Records written as the kernel writes them: 8-byte header, data, padding to 8."""

    def __init__(self, start: int = 0) -> None:
        self.fd = os.memfd_create("ring")
        os.ftruncate(self.fd, 2 * PAGE + SIZE)
        self.mem = mmap.mmap(self.fd, 2 * PAGE + SIZE)
        self.prod = self.cons = start
        struct.pack_into("<Q", self.mem, 0, start)

    def put(self, data: bytes, flags: int = 0) -> None:
        struct.pack_into("<II", self.mem, 2 * PAGE + (self.prod % SIZE), len(data) | flags, 0)
        body = self.prod + 8
        for i, b in enumerate(data):
            self.mem[2 * PAGE + ((body + i) % SIZE)] = b
        self.prod += (len(data) + 8 + 7) & ~7
        struct.pack_into("<Q", self.mem, PAGE, self.prod)

    def consumer_pos(self) -> int:
        return int(struct.unpack_from("<Q", self.mem, 0)[0])

    def close(self) -> None:
        self.mem.close()
        os.close(self.fd)


def records(batch: object) -> list[bytes]:
    b = batch  # a Batch
    return [b.data[o:o + n] for o, n in zip(b.offsets, b.lengths, strict=True)]  # type: ignore[attr-defined]


WALKS = ["python", "c"]


@pytest.fixture(params=WALKS)
def walk(request: pytest.FixtureRequest) -> str:
    if request.param == "c" and not library_path().exists():
        pytest.fail("the C ring walk is not built: make setup builds it")
    return str(request.param)


@pytest.fixture
def ring() -> Iterator[FakeRing]:
    r = FakeRing()
    yield r
    r.close()


def test_records_come_out_whole_and_in_order(ring: FakeRing, walk: str) -> None:
    payloads = [bytes([i]) * n for i, n in enumerate([1, 7, 8, 9, 100, 0, 333], start=1)]
    for p in payloads:
        ring.put(p)
    reader = RingReader(ring.fd, SIZE, walk=walk)  # type: ignore[arg-type]
    assert reader.walk == walk
    batch = reader.poll()
    assert batch is not None and records(batch) == payloads
    assert ring.consumer_pos() == ring.prod
    assert reader.poll() is None
    reader.close()


def test_a_busy_record_stops_the_walk_and_a_discarded_one_is_skipped(ring: FakeRing,
                                                                     walk: str) -> None:
    ring.put(b"first")
    ring.put(b"dropped", DISCARD_BIT)
    ring.put(b"second")
    before_busy = ring.prod
    ring.put(b"being written", BUSY_BIT)
    ring.put(b"after")
    reader = RingReader(ring.fd, SIZE, walk=walk)  # type: ignore[arg-type]
    batch = reader.poll()
    assert batch is not None and records(batch) == [b"first", b"second"]
    assert ring.consumer_pos() == before_busy  # the busy record and all after it wait
    assert reader.poll() is None
    reader.close()


def test_a_record_that_wraps_past_the_end_is_joined(walk: str) -> None:
    ring = FakeRing(start=SIZE - 16)  # 8 bytes of header + 8 of data fit before the end
    try:
        ring.put(b"A" * 40)  # its data runs past the end of the data area
        ring.put(b"B" * 3)
        reader = RingReader(ring.fd, SIZE, walk=walk)  # type: ignore[arg-type]
        batch = reader.poll()
        assert batch is not None and records(batch) == [b"A" * 40, b"B" * 3]
        assert ring.consumer_pos() == ring.prod
        reader.close()
    finally:
        ring.close()


def test_a_batch_stops_at_the_byte_limit_and_the_rest_follows(ring: FakeRing,
                                                              walk: str) -> None:
    payloads = [bytes([i]) * 24 for i in range(10)]  # 32 bytes a record
    for p in payloads:
        ring.put(p)
    reader = RingReader(ring.fd, SIZE, walk=walk)  # type: ignore[arg-type]
    first = reader.poll(max_bytes=100)  # the walk covers records that start before 100
    assert first is not None and records(first) == payloads[:4]
    rest = reader.poll()
    assert rest is not None and records(rest) == payloads[4:]
    assert reader.records == 10
    reader.close()


def test_both_walks_agree_on_random_rings() -> None:
    if not library_path().exists():
        pytest.fail("the C ring walk is not built: make setup builds it")
    import random

    rng = random.Random(7)
    for trial in range(50):
        start = rng.randrange(0, SIZE, 8)
        results = []
        for walk in WALKS:
            ring = FakeRing(start=start)
            r2 = random.Random(trial)
            for _ in range(r2.randrange(1, 40)):
                flags = r2.choice([0, 0, 0, DISCARD_BIT])
                ring.put(bytes(r2.randrange(256) for _ in range(r2.randrange(0, 200))), flags)
            reader = RingReader(ring.fd, SIZE, walk=walk)  # type: ignore[arg-type]
            limit = r2.randrange(8, SIZE)
            batch = reader.poll(max_bytes=limit)
            results.append((None if batch is None else (batch.data, batch.offsets,
                                                        batch.lengths), ring.consumer_pos()))
            reader.close()
            ring.close()
        assert results[0] == results[1], f"trial {trial}"
