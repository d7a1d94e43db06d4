/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The ring reader's header walk, in C (sensor/ringside/_ring.py).
 *
 * Python walks a BPF ring buffer's 8-byte record headers at ~0.2 us a record;
 * this loop does the same at a few ns.  Built by `make setup`
 * (python -m ringside._ringwalk); without it the reader walks in Python.
 *
 * data    the ring's data area (mapped once: a header never wraps, records may)
 * mask    data area size - 1
 * start   consumer position & mask
 * limit   bytes the walk may cover (producer - consumer, at most a batch)
 * offsets, lengths  filled for each committed, not discarded record:
 *         its data's offset from `start` and its length
 * cap     room in offsets/lengths
 * count   set to the number of records filled in
 *
 * Returns the bytes walked: every record up to the first one still being
 * written (BUSY), or up to `limit` / `cap` records.  The caller copies those
 * bytes out and only then moves the consumer position past them.
 */
#include <stdint.h>

#define RINGBUF_BUSY_BIT (1U << 31)
#define RINGBUF_DISCARD_BIT (1U << 30)
#define RINGBUF_HDR_SZ 8U

uint64_t ringside_ring_walk(const uint8_t *data, uint64_t mask, uint64_t start,
			    uint64_t limit, uint32_t *offsets, uint32_t *lengths,
			    uint32_t cap, uint32_t *count)
{
	uint64_t pos = 0;
	uint32_t n = 0;

	while (pos < limit && n < cap) {
		/* Acquire: the record's data is read after its header said "committed". */
		uint32_t word = __atomic_load_n(
			(const uint32_t *)(data + ((start + pos) & mask)), __ATOMIC_ACQUIRE);
		if (word & RINGBUF_BUSY_BIT)
			break;
		uint32_t len = word & ~(RINGBUF_BUSY_BIT | RINGBUF_DISCARD_BIT);
		if (!(word & RINGBUF_DISCARD_BIT)) {
			offsets[n] = (uint32_t)(pos + RINGBUF_HDR_SZ);
			lengths[n] = len;
			n++;
		}
		pos += ((uint64_t)len + RINGBUF_HDR_SZ + 7) & ~(uint64_t)7;
	}
	*count = n;
	return pos;
}
