/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Ring probe for benchmarks/ring_probe.py: every getppid() made by a producer
 * process (its tgid is a key of probe_tgids) writes one 128-byte record to a
 * small ring that a consumer drains concurrently, so the ring wraps often.
 * When bpf_ringbuf_output fails, the program asks the ring, at that moment,
 * how much data it holds (bpf_ringbuf_query): a failure with the ring far
 * from full is not a "ring full" failure.
 *
 * -D flags given by the probe: PROBE_RING_PAGES (ring size in 4 KiB pages).
 *
 * probe_stats: [0] next sequence number  [1] failures
 *              [2..7] failures by how full the ring was at that moment
 *                     (avail_data / size): <1/16, <1/4, <1/2, <7/8, <=1, >1
 *              [8] failures before the producer position first wrapped
 *              [9] failures where an immediate retry succeeded
 *              [10] [11] producer and consumer positions at the last failure
 *                        with the ring less than half full
 */

#ifndef PROBE_RING_PAGES
#error "PROBE_RING_PAGES must be given"
#endif

struct probe_record {
	u64 seq;
	u64 ktime_ns;
	u32 tgid;
	u32 cpu;
	u8 pad[104];
};
_Static_assert(sizeof(struct probe_record) == 128, "a record is 128 bytes");

BPF_RINGBUF_OUTPUT(probe_ring, PROBE_RING_PAGES);
/* bcc 0.26 has no probe_ring.ringbuf_query(); bcc names a map in a helper call
 * by a fake fd it patches at load time, -1 for the first map declared (this
 * one). The verifier log of a failed load would show another map here. */
#define PROBE_RING_MAP ((void *)bpf_pseudo_fd(1, -1))
BPF_ARRAY(probe_stats, u64, 12);
BPF_HASH(probe_tgids, u32, u8, 64);

static __always_inline void add(int key, u64 n)
{
	u64 *v = probe_stats.lookup(&key);
	if (v)
		__sync_fetch_and_add(v, n);
}

static __always_inline void set(int key, u64 n)
{
	u64 *v = probe_stats.lookup(&key);
	if (v)
		*v = n;
}

TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!probe_tgids.lookup(&tgid))
		return 0;
	int seq_key = 0;
	u64 *next = probe_stats.lookup(&seq_key);
	if (!next)
		return 0;
	struct probe_record rec = {};
	rec.seq = __sync_fetch_and_add(next, 1);
	rec.ktime_ns = bpf_ktime_get_ns();
	rec.tgid = tgid;
	rec.cpu = bpf_get_smp_processor_id();
	if (probe_ring.ringbuf_output(&rec, sizeof(rec), 0) == 0)
		return 0;
	u64 avail = bpf_ringbuf_query(PROBE_RING_MAP, BPF_RB_AVAIL_DATA);
	u64 size = bpf_ringbuf_query(PROBE_RING_MAP, BPF_RB_RING_SIZE);
	u64 prod = bpf_ringbuf_query(PROBE_RING_MAP, BPF_RB_PROD_POS);
	u64 cons = bpf_ringbuf_query(PROBE_RING_MAP, BPF_RB_CONS_POS);
	add(1, 1);
	int bucket;
	if (avail * 16 < size)
		bucket = 2;
	else if (avail * 4 < size)
		bucket = 3;
	else if (avail * 2 < size)
		bucket = 4;
	else if (avail * 8 < size * 7)
		bucket = 5;
	else if (avail <= size)
		bucket = 6;
	else
		bucket = 7;
	add(bucket, 1);
	if (prod < size)
		add(8, 1);
	if (avail * 2 < size) {
		set(10, prod);
		set(11, cons);
	}
	/* The record is lost either way (seq was taken); does a retry get in? */
	struct probe_record retry = {};
	retry.seq = ~0ULL;
	if (probe_ring.ringbuf_output(&retry, sizeof(retry), 0) == 0)
		add(9, 1);
	return 0;
}
