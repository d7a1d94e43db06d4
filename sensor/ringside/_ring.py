"""Reading a BPF ring buffer by mapping it, without a callback per record.

bcc's ``ring_buffer_poll`` calls back into Python through ctypes once per
record, and that call is the bottleneck of a bcc consumer.  Here the map is
mapped into our address space and records are found by reading their 8-byte
headers; the committed ones are copied out in one slice and handed on as a
batch.

A ring buffer map as user space maps it (kernel/bpf/ringbuf.c)::

    offset 0          consumer page: consumer_pos u64 (the only page we may write)
    offset PAGE       producer page: producer_pos u64
    offset 2 * PAGE   data, ``size`` bytes (the kernel offers them twice back to
                      back; we map them once: the kernel fills in every page of
                      the mapping at mmap time, so a second copy would count
                      another ``size`` bytes of resident memory, and a batch
                      that wraps past the end costs only a second slice)

    record            u32 len   bit 31 BUSY (reserved, not yet committed)
                                bit 30 DISCARD (skip it)
                      u32 pg_off (kernel bookkeeping)
                      len bytes of data, then padding to 8 bytes

Positions only grow; ``pos & (size - 1)`` is the place in the data area.
The kernel reads consumer_pos at any moment, so it is written with one
8-byte store (a ``memoryview`` item), never with ``struct.pack_into``:
CPython's pack_into zeroes its target before writing the value, and a
consumer_pos of 0, seen while the producer is more than a ring's size past
0, makes the kernel refuse records as if the ring were full.
Ordering: the kernel clears BUSY with a release store after writing the
data, and x86-64 does not reorder loads with older loads, so data read after
a header showed the record committed is complete.  (The sensor runs on
x86-64 only; another architecture would need an acquire load here.)
"""

from __future__ import annotations

import ctypes
import mmap
import struct
from dataclasses import dataclass
from typing import Literal

from . import _ringwalk
from ._errors import KernelSupportError

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
BUSY_BIT = 1 << 31
DISCARD_BIT = 1 << 30
_LEN_MASK = ~(BUSY_BIT | DISCARD_BIT) & 0xFFFFFFFF
RECORD_HEADER = 8


@dataclass(slots=True)
class Batch:
    """Records copied out of the ring: record i is ``data[offsets[i]:offsets[i] + lengths[i]]``."""

    data: bytes
    offsets: list[int]
    lengths: list[int]

    def __len__(self) -> int:
        return len(self.offsets)


Walk = Literal["auto", "c", "python"]


class RingReader:
    """Consumes one BPF ring buffer map through ``mmap``.

    ``walk``: how record headers are walked: ``"c"`` with the compiled helper
    (``_ringwalk``, built by ``make setup``), ``"python"`` in Python, ``"auto"``
    (the default) in C when the helper is built.  ``self.walk`` says which.
    """

    def __init__(self, map_fd: int, size: int, walk: Walk = "auto") -> None:
        if size <= 0 or size & (size - 1):
            raise ValueError(f"ring size {size} is not a power of two")
        page = mmap.PAGESIZE
        self.fd = map_fd
        self.size = size
        self._mask = size - 1
        self._data = page  # data area offset inside the producer mapping
        try:
            self._consumer = mmap.mmap(
                map_fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0
            )
            self._producer = mmap.mmap(
                map_fd, page + size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page
            )
        except OSError as exc:
            raise KernelSupportError(f"cannot map the ring buffer (fd {map_fd}): {exc}") from exc
        # consumer_pos as one aligned u64: item assignment is a single store.
        self._consumer_pos = memoryview(self._consumer).cast("Q")
        self.records = 0
        self.bytes = 0
        self._address: _ringwalk.BufferAddress | None = None
        self._c_walk = None if walk == "python" else _ringwalk.load()
        if walk == "c" and self._c_walk is None:
            self.close()
            raise KernelSupportError("the C ring walk is not built (make setup, or "
                                     "python -m ringside._ringwalk)")
        self.walk = "c" if self._c_walk is not None else "python"
        if self._c_walk is not None:
            self._address = _ringwalk.BufferAddress(self._producer)
            self._count = ctypes.c_uint32()
            self._cap = 0
            self._grow(1 << 20)

    def _grow(self, max_bytes: int) -> None:
        """Room for the most records ``max_bytes`` can hold (8 bytes each, at least).

        Called before every C walk; the arrays only ever grow.
        """
        cap = max_bytes // RECORD_HEADER + 1
        if cap > self._cap:
            self._cap = cap
            self._offsets = (ctypes.c_uint32 * cap)()
            self._lengths = (ctypes.c_uint32 * cap)()

    def pending_bytes(self) -> int:
        """Bytes reserved in the ring and not yet consumed."""
        produced: int = _U64.unpack_from(self._producer, 0)[0]
        consumed: int = self._consumer_pos[0]
        return produced - consumed

    def poll(self, max_bytes: int = 1 << 20) -> Batch | None:
        """Copy out the committed records (about ``max_bytes`` at most) and release them."""
        cons: int = self._consumer_pos[0]
        prod = _U64.unpack_from(self._producer, 0)[0]
        avail = prod - cons
        if avail <= 0:
            return None
        limit = min(avail, max_bytes)
        mem = self._producer
        data_start, mask = self._data, self._mask
        start = cons & mask
        offsets: list[int]
        lengths: list[int]
        if self._c_walk is not None and self._address is not None:
            self._grow(limit)
            pos = self._c_walk(self._address.address + data_start, mask, start, limit,
                               self._offsets, self._lengths, self._cap, self._count)
            n = self._count.value
            offsets = self._offsets[:n]
            lengths = self._lengths[:n]
        else:
            pos, offsets, lengths = self._walk_python(mem, data_start, mask, start, limit)
        if pos == 0:
            return None
        end = start + pos
        if end <= self.size:
            data = mem[data_start + start : data_start + end]
        else:  # the batch wraps past the end of the data area
            data = mem[data_start + start : data_start + self.size] + mem[
                data_start : data_start + end - self.size]
        self._consumer_pos[0] = cons + pos
        self.records += len(offsets)
        self.bytes += pos
        return Batch(data, offsets, lengths)

    @staticmethod
    def _walk_python(mem: mmap.mmap, data_start: int, mask: int, start: int,
                     limit: int) -> tuple[int, list[int], list[int]]:
        """The header walk of ``_ringwalk.c``, in Python: (bytes walked, offsets, lengths)."""
        unpack = _U32.unpack_from
        offsets: list[int] = []
        lengths: list[int] = []
        pos = 0
        while pos < limit:
            # Headers are 8-byte aligned in a ring of whole pages: one never wraps.
            word = unpack(mem, data_start + ((start + pos) & mask))[0]
            if word & BUSY_BIT:
                break  # not committed yet: everything after it waits too
            length = word & _LEN_MASK
            if not word & DISCARD_BIT:
                offsets.append(pos + RECORD_HEADER)
                lengths.append(length)
            pos += (length + RECORD_HEADER + 7) & ~7
        return pos, offsets, lengths

    def close(self) -> None:
        # Exported buffers would keep the mappings open.
        if self._address is not None:
            self._address.release()
            self._address = None
        self._consumer_pos.release()
        for m in (self._consumer, self._producer):
            if not m.closed:
                m.close()
