"""Does bpf_ringbuf_output fail while the ring has room?  A probe, not a benchmark.

    python -m benchmarks.ring_probe [--consumer mmap|bcc] [--producers N]
                                    [--ring-kib K] [--seconds S] [--poll-ms MS]

Producer processes call getppid() flat out; benchmarks/bpf/ring_probe.bpf.c
turns each call into a 128-byte record in a small ring (256 KiB by default,
so it wraps every ~1,900 records) that this process drains every --poll-ms,
either with the sensor's mmap reader or with bcc's ring_buffer_consume
(libbpf's consumer).  When a write fails, the BPF program asks the ring how
much data it holds at that moment and tries once more.  The accounting must
close: records consumed + failed writes = sequence numbers handed out.

What it found (benchmarks/README.md, "ring_probe"): the sensor's reader used
to store consumer_pos with struct.pack_into, which zeroes its target before
writing the value; the kernel, reading 0 in that instant once the producer
was past one ring's size, refused records with the ring nearly empty.
tests/kernel/test_ring.py runs this probe.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import multiprocessing as mp
import os
import platform
import struct
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "bpf" / "ring_probe.bpf.c"
RETRY_SEQ = 2**64 - 1
STATS = ("seq", "failures", "fail_lt_1/16", "fail_lt_1/4", "fail_lt_1/2", "fail_lt_7/8",
         "fail_le_full", "fail_gt_size", "failures_before_wrap", "retry_succeeded",
         "prod_pos_at_last_low", "cons_pos_at_last_low")


def _produce(start: mp.synchronize.Event, stop: mp.synchronize.Event) -> None:
    start.wait()
    getppid = os.getppid
    while not stop.is_set():
        for _ in range(2000):
            getppid()


def run(consumer: str, producers: int, ring_kib: int, seconds: float,
        poll_ms: float) -> dict[str, object]:
    from bcc import BPF
    from ringside._ring import RingReader

    ring_bytes = ring_kib * 1024
    bpf = BPF(text=SOURCE.read_bytes(), cflags=[f"-DPROBE_RING_PAGES={ring_bytes // 4096}"])
    ring, stats, tgids = bpf[b"probe_ring"], bpf[b"probe_stats"], bpf[b"probe_tgids"]
    seq_of = struct.Struct("<Q").unpack_from
    consumed = retries = 0
    reader: RingReader | None = None

    if consumer == "mmap":
        reader = RingReader(ring.map_fd, ring_bytes)

        def drain() -> None:
            nonlocal consumed, retries
            assert reader is not None
            while (batch := reader.poll()) is not None:
                for off in batch.offsets:
                    if seq_of(batch.data, off)[0] == RETRY_SEQ:
                        retries += 1
                    else:
                        consumed += 1
    else:
        def callback(_ctx: object, data: int, _size: int) -> int:
            nonlocal consumed, retries
            if ctypes.c_uint64.from_address(data).value == RETRY_SEQ:
                retries += 1
            else:
                consumed += 1
            return 0

        ring.open_ring_buffer(callback)

        def drain() -> None:
            bpf.ring_buffer_consume()

    ctx = mp.get_context("fork")
    start, stop = ctx.Event(), ctx.Event()
    procs = [ctx.Process(target=_produce, args=(start, stop)) for _ in range(producers)]
    for p in procs:
        p.start()
        tgids[ctypes.c_uint32(p.pid)] = ctypes.c_uint8(1)
    began = time.monotonic()
    start.set()
    while time.monotonic() - began < seconds:
        drain()
        time.sleep(poll_ms / 1000)
    stop.set()
    for p in procs:
        p.join()
    drain()
    values = {name: int(stats[ctypes.c_int(i)].value) for i, name in enumerate(STATS)}
    bpf.cleanup()
    if reader is not None:
        reader.close()
    closes = consumed + values["failures"] == values["seq"]
    return {
        "consumer": consumer, "producers": producers, "ring_kib": ring_kib,
        "seconds": seconds, "poll_ms": poll_ms, "kernel": platform.release(),
        "records": values["seq"], "consumed": consumed, "retry_records": retries,
        "accounting_closes": closes, "wraps": values["seq"] * 136 // ring_bytes,
        **{k: v for k, v in values.items() if k != "seq"},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--consumer", choices=("mmap", "bcc"), default="mmap")
    ap.add_argument("--producers", type=int, default=1)
    ap.add_argument("--ring-kib", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--poll-ms", type=float, default=1.0)
    a = ap.parse_args()
    result = run(a.consumer, a.producers, a.ring_kib, a.seconds, a.poll_ms)
    print(json.dumps(result))
    return 0 if result["accounting_closes"] else 2


if __name__ == "__main__":
    raise SystemExit(main())
