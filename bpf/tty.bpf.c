/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tty.write: what processes write to a terminal (a pty slave, a virtual
 * console, a serial line, /dev/console or /dev/tty), read from the write
 * syscalls' own arguments at entry.
 *
 * Telling a terminal from a pipe, file or socket needs the descriptor's
 * struct file, so this area needs kernel reads: the loader refuses it in the
 * reduced tier.  Writes to the pty master (what a terminal emulator sends as
 * input) are not terminal output and are left out.
 *
 * Captured at entry: what was asked to be written.  A write that then fails
 * or is cut short (a non-blocking tty) is still reported in full.
 */
#ifdef RS_REDUCED
#error "tty.bpf.c reads struct file and tty_struct; it is not built in the reduced tier"
#endif

#define RS_S_IFCHR 0020000
/* The kernel's internal dev_t: 12 bits of major, 20 of minor (include/linux/kdev_t.h). */
#define RS_DEV_MAJOR(dev) ((dev) >> 20)
#define RS_DEV_MINOR(dev) ((dev) & 0xfffff)
/* pwritev2's tracepoint struct names rwf_t, which the headers bcc sees do not
 * declare (include/linux/types.h has it; C11 allows the same typedef twice). */
typedef int rwf_t;

/* iovecs walked per writev, a bound for the verifier; the rest counts as skipped. */
#define RS_TTY_IOV_MAX 16

BPF_PERCPU_ARRAY(rs_tty_bytes, u64, RS_TTY_COUNT_MAX);

struct rs_tty_window {
	u64 start_ns; /* this one-second window began */
	u64 bytes;    /* captured in it */
};
/* Per-process budget windows; LRU so that exited processes age out. */
BPF_TABLE("lru_hash", u32, struct rs_tty_window, rs_tty_windows, 4096);

static __always_inline void tty__count(u32 what, u64 bytes)
{
	u64 *c = rs_tty_bytes.lookup(&what);

	if (c)
		*c += bytes;
}

/* An inode's mode and device number: one read where they are close (i_mode
 * starts struct inode; i_rdev was 76 bytes in on 6.18), else two. */
#define RS_INODE_SPAN (RS_OFF_inode__i_rdev + 4)
static __always_inline void tty__inode_mode_rdev(u64 inode, u32 *mode, u32 *rdev)
{
#if RS_OFF_inode__i_mode == 0 && RS_INODE_SPAN <= 128
	u8 head[RS_INODE_SPAN] = {};

	bpf_probe_read_kernel(head, sizeof(head), (const void *)inode);
	*mode = *(u16 *)head;
	*rdev = *(u32 *)&head[RS_OFF_inode__i_rdev];
#else
	u16 m = 0;

	bpf_probe_read_kernel(&m, sizeof(m), (const void *)(inode + RS_OFF_inode__i_mode));
	*mode = m;
	*rdev = KREAD_U32(inode, inode, i_rdev);
#endif
}

/*
 * The tty_struct behind `fd` when it is a terminal's output side, else 0:
 * a character device of a pty slave (majors 136-143), a VT or serial line
 * (4), /dev/tty or /dev/console (5:0, 5:1); not the pty master (5:2).
 */
static __always_inline u64 tty__of_fd(u64 task, s32 fd)
{
	u64 file = task__file(task, fd), inode, priv;
	u32 mode, rdev, major, minor;

	if (!file)
		return 0;
	/* A tty file's private_data is a struct tty_file_private, whose first member is the tty. */
	KREAD_PTR_PAIR(file, file, private_data, f_inode, &priv, &inode);
	tty__inode_mode_rdev(inode, &mode, &rdev);
	if ((mode & RS_S_IFMT) != RS_S_IFCHR)
		return 0;
	major = RS_DEV_MAJOR(rdev);
	minor = RS_DEV_MINOR(rdev);
	if (!((major >= 136 && major <= 143) || major == 4 || (major == 5 && minor <= 1)))
		return 0;
	return priv ? KREAD_PTR(priv, tty_file_private, tty) : 0;
}

/* Whether this process may still have output captured in the current second. */
static __always_inline bool tty__within_budget(u32 tgid, u64 now)
{
	struct rs_config *cfg = config__get();
	struct rs_tty_window *w;

	if (!cfg || !cfg->tty_budget)
		return true;
	w = rs_tty_windows.lookup(&tgid);
	if (!w || now - w->start_ns >= 1000000000ULL) {
		struct rs_tty_window fresh = {.start_ns = now};

		rs_tty_windows.update(&tgid, &fresh);
		return true;
	}
	return w->bytes < cfg->tty_budget;
}

static __always_inline void tty__spend(u32 tgid, u64 bytes)
{
	struct rs_tty_window *w = rs_tty_windows.lookup(&tgid);

	if (w)
		w->bytes += bytes;
}

static __always_inline struct rs_tty_write_event *tty__start(u64 task, u64 tty, u64 len,
							      u32 *end)
{
	struct rs_tty_write_event *ev = event__start(RS_EVENT_TTY_WRITE);
	u16 winsize[2] = {};

	if (!ev)
		return NULL;
	process__fill(&ev->proc, task);
	bpf_probe_read_kernel(winsize, sizeof(winsize),
			      (const void *)(tty + RS_OFF_tty_struct__winsize__ws_row));
	ev->len = len;
	ev->skipped = 0;
	ev->rows = winsize[0];
	ev->cols = winsize[1];
	ev->pad = 0;
	ev->vl.count = 0;
	ev->vl.size = 0;
	*end = sizeof(*ev);
	vl__add_tty_name(ev, &ev->vl, end, tty);
	return ev;
}

/* write(2) and pwrite64(2): one buffer. */
static __always_inline int tty__write(s32 fd, const char *buf, u64 count)
{
	u64 task, tty, now;
	u32 tgid = bpf_get_current_pid_tgid() >> 32, end;
	struct rs_tty_write_event *ev;
	u64 captured;

	if (!count || self__is_current())
		return 0;
	task = bpf_get_current_task();
	tty = tty__of_fd(task, fd);
	if (!tty || filter__task_excluded())
		return 0;
	now = bpf_ktime_get_boot_ns();
	if (!tty__within_budget(tgid, now)) {
		tty__count(RS_TTY_OVER_BUDGET, count);
		return 0;
	}
	ev = tty__start(task, tty, count, &end);
	if (!ev)
		return 0;
	vl__add_user_bytes(ev, &ev->vl, &end, RS_VL_TTY_OUT, buf, count, RS_TTY_OUT_MAX);
	captured = count > RS_TTY_OUT_MAX ? RS_TTY_OUT_MAX : count;
	ev->skipped = count - captured;
	tty__spend(tgid, captured);
	tty__count(RS_TTY_CAPTURED, captured);
	tty__count(RS_TTY_OVER_CAP, count - captured);
	event__emit(ev, end);
	return 0;
}

struct rs_iovec {
	const void *base;
	u64 len;
};

/* writev(2) family: the iovecs' bytes, in order, into one field. */
static __always_inline int tty__writev(s32 fd, const struct rs_iovec *vec, u64 vlen)
{
	u64 task, tty, now, total = 0, len = 0, at, room, n;
	u32 tgid = bpf_get_current_pid_tgid() >> 32, end;
	struct rs_tty_write_event *ev;
	struct rs_vl_field *f;
	int i;

	if (!vlen || self__is_current())
		return 0;
	task = bpf_get_current_task();
	tty = tty__of_fd(task, fd);
	if (!tty || filter__task_excluded())
		return 0;
	now = bpf_ktime_get_boot_ns();
	ev = NULL;
	if (tty__within_budget(tgid, now))
		ev = tty__start(task, tty, 0, &end);
	f = ev ? vl__field(ev, end, RS_TTY_OUT_MAX) : NULL;
	for (i = 0; i < RS_TTY_IOV_MAX && i < vlen; i++) {
		struct rs_iovec iov = {};

		if (bpf_probe_read_user(&iov, sizeof(iov), &vec[i]) != 0)
			break;
		total += iov.len;
		if (!f)
			continue;
		/* Check and use the same registers, so the verifier keeps the bounds. */
		at = len;
		barrier_var(at);
		if (at >= RS_TTY_OUT_MAX)
			continue;
		room = RS_TTY_OUT_MAX - at;
		n = iov.len < room ? iov.len : room;
		barrier_var(n);
		if (n > RS_TTY_OUT_MAX)
			break;
		if (bpf_probe_read_user((u8 *)(f + 1) + at, n, iov.base) != 0)
			break;
		len += n;
	}
	if (!ev) {
		tty__count(RS_TTY_OVER_BUDGET, total);
		return 0;
	}
	if (len)
		vl__commit(&ev->vl, &end, f, RS_VL_TTY_OUT,
			   total > len ? RS_VL_F_TRUNCATED : 0, len);
	ev->len = total;
	ev->skipped = total - len;
	tty__spend(tgid, len);
	tty__count(RS_TTY_CAPTURED, len);
	tty__count(RS_TTY_OVER_CAP, total - len);
	event__emit(ev, end);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_write)
{
	return tty__write(args->fd, args->buf, args->count);
}

TRACEPOINT_PROBE(syscalls, sys_enter_pwrite64)
{
	return tty__write(args->fd, args->buf, args->count);
}

TRACEPOINT_PROBE(syscalls, sys_enter_writev)
{
	return tty__writev(args->fd, (const struct rs_iovec *)args->vec, args->vlen);
}

TRACEPOINT_PROBE(syscalls, sys_enter_pwritev)
{
	return tty__writev(args->fd, (const struct rs_iovec *)args->vec, args->vlen);
}

TRACEPOINT_PROBE(syscalls, sys_enter_pwritev2)
{
	return tty__writev(args->fd, (const struct rs_iovec *)args->vec, args->vlen);
}
