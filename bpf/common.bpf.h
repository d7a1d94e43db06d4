/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Maps and helpers shared by every Ringside program.  The loader
 * (sensor/ringside/_bpf.py) compiles this file and the enabled
 * <area>.bpf.c files as one bcc module, so all programs share one ring
 * buffer, one per-CPU sequence and one set of counters.
 *
 * Compile-time switches, all passed as -D flags by the loader:
 *   RS_NR_CPUS          possible CPUs (/sys/devices/system/cpu/possible)
 *   RS_RINGBUF_PAGES    ring buffer size in pages (a power of two)
 *   RS_REDUCED          the reduced tier: no bpf_probe_read_kernel() at all,
 *                       so the programs load under lockdown=confidentiality
 *   RS_OFF_<struct>__<member>
 *                       byte offsets read from the running kernel's BTF
 *                       (full tier only; headers here may not match the kernel)
 *   RS_HAVE_LOGINUID    task_struct has loginuid/sessionid (CONFIG_AUDIT)
 *   RS_HAVE_FD_ARRAY    files_struct's embedded fdtab and fd_array are known, with
 *                       RS_FD_ARRAY_LEN entries (full tier only)
 *   RS_HAVE_EXIT_GROUP_DEAD
 *                       sched_process_exit carries group_dead (Linux 6.16+)
 */
#include "events.h"

#ifndef RS_NR_CPUS
#error "RS_NR_CPUS must be given by the loader"
#endif

/*
 * The event buffer: events are built here, then copied to the ring with
 * bpf_ringbuf_output() once their size is known (a reserve needs the size up
 * front).  Offsets into it are masked with RS_EVENT_BUF_SIZE - 1 so that the
 * verifier can bound every write; the slack after it lets the largest single
 * field start anywhere below RS_EVENT_BUF_SIZE and still fit.  Our largest
 * event (exec: argv + three paths + tty name, ~33 KiB) stays below
 * RS_EVENT_BUF_SIZE, so the mask never changes a real offset.
 *
 * A per-CPU array value may not exceed 32 KiB (PCPU_MIN_UNIT_SIZE, checked in
 * array_map_alloc_check()), so this is a plain array with one slot per
 * possible CPU.  Tracepoint programs do not nest on one CPU (trace_call_bpf()
 * refuses to run while bpf_prog_active is set), so a slot has one user.
 */
#define RS_EVENT_BUF_SIZE 65536
#define RS_EVENT_BUF_MASK (RS_EVENT_BUF_SIZE - 1)
/* The reduced tier's argv loop may start a read of up to RS_ARGV_MAX bytes at
 * an offset of up to RS_ARGV_MAX into a field: the verifier checks both
 * maxima together. */
#define RS_EVENT_BUF_SLACK (2 * RS_ARGV_MAX + 64)

struct rs_event_buf {
	u8 data[RS_EVENT_BUF_SIZE + RS_EVENT_BUF_SLACK];
};
BPF_ARRAY(rs_event_bufs, struct rs_event_buf, RS_NR_CPUS);

/* One ring for every program: its order is the order events were built. */
BPF_RINGBUF_OUTPUT(rs_events, RS_RINGBUF_PAGES);

/*
 * RS_WAKEUP_*: whether a record should wake the reader.  The kernel's rule
 * wakes it (through irq_work: a self-interrupt, costly in a virtual machine)
 * whenever a record lands in a ring user space has just emptied.  While
 * records flow the reader reads on a timer, and such a wakeup is only a cost
 * to the program that finds the ring empty.  In the exec storms that was
 * the exit program (the sensor reads while the child runs): 2.5-4.4 us a run
 * with wakeups, 1.1-1.8 us without.  User space says here when it reads on
 * a timer and when it waits on epoll.
 */
BPF_ARRAY(rs_wakeup, u32, 1);

/* Per-CPU sequence of (non-auxiliary) events; a consumer sees a gap for every loss. */
BPF_PERCPU_ARRAY(rs_seq, u64, 1);
/* Records handed to the ring, by event type. */
BPF_PERCPU_ARRAY(rs_sent, u64, RS_EVENT_TYPE_MAX);
/* Records not sent, by event type * RS_DROP_REASON_MAX + reason. */
BPF_PERCPU_ARRAY(rs_drops, u64, RS_EVENT_TYPE_MAX * RS_DROP_REASON_MAX);

BPF_ARRAY(rs_config, struct rs_config, 1);

/* ---- counters ---- */

static __always_inline u64 seq__next(void)
{
	u32 zero = 0;
	u64 *seq = rs_seq.lookup(&zero);

	if (!seq)
		return 0;
	*seq += 1;
	return *seq;
}

static __always_inline void counter__bump(u32 type, u32 reason, bool dropped)
{
	u32 idx;
	u64 *c;

	if (dropped) {
		idx = (type & (RS_EVENT_TYPE_MAX - 1)) * RS_DROP_REASON_MAX + reason;
		c = rs_drops.lookup(&idx);
	} else {
		idx = type & (RS_EVENT_TYPE_MAX - 1);
		c = rs_sent.lookup(&idx);
	}
	if (c)
		*c += 1;
}

static __always_inline bool event__is_aux(u32 type)
{
	return type >= RS_EVENT_AUX_EXEC_ARGS;
}

/* Count a record that could not even be built; its sequence number is spent. */
static __always_inline void event__drop(u32 type, u32 reason)
{
	if (!event__is_aux(type))
		seq__next();
	counter__bump(type, reason, true);
}

/* ---- configuration ---- */

static __always_inline struct rs_config *config__get(void)
{
	u32 zero = 0;

	return rs_config.lookup(&zero);
}

static __always_inline bool self__is_current(void)
{
	struct rs_config *cfg = config__get();
	u32 tgid = bpf_get_current_pid_tgid() >> 32;

	return cfg && cfg->self_tgid && cfg->self_tgid == tgid;
}

/*
 * ---- exclusions ----
 *
 * Filled by user space from the configuration and changed at run time
 * without recompiling.  What is excluded never leaves the kernel: the cost
 * of building and sending an event (~270 ns here) is not paid for it.
 * File and terminal events use them; process events are never excluded.
 */
struct rs_comm_key {
	char comm[16]; /* zero-padded, as bpf_get_current_comm() writes it */
};
BPF_HASH(rs_exclude_comm, struct rs_comm_key, u8, 256);
BPF_HASH(rs_exclude_cgroup, u64, u8, 256);

/* LPM_DATA_SIZE_MAX: an LPM trie key holds at most 256 bytes of prefix. */
#define RS_PREFIX_MAX 256
struct rs_prefix_key {
	u32 prefixlen; /* in bits */
	char data[RS_PREFIX_MAX];
};
BPF_LPM_TRIE(rs_exclude_prefix, struct rs_prefix_key, u8, 1024);
BPF_PERCPU_ARRAY(rs_prefix_keys, struct rs_prefix_key, 1);

/* How many cgroup levels above the task's own an exclusion may name. */
#define RS_CGROUP_ANCESTORS 8

static __always_inline bool filter__task_excluded(void)
{
	struct rs_config *cfg = config__get();
	struct rs_comm_key comm = {};
	u64 cgid;
	int level;

	if (!cfg)
		return false;
	if (cfg->flags & RS_CFG_F_EXCLUDE_COMM) {
		bpf_get_current_comm(comm.comm, sizeof(comm.comm));
		if (rs_exclude_comm.lookup(&comm))
			return true;
	}
	if (!(cfg->flags & RS_CFG_F_EXCLUDE_CGROUP))
		return false;
	cgid = bpf_get_current_cgroup_id();
	if (rs_exclude_cgroup.lookup(&cgid))
		return true;
	/* An excluded cgroup excludes everything below it (a whole slice or pod). */
	for (level = 1; level <= RS_CGROUP_ANCESTORS; level++) {
		u64 anc = bpf_get_current_ancestor_cgroup_id(level);

		if (!anc || anc == cgid)
			break;
		if (rs_exclude_cgroup.lookup(&anc))
			return true;
	}
	return false;
}

/* What filter__user_path() found. */
enum rs_path_verdict {
	RS_PATH_UNCHECKED = 0, /* a relative or unreadable path, or no prefixes are set */
	RS_PATH_WATCHED = 1,   /* absolute, under no excluded prefix */
	RS_PATH_EXCLUDED = 2,  /* absolute, under an excluded prefix */
};

/* Whether a user-space path is absolute and starts with an excluded prefix. */
static __always_inline int filter__user_path(const char *path)
{
	u32 zero = 0;
	struct rs_prefix_key *key = rs_prefix_keys.lookup(&zero);
	struct rs_config *cfg = config__get();
	long n;

	if (!key || !path || !cfg || !(cfg->flags & RS_CFG_F_EXCLUDE_PREFIX))
		return RS_PATH_UNCHECKED;
	n = bpf_probe_read_user_str(key->data, sizeof(key->data), path);
	if (n <= 1 || key->data[0] != '/')
		return RS_PATH_UNCHECKED;
	key->prefixlen = (n - 1) * 8; /* the NUL is not part of the path */
	return rs_exclude_prefix.lookup(key) ? RS_PATH_EXCLUDED : RS_PATH_WATCHED;
}

/* ---- building and sending events ---- */

/* Make the compiler forget what it knows of `var`, so a mask after it stays. */
#define barrier_var(var) asm volatile("" : "+r"(var))

/* inode->i_mode: the file type bits, and the permission bits (include/uapi/linux/stat.h) */
#define RS_S_IFMT 0170000
#define RS_S_IPERM 07777

#ifdef RS_REDUCED
#define RS_TIER_FLAGS RS_HDR_F_REDUCED
#else
#define RS_TIER_FLAGS 0
#endif

/* The calling CPU's event buffer, header filled; NULL (and counted) if there is none. */
static __always_inline void *event__start(u32 type)
{
	u32 cpu = bpf_get_smp_processor_id();
	struct rs_event_buf *buf = rs_event_bufs.lookup(&cpu);
	struct rs_header *hdr;

	if (!buf) {
		event__drop(type, RS_DROP_NO_SCRATCH);
		return NULL;
	}
	hdr = (struct rs_header *)buf->data;
	hdr->ts_ns = bpf_ktime_get_boot_ns();
	hdr->seq = 0;
	hdr->size = 0;
	hdr->type = type;
	hdr->cpu = cpu;
	hdr->version = RS_WIRE_VERSION;
	hdr->flags = RS_TIER_FLAGS;
	hdr->pad = 0;
	return buf;
}

/* bpf_ringbuf_output() flags: none unless the reader said it reads on a timer. */
static __always_inline u64 wakeup__flags(void)
{
	u32 zero = 0;
	u32 *mode = rs_wakeup.lookup(&zero);

	return mode && *mode == RS_WAKEUP_NEVER ? BPF_RB_NO_WAKEUP : 0;
}

/*
 * Send the first `size` bytes of an event.  Only those bytes leave the
 * kernel, and every one of them was written for this event: stale bytes of
 * an earlier, longer event in the same buffer are never sent.
 */
static __always_inline void event__emit(void *ev, u32 size)
{
	struct rs_header *hdr = ev;
	u32 type = hdr->type;

	u64 len = size;

	if (!event__is_aux(type))
		hdr->seq = seq__next();
	hdr->size = size;
	/*
	 * vl__field() keeps every event below RS_EVENT_BUF_SIZE, so the mask
	 * changes nothing; it is there for the verifier, on a 64-bit register
	 * the compiler cannot swap for an unbounded copy.
	 */
	barrier_var(len);
	len &= RS_EVENT_BUF_MASK;
	if (rs_events.ringbuf_output(ev, len, wakeup__flags()) == 0)
		counter__bump(type, 0, false);
	else
		counter__bump(type, RS_DROP_RINGBUF_FULL, true);
}

/* ---- the variable-length tail ---- */

/*
 * A field is appended at byte `*end` of the event.  Each add function writes
 * the field header and data, updates the tail's count and size, and advances
 * *end.  A field that does not fit in RS_EVENT_BUF_SIZE is left out; its
 * absence shows in user space as a missing field.
 */
static __always_inline struct rs_vl_field *vl__field(void *ev, u32 end, u32 cap)
{
	if (end + sizeof(struct rs_vl_field) + cap > RS_EVENT_BUF_SIZE)
		return NULL;
	/*
	 * The check above bounds `end` in one register; the verifier needs the
	 * bound on the one used for the pointer.  Without the barrier, clang
	 * drops the mask as redundant.
	 */
	barrier_var(end);
	return (struct rs_vl_field *)((u8 *)ev + (end & RS_EVENT_BUF_MASK));
}

static __always_inline void vl__commit(struct rs_varlen *vl, u32 *end, struct rs_vl_field *f,
				       u16 type, u16 flags, u32 size)
{
	f->type = type;
	f->flags = flags;
	f->size = size;
	vl->count += 1;
	vl->size += sizeof(*f) + size;
	*end += sizeof(*f) + size;
}

/*
 * A NUL-terminated user string, at most `cap` bytes.  One byte more than the
 * cap is read: if the string fills it, it was longer than the cap.
 */
static __always_inline void vl__add_user_str(void *ev, struct rs_varlen *vl, u32 *end,
					     u16 type, const void *src, u32 cap)
{
	struct rs_vl_field *f = vl__field(ev, *end, cap + 1);
	u16 flags = 0;
	long n;

	if (!f || !src)
		return;
	n = bpf_probe_read_user_str(f + 1, (cap + 1) & RS_EVENT_BUF_MASK, src);
	if (n <= 0)
		return;
	n -= 1; /* the NUL */
	if (n > cap) {
		n = cap;
		flags |= RS_VL_F_TRUNCATED;
	}
	vl__commit(vl, end, f, type, flags, n);
}

/* `len` bytes of user memory, cut to `cap` and flagged if longer. */
static __always_inline void vl__add_user_bytes(void *ev, struct rs_varlen *vl, u32 *end,
					       u16 type, const void *src, u64 len, u32 cap)
{
	struct rs_vl_field *f = vl__field(ev, *end, cap);
	u16 flags = 0;

	if (!f || !src)
		return;
	if (len > cap) {
		len = cap;
		flags |= RS_VL_F_TRUNCATED;
	}
	/* The mask restates len <= cap <= RS_EVENT_BUF_MASK for the verifier. */
	if (bpf_probe_read_user(f + 1, len & RS_EVENT_BUF_MASK, src) != 0)
		return;
	vl__commit(vl, end, f, type, flags, len);
}

#ifndef RS_REDUCED
/* ---- full tier: kernel memory, at offsets from BTF ---- */

static __always_inline u64 kread_u64(u64 addr)
{
	u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), (const void *)addr);
	return v;
}

static __always_inline u32 kread_u32(u64 addr)
{
	u32 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), (const void *)addr);
	return v;
}

#define KREAD_PTR(base, strct, member) kread_u64((base) + RS_OFF_##strct##__##member)
#define KREAD_U32(base, strct, member) kread_u32((base) + RS_OFF_##strct##__##member)

/*
 * Two members in one read.  Every bpf_probe_read_kernel() is a helper call
 * with its own fault-handling set-up; members that lie close together in
 * this kernel (the offsets are constants here, so the test below is decided
 * at compile time) are copied with one call.  A kernel that lays them out
 * otherwise gets one read each.
 */
#define RS_PAIR_SPAN 64

static __always_inline void kread_u64_pair(u64 base, u32 off_a, u32 off_b, u64 *a, u64 *b)
{
	u64 w[RS_PAIR_SPAN / 8] = {};

	if (off_b > off_a && off_b - off_a < RS_PAIR_SPAN && !((off_b - off_a) & 7)) {
		bpf_probe_read_kernel(w, off_b - off_a + 8, (const void *)(base + off_a));
		*a = w[0];
		*b = w[(off_b - off_a) / 8];
	} else {
		*a = kread_u64(base + off_a);
		*b = kread_u64(base + off_b);
	}
}

static __always_inline void kread_u32_pair(u64 base, u32 off_a, u32 off_b, u32 *a, u32 *b)
{
	if (off_b == off_a + 4) {
		u64 v = kread_u64(base + off_a); /* x86-64: a in the low half */

		*a = (u32)v;
		*b = v >> 32;
	} else {
		*a = kread_u32(base + off_a);
		*b = kread_u32(base + off_b);
	}
}

#define KREAD_PTR_PAIR(base, strct, m_a, m_b, a, b)                                         \
	kread_u64_pair((base), RS_OFF_##strct##__##m_a, RS_OFF_##strct##__##m_b, (a), (b))
#define KREAD_U32_PAIR(base, strct, m_a, m_b, a, b)                                         \
	kread_u32_pair((base), RS_OFF_##strct##__##m_a, RS_OFF_##strct##__##m_b, (a), (b))

/* A NUL-terminated kernel string. */
static __always_inline void vl__add_kernel_str(void *ev, struct rs_varlen *vl, u32 *end,
					       u16 type, const void *src, u32 cap)
{
	struct rs_vl_field *f = vl__field(ev, *end, cap + 1);
	u16 flags = 0;
	long n;

	if (!f || !src)
		return;
	n = bpf_probe_read_kernel_str(f + 1, (cap + 1) & RS_EVENT_BUF_MASK, src);
	if (n <= 1) /* empty strings are left out */
		return;
	n -= 1;
	if (n > cap) {
		n = cap;
		flags |= RS_VL_F_TRUNCATED;
	}
	vl__commit(vl, end, f, type, flags, n);
}

/*
 * Path resolution: walk dentry->d_parent up to the root, crossing mount
 * points through struct mount, and build the path backwards from the end of
 * a per-CPU buffer.  Offsets into it are masked with RS_PATH_MAX - 1 and a
 * name is at most 255 bytes (NAME_MAX), so the verifier can prove every write
 * lands inside the 2 * RS_PATH_MAX buffer.
 */
struct rs_path_buf {
	char data[2 * RS_PATH_MAX];
	u32 off;   /* where the walk's result starts: see path__settle() */
	u16 flags;
	u16 pad;
};
BPF_PERCPU_ARRAY(rs_path_bufs, struct rs_path_buf, 1);

#define RS_NAME_MAX 255

struct rs_path_ref {
	u64 dentry;
	u64 vfsmnt;
};

static __always_inline struct rs_path_ref path__from(u64 path_addr)
{
	struct rs_path_ref p;

	KREAD_PTR_PAIR(path_addr, path, mnt, dentry, &p.vfsmnt, &p.dentry);
	return p;
}

/*
 * A dentry's parent and name.  d_parent and d_name (struct qstr: hash, len,
 * name) are neighbours in struct dentry: one read, or three.
 */
static __always_inline u64 dentry__read(u64 dentry, u32 *len, u64 *name)
{
#if RS_OFF_dentry__d_name__len == RS_OFF_dentry__d_parent + 12 && \
	RS_OFF_dentry__d_name__name == RS_OFF_dentry__d_parent + 16
	u64 w[3] = {};

	bpf_probe_read_kernel(w, sizeof(w), (const void *)(dentry + RS_OFF_dentry__d_parent));
	*len = w[1] >> 32;
	*name = w[2];
	return w[0];
#else
	*len = kread_u32(dentry + RS_OFF_dentry__d_name__len);
	*name = kread_u64(dentry + RS_OFF_dentry__d_name__name);
	return kread_u64(dentry + RS_OFF_dentry__d_parent);
#endif
}

/*
 * Resolve `p` against the task's root `root`, append it as field `type`.
 * Paths longer than RS_PATH_MAX or deeper than RS_PATH_MAX_DEPTH lose their
 * leading components and are flagged truncated.
 */
static __always_inline void vl__add_path(void *ev, struct rs_varlen *vl, u32 *end, u16 type,
					 struct rs_path_ref p, struct rs_path_ref root)
{
	u32 zero = 0;
	struct rs_path_buf *pb = rs_path_bufs.lookup(&zero);
	struct rs_vl_field *f;
	u64 dentry = p.dentry, vfsmnt = p.vfsmnt;
	u64 mnt = vfsmnt - RS_OFF_mount__mnt; /* container_of(vfsmnt, struct mount, mnt) */
	u64 mnt_root;
	u32 off, len;
	u16 flags;
	int i;

	if (!pb || !dentry)
		return;
	/*
	 * The write offset lives in map memory, not in a register.  Each
	 * iteration either prepends a name (off shrinks by a length the verifier
	 * only knows a range of) or crosses a mount (off stays): tracked in a
	 * register, the two would give 2^depth distinct states and the verifier
	 * would give up.  Reloaded from the map, off is the same unknown scalar
	 * on every path, bounded again by the check below, and states prune.
	 * The same holds after the loop, where each exit would otherwise make
	 * the verifier walk the rest of the program once more.
	 */
	*(volatile u32 *)&pb->off = RS_PATH_MAX;
	*(volatile u16 *)&pb->flags = RS_VL_F_TRUNCATED; /* cleared when the walk reaches a root */
	/* Read again only when the walk crosses into another mount. */
	mnt_root = kread_u64(vfsmnt + RS_OFF_vfsmount__mnt_root);
	for (i = 0; i < RS_PATH_MAX_DEPTH; i++) {
		u64 parent, name;

		if (dentry == root.dentry && vfsmnt == root.vfsmnt) {
			*(volatile u16 *)&pb->flags = 0;
			break;
		}
		parent = dentry__read(dentry, &len, &name);
		if (dentry == mnt_root || dentry == parent) {
			u64 mnt_parent, mountpoint;

			KREAD_PTR_PAIR(mnt, mount, mnt_parent, mnt_mountpoint, &mnt_parent,
				       &mountpoint);
			if (dentry != mnt_root || mnt_parent == mnt || !mnt_parent) {
				/* the root of this mount namespace */
				*(volatile u16 *)&pb->flags = 0;
				break;
			}
			dentry = mountpoint;
			mnt = mnt_parent;
			vfsmnt = mnt + RS_OFF_mount__mnt;
			mnt_root = kread_u64(vfsmnt + RS_OFF_vfsmount__mnt_root);
			continue;
		}
		off = *(volatile u32 *)&pb->off;
		if (off > RS_PATH_MAX || len > RS_NAME_MAX || len + 1 > off)
			break; /* too long: keep what we have, flagged truncated */
		off -= len + 1;
		bpf_probe_read_kernel(&pb->data[(off + 1) & (RS_PATH_MAX - 1)], len & RS_NAME_MAX,
				      (const void *)name);
		pb->data[off & (RS_PATH_MAX - 1)] = '/';
		*(volatile u32 *)&pb->off = off;
		dentry = parent;
	}
	off = *(volatile u32 *)&pb->off;
	flags = *(volatile u16 *)&pb->flags;
	if (off > RS_PATH_MAX)
		return;
	if (off == RS_PATH_MAX) { /* the root itself */
		off -= 1;
		pb->data[off & (RS_PATH_MAX - 1)] = '/';
	}
	len = RS_PATH_MAX - off;
	f = vl__field(ev, *end, RS_PATH_MAX);
	if (!f)
		return;
	if (bpf_probe_read_kernel(f + 1, len & (RS_PATH_MAX * 2 - 1),
				  &pb->data[off & (RS_PATH_MAX - 1)]) != 0)
		return;
	vl__commit(vl, end, f, type, flags, len);
}

/* The task's root and working directory, from task->fs. */
struct rs_fs_paths {
	struct rs_path_ref root;
	struct rs_path_ref pwd;
};

static __always_inline struct rs_fs_paths task__fs(u64 task)
{
	u64 fs = KREAD_PTR(task, task_struct, fs);
	struct rs_fs_paths out;

#if RS_OFF_fs_struct__pwd == RS_OFF_fs_struct__root + 16
	/* root then pwd, side by side: one read. */
	u64 w[4] = {};

	bpf_probe_read_kernel(w, sizeof(w), (const void *)(fs + RS_OFF_fs_struct__root));
	out.root.vfsmnt = w[RS_OFF_path__mnt / 8];
	out.root.dentry = w[RS_OFF_path__dentry / 8];
	out.pwd.vfsmnt = w[2 + RS_OFF_path__mnt / 8];
	out.pwd.dentry = w[2 + RS_OFF_path__dentry / 8];
#else
	out.root = path__from(fs + RS_OFF_fs_struct__root);
	out.pwd = path__from(fs + RS_OFF_fs_struct__pwd);
#endif
	return out;
}

static __always_inline struct rs_path_ref task__root(u64 task)
{
	return path__from(KREAD_PTR(task, task_struct, fs) + RS_OFF_fs_struct__root);
}

/* The struct file behind a descriptor of the current task, or 0. */
static __always_inline u64 task__file(u64 task, s32 fd)
{
	u64 files = KREAD_PTR(task, task_struct, files);
	u64 fdt = KREAD_PTR(files, files_struct, fdt);
	u64 max_fds, fds;

	if (fd < 0)
		return 0;
#if RS_HAVE_FD_ARRAY
	/*
	 * Until a process has more descriptors than files_struct's own array
	 * holds, its table is the one embedded there, and the table's array is
	 * that one: the file is one read away.
	 */
	if (fdt == files + RS_OFF_files_struct__fdtab && (u32)fd < RS_FD_ARRAY_LEN)
		return kread_u64(files + RS_OFF_files_struct__fd_array + (u64)fd * sizeof(u64));
#endif
	/* max_fds (an unsigned int) and fd (the array) are neighbours in struct fdtable. */
	KREAD_PTR_PAIR(fdt, fdtable, max_fds, fd, &max_fds, &fds);
	if ((u32)fd >= (u32)max_fds)
		return 0;
	return kread_u64(fds + (u64)fd * sizeof(u64));
}

/* Where a relative path given with dirfd `dfd` starts (`pwd`: the task's cwd). */
static __always_inline struct rs_path_ref task__dir(u64 task, s32 dfd, struct rs_path_ref pwd)
{
	u64 file;

	if (dfd == RS_AT_FDCWD)
		return pwd;
	file = task__file(task, dfd);
	if (!file) {
		struct rs_path_ref none = {};

		return none;
	}
	return path__from(file + RS_OFF_file__f_path);
}

/* Fill the process block of the current task from task_struct. */
static __always_inline void process__fill(struct rs_process *p, u64 task)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u64 uid_gid = bpf_get_current_uid_gid();
	u64 leader, parent, parent_leader, cred;

	KREAD_PTR_PAIR(task, task_struct, real_parent, group_leader, &parent, &leader);
	parent_leader = KREAD_PTR(parent, task_struct, group_leader);
	cred = KREAD_PTR(task, task_struct, cred);
	p->pid = pid_tgid >> 32;
	p->tid = (u32)pid_tgid;
	p->uid = (u32)uid_gid;
	p->gid = uid_gid >> 32;
	p->cgroup_id = bpf_get_current_cgroup_id();
	p->start_ns = kread_u64(leader + RS_OFF_task_struct__start_boottime);
	p->parent_start_ns = kread_u64(parent_leader + RS_OFF_task_struct__start_boottime);
	p->ppid = KREAD_U32(parent, task_struct, tgid);
	KREAD_U32_PAIR(cred, cred, euid, egid, &p->euid, &p->egid);
#if RS_HAVE_LOGINUID
	KREAD_U32_PAIR(task, task_struct, loginuid, sessionid, &p->loginuid, &p->sessionid);
#else
	p->loginuid = 0xffffffff;
	p->sessionid = 0xffffffff;
#endif
	p->flags = RS_PROC_F_CREDS | RS_PROC_F_PARENT | RS_PROC_F_START | RS_PROC_F_PSTART;
	bpf_get_current_comm(p->comm, sizeof(p->comm));
}

/* The controlling terminal's name, from task->signal->tty->name. */
static __always_inline void vl__add_tty_name(void *ev, struct rs_varlen *vl, u32 *end, u64 tty)
{
	if (tty)
		vl__add_kernel_str(ev, vl, end, RS_VL_TTY_NAME,
				   (const void *)(tty + RS_OFF_tty_struct__name), RS_TTY_NAME_MAX - 1);
}

static __always_inline u64 task__tty(u64 task)
{
	return KREAD_PTR(KREAD_PTR(task, task_struct, signal), signal_struct, tty);
}

#else /* RS_REDUCED */
/*
 * ---- reduced tier: no kernel memory ----
 *
 * What the kernel would not give is learnt from tracepoint arguments and
 * kept here: the parent and start time of every process forked since the
 * sensor started.  User space fills the rest from /proc.
 */
struct rs_proc_state {
	u64 start_ns;        /* bpf_ktime_get_boot_ns() at fork: close to, not equal to, start_boottime */
	u64 parent_start_ns; /* the parent's start_ns, when the parent is known here */
	u32 ppid;
	u32 pad;
};
/* LRU: a process whose exit we missed must not pin an entry forever. */
BPF_TABLE("lru_hash", u32, struct rs_proc_state, rs_procs, 65536);

static __always_inline void process__fill(struct rs_process *p, u64 task)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u64 uid_gid = bpf_get_current_uid_gid();
	u32 tgid = pid_tgid >> 32;
	struct rs_proc_state *st = rs_procs.lookup(&tgid);

	p->pid = tgid;
	p->tid = (u32)pid_tgid;
	p->uid = (u32)uid_gid;
	p->gid = uid_gid >> 32;
	p->euid = 0;
	p->egid = 0;
	p->loginuid = 0xffffffff;
	p->sessionid = 0xffffffff;
	p->cgroup_id = bpf_get_current_cgroup_id();
	p->flags = 0;
	p->start_ns = 0;
	p->parent_start_ns = 0;
	p->ppid = 0;
	if (st) {
		p->start_ns = st->start_ns;
		p->ppid = st->ppid;
		p->flags = RS_PROC_F_PARENT | RS_PROC_F_START;
		if (st->parent_start_ns) {
			p->parent_start_ns = st->parent_start_ns;
			p->flags |= RS_PROC_F_PSTART;
		}
	}
	bpf_get_current_comm(p->comm, sizeof(p->comm));
}
#endif /* RS_REDUCED */
