/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Ring filler for benchmarks/bench_ring.py: every getppid() made by one
 * process (the benchmark itself) writes one record of exactly 128 bytes to a
 * large ring buffer, and nobody reads it until the benchmark drains it.
 *
 * -D flags given by the benchmark:
 *   FILL_TGID        the process whose getppid() calls fill the ring
 *   FILL_RING_PAGES  ring size in 4 KiB pages (a power of two)
 *
 * fill_stats[0] is the next sequence number (every call takes one, stored in
 * the record's seq), fill_stats[1] counts records the ring had no room for.
 * With both, the benchmark knows exactly which records the ring holds and
 * what the sum of their seq fields must be.
 */

#ifndef FILL_TGID
#error "FILL_TGID must be given"
#endif
#ifndef FILL_RING_PAGES
#error "FILL_RING_PAGES must be given"
#endif

struct fill_record {
	u64 seq;     /* read back by the "touch" consumers */
	u64 ktime_ns;
	u32 tgid;
	u32 cpu;
	u8 pad[104];
};
_Static_assert(sizeof(struct fill_record) == 128, "a record is 128 bytes");

BPF_RINGBUF_OUTPUT(fill_ring, FILL_RING_PAGES);
BPF_ARRAY(fill_stats, u64, 2);

TRACEPOINT_PROBE(syscalls, sys_enter_getppid)
{
	if ((u32)(bpf_get_current_pid_tgid() >> 32) != FILL_TGID)
		return 0;
	int seq_key = 0, drop_key = 1;
	u64 *next = fill_stats.lookup(&seq_key);
	if (!next)
		return 0;
	struct fill_record rec = {};
	rec.seq = __sync_fetch_and_add(next, 1);
	rec.ktime_ns = bpf_ktime_get_ns();
	rec.tgid = FILL_TGID;
	rec.cpu = bpf_get_smp_processor_id();
	if (fill_ring.ringbuf_output(&rec, sizeof(rec), 0) != 0) {
		u64 *drops = fill_stats.lookup(&drop_key);
		if (drops)
			__sync_fetch_and_add(drops, 1);
	}
	return 0;
}
