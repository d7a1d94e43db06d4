"""The mmap ring reader against the real kernel: it must never make the kernel refuse a record.

benchmarks/ring_probe.py fills a small ring from a producer process while
the reader drains it, and on every failed write asks the kernel how much
data the ring held.  A correct consumer keeps consumer_pos <= producer_pos,
so the kernel can never see more than a ring's size of unread data.  The
reader once stored consumer_pos with struct.pack_into, which writes zeros
first: the kernel then saw consumer_pos = 0 and refused records with the
ring nearly empty (hundreds of failures in 10 s at ~1.4 M records/s).
"""

from __future__ import annotations

from benchmarks.ring_probe import run


def test_reader_never_makes_the_kernel_see_a_ring_fuller_than_its_size() -> None:
    # 8 MiB: the producer (~200 MB/s) needs ~40 ms to fill it, so a reader
    # polling every ms only loses records if it is descheduled that long.
    result = run(consumer="mmap", producers=1, ring_kib=8192, seconds=3.0, poll_ms=1.0)
    assert result["accounting_closes"], result
    assert result["wraps"] >= 10, f"the ring must wrap to test anything: {result}"
    assert result["retry_records"] == result["retry_succeeded"], result
    # Unread data beyond the ring's size is what a consumer_pos of 0 looks like.
    assert result["fail_gt_size"] == 0, result
    # A failure with the ring at most 1/16 full is the same bug seen a moment later.
    assert result["fail_lt_1/16"] == 0, result
