/* SPDX-License-Identifier: GPL-2.0 */
/*
 * File events from syscall tracepoints: the arguments are remembered at
 * entry, and the event is built at exit, once the result is known (only
 * successes are reported, unless RS_CFG_F_FILE_FAILED is set).
 *
 * What nobody wants never gets this far: read-only opens, the sensor's own
 * calls and excluded comms and cgroups are dropped at entry, before any
 * state is kept; a call on one absolute path under an excluded prefix is
 * dropped at exit before its event is built; other excluded paths (relative
 * ones, found by walking the directory; renames and links, excluded only
 * when both names are) once it is built.
 *
 * Every exit program tail-calls one program, file__emit, which builds the
 * event.  Path walks are large; written once, they are compiled and verified
 * once instead of once per syscall.
 */

/* open(2) flags (include/uapi/asm-generic/fcntl.h, x86-64 values) */
#define RS_O_WRONLY 00000001
#define RS_O_RDWR 00000002
#define RS_O_CREAT 00000100
#define RS_O_EXCL 00000200
#define RS_O_TRUNC 00001000
#define RS_O_TMPFILE 020200000 /* __O_TMPFILE | O_DIRECTORY */
#define RS_O_WRITE (RS_O_WRONLY | RS_O_RDWR | RS_O_TRUNC)

/*
 * file->f_mode bit set by the open that created the file
 * (include/linux/fs.h; a macro, so not in BTF.  Checked on 6.18: a creating
 * open differs from reopening the same file by exactly this bit, and the
 * kernel tests tell create from modify with it).
 */
#define RS_FMODE_CREATED 0x100000

struct rs_file_call {
	const char *path;  /* user pointer: see struct rs_file_event for each op */
	const char *path2; /* rename and link: the new name; symlink: the link */
	const char *target; /* symlink: the target text */
	s32 dfd;           /* dirfd of path, or the fd of fchmod/fchown/ftruncate */
	s32 dfd2;          /* dirfd of path2 */
	u32 op;            /* enum rs_file_op */
	u32 etype;         /* event to report; opens decide at exit */
	u32 oflags;
	u32 mode;
	u32 uid;
	u32 gid;
	u32 flags;         /* RS_CALL_F_* */
	u32 pad;
	s64 ret;           /* set at exit */
};

/* rs_file_call.flags */
#define RS_CALL_F_PATH_WATCHED (1U << 0) /* path: absolute, under no excluded prefix */
/* Calls in flight, by thread: a thread is in at most one syscall at a time. */
BPF_HASH(rs_file_calls, u32, struct rs_file_call, 16384);
BPF_PROG_ARRAY(rs_file_tail, 1);

/*
 * How many entries rs_file_calls holds, at least.  Most exits find nothing
 * there (every read-only open reaches sys_exit_openat), and the hash lookup
 * is most of their cost: while the count is zero they skip it.  An entry
 * overwritten before its exit leaves the count one too high, which only
 * costs lookups; it is never too low, so no call is missed.  One global
 * count, not per CPU: a call may enter on one CPU and exit on another.
 */
BPF_ARRAY(rs_file_calls_live, u64, 1);

static __always_inline void file__calls_live_add(s64 n)
{
	u32 zero = 0;
	u64 *live = rs_file_calls_live.lookup(&zero);

	if (live)
		__sync_fetch_and_add(live, n);
}

static __always_inline void file__forget(u32 tid)
{
	if (rs_file_calls.delete(&tid) == 0)
		file__calls_live_add(-1);
}

static __always_inline bool op__by_fd(u32 op)
{
	return op == RS_FILE_OP_FCHMOD || op == RS_FILE_OP_FCHOWN || op == RS_FILE_OP_FTRUNCATE;
}

static __always_inline bool op__is_open(u32 op)
{
	return op == RS_FILE_OP_OPEN || op == RS_FILE_OP_OPENAT || op == RS_FILE_OP_OPENAT2 ||
	       op == RS_FILE_OP_CREAT;
}

static __always_inline int file__enter(struct rs_file_call *call)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();

	if (self__is_current() || filter__task_excluded())
		return 0;
	call->ret = 0;
	if (rs_file_calls.update(&tid, call) == 0)
		file__calls_live_add(1);
	return 0;
}

static __always_inline int file__open(u32 op, s32 dfd, const char *path, u32 flags, u32 mode)
{
	/* Read-only opens are not events: most opens are, and they cost nothing here. */
	if (!(flags & (RS_O_WRITE | RS_O_CREAT)))
		return 0;
	/* An O_TMPFILE file has no name until linkat() gives it one (a file.link). */
	if ((flags & RS_O_TMPFILE) == RS_O_TMPFILE)
		return 0;
	struct rs_file_call call = {
		.path = path, .dfd = dfd, .op = op, .oflags = flags, .mode = mode,
	};
	return file__enter(&call);
}

static __always_inline int file__named(u32 op, u32 etype, s32 dfd, const char *path,
				       u32 mode, u32 flags)
{
	struct rs_file_call call = {
		.path = path, .dfd = dfd, .op = op, .etype = etype, .mode = mode, .oflags = flags,
		.uid = 0xffffffff, .gid = 0xffffffff,
	};
	return file__enter(&call);
}

static __always_inline int file__two(u32 op, u32 etype, s32 dfd, const char *path, s32 dfd2,
				     const char *path2, u32 flags)
{
	struct rs_file_call call = {
		.path = path, .path2 = path2, .dfd = dfd, .dfd2 = dfd2, .op = op, .etype = etype,
		.oflags = flags, .uid = 0xffffffff, .gid = 0xffffffff,
	};
	return file__enter(&call);
}

static __always_inline int file__chown(u32 op, s32 dfd, const char *path, u32 uid, u32 gid,
				       u32 flags)
{
	struct rs_file_call call = {
		.path = path, .dfd = dfd, .op = op, .etype = RS_EVENT_FILE_CHOWN,
		.uid = uid, .gid = gid, .oflags = flags,
	};
	return file__enter(&call);
}

/* At exit: keep the result and hand over to file__emit. */
static __always_inline int file__exit(void *ctx, long ret)
{
	u32 zero = 0, tid;
	u64 *live = rs_file_calls_live.lookup(&zero);
	struct rs_file_call *call;
	struct rs_config *cfg;

	if (live && *live == 0)
		return 0; /* no call of any thread is in flight */
	tid = (u32)bpf_get_current_pid_tgid();
	call = rs_file_calls.lookup(&tid);
	if (!call)
		return 0;
	cfg = config__get();
	if (ret < 0 && !(cfg && (cfg->flags & RS_CFG_F_FILE_FAILED))) {
		file__forget(tid);
		return 0;
	}
	/*
	 * One path, absolute, under an excluded prefix (a shell's `>/dev/null`):
	 * dropped here, at the cost of a string read and a trie lookup, rather
	 * than by file__emit after building the event (1.8 us a call, measured
	 * on an exec storm's `>/dev/null` opens).  Not at entry: there the path
	 * may sit in a page the process has not touched yet (a forked child's
	 * read-only data), which a BPF program cannot fault in; by now the
	 * syscall has read it.  A watched path is not looked up again.
	 */
	if (call->path && !call->path2) {
		int verdict = filter__user_path(call->path);

		if (verdict == RS_PATH_EXCLUDED) {
			file__forget(tid);
			return 0;
		}
		if (verdict == RS_PATH_WATCHED)
			call->flags |= RS_CALL_F_PATH_WATCHED;
	}
	call->ret = ret;
	rs_file_tail.call(ctx, 0);
	/* Only reached when the tail call failed: its program is not in place yet. */
	file__forget(tid);
	return 0;
}

#define FILE_EXIT(name)                                   \
	TRACEPOINT_PROBE(syscalls, sys_exit_##name)       \
	{                                                 \
		return file__exit(args, args->ret);       \
	}

TRACEPOINT_PROBE(syscalls, sys_enter_open)
{
	return file__open(RS_FILE_OP_OPEN, RS_AT_FDCWD, args->filename, args->flags, args->mode);
}
FILE_EXIT(open)

TRACEPOINT_PROBE(syscalls, sys_enter_openat)
{
	return file__open(RS_FILE_OP_OPENAT, args->dfd, args->filename, args->flags, args->mode);
}
FILE_EXIT(openat)

TRACEPOINT_PROBE(syscalls, sys_enter_openat2)
{
	u64 how[2] = {}; /* struct open_how starts { u64 flags; u64 mode; } */

	if (bpf_probe_read_user(how, sizeof(how), args->how) != 0)
		return 0;
	return file__open(RS_FILE_OP_OPENAT2, args->dfd, args->filename, how[0], how[1]);
}
FILE_EXIT(openat2)

TRACEPOINT_PROBE(syscalls, sys_enter_creat)
{
	return file__open(RS_FILE_OP_CREAT, RS_AT_FDCWD, args->pathname,
			  RS_O_CREAT | RS_O_WRONLY | RS_O_TRUNC, args->mode);
}
FILE_EXIT(creat)

TRACEPOINT_PROBE(syscalls, sys_enter_mkdir)
{
	return file__named(RS_FILE_OP_MKDIR, RS_EVENT_FILE_CREATE, RS_AT_FDCWD, args->pathname,
			   args->mode, 0);
}
FILE_EXIT(mkdir)

TRACEPOINT_PROBE(syscalls, sys_enter_mkdirat)
{
	return file__named(RS_FILE_OP_MKDIRAT, RS_EVENT_FILE_CREATE, args->dfd, args->pathname,
			   args->mode, 0);
}
FILE_EXIT(mkdirat)

TRACEPOINT_PROBE(syscalls, sys_enter_mknod)
{
	return file__named(RS_FILE_OP_MKNOD, RS_EVENT_FILE_CREATE, RS_AT_FDCWD, args->filename,
			   args->mode, 0);
}
FILE_EXIT(mknod)

TRACEPOINT_PROBE(syscalls, sys_enter_mknodat)
{
	return file__named(RS_FILE_OP_MKNODAT, RS_EVENT_FILE_CREATE, args->dfd, args->filename,
			   args->mode, 0);
}
FILE_EXIT(mknodat)

TRACEPOINT_PROBE(syscalls, sys_enter_truncate)
{
	return file__named(RS_FILE_OP_TRUNCATE, RS_EVENT_FILE_MODIFY, RS_AT_FDCWD, args->path,
			   0, 0);
}
FILE_EXIT(truncate)

TRACEPOINT_PROBE(syscalls, sys_enter_ftruncate)
{
	return file__named(RS_FILE_OP_FTRUNCATE, RS_EVENT_FILE_MODIFY, args->fd, NULL, 0, 0);
}
FILE_EXIT(ftruncate)

TRACEPOINT_PROBE(syscalls, sys_enter_unlink)
{
	return file__named(RS_FILE_OP_UNLINK, RS_EVENT_FILE_DELETE, RS_AT_FDCWD, args->pathname,
			   0, 0);
}
FILE_EXIT(unlink)

TRACEPOINT_PROBE(syscalls, sys_enter_unlinkat)
{
	return file__named(RS_FILE_OP_UNLINKAT, RS_EVENT_FILE_DELETE, args->dfd, args->pathname,
			   0, args->flag);
}
FILE_EXIT(unlinkat)

TRACEPOINT_PROBE(syscalls, sys_enter_rmdir)
{
	return file__named(RS_FILE_OP_RMDIR, RS_EVENT_FILE_DELETE, RS_AT_FDCWD, args->pathname,
			   0, 0);
}
FILE_EXIT(rmdir)

TRACEPOINT_PROBE(syscalls, sys_enter_rename)
{
	return file__two(RS_FILE_OP_RENAME, RS_EVENT_FILE_RENAME, RS_AT_FDCWD, args->oldname,
			 RS_AT_FDCWD, args->newname, 0);
}
FILE_EXIT(rename)

TRACEPOINT_PROBE(syscalls, sys_enter_renameat)
{
	return file__two(RS_FILE_OP_RENAMEAT, RS_EVENT_FILE_RENAME, args->olddfd, args->oldname,
			 args->newdfd, args->newname, 0);
}
FILE_EXIT(renameat)

TRACEPOINT_PROBE(syscalls, sys_enter_renameat2)
{
	return file__two(RS_FILE_OP_RENAMEAT2, RS_EVENT_FILE_RENAME, args->olddfd, args->oldname,
			 args->newdfd, args->newname, args->flags);
}
FILE_EXIT(renameat2)

TRACEPOINT_PROBE(syscalls, sys_enter_chmod)
{
	return file__named(RS_FILE_OP_CHMOD, RS_EVENT_FILE_CHMOD, RS_AT_FDCWD, args->filename,
			   args->mode, 0);
}
FILE_EXIT(chmod)

TRACEPOINT_PROBE(syscalls, sys_enter_fchmod)
{
	return file__named(RS_FILE_OP_FCHMOD, RS_EVENT_FILE_CHMOD, args->fd, NULL, args->mode, 0);
}
FILE_EXIT(fchmod)

TRACEPOINT_PROBE(syscalls, sys_enter_fchmodat)
{
	return file__named(RS_FILE_OP_FCHMODAT, RS_EVENT_FILE_CHMOD, args->dfd, args->filename,
			   args->mode, 0);
}
FILE_EXIT(fchmodat)

TRACEPOINT_PROBE(syscalls, sys_enter_fchmodat2)
{
	return file__named(RS_FILE_OP_FCHMODAT2, RS_EVENT_FILE_CHMOD, args->dfd, args->filename,
			   args->mode, args->flags);
}
FILE_EXIT(fchmodat2)

TRACEPOINT_PROBE(syscalls, sys_enter_chown)
{
	return file__chown(RS_FILE_OP_CHOWN, RS_AT_FDCWD, args->filename, args->user, args->group,
			   0);
}
FILE_EXIT(chown)

TRACEPOINT_PROBE(syscalls, sys_enter_fchown)
{
	return file__chown(RS_FILE_OP_FCHOWN, args->fd, NULL, args->user, args->group, 0);
}
FILE_EXIT(fchown)

TRACEPOINT_PROBE(syscalls, sys_enter_lchown)
{
	return file__chown(RS_FILE_OP_LCHOWN, RS_AT_FDCWD, args->filename, args->user,
			   args->group, 0);
}
FILE_EXIT(lchown)

TRACEPOINT_PROBE(syscalls, sys_enter_fchownat)
{
	return file__chown(RS_FILE_OP_FCHOWNAT, args->dfd, args->filename, args->user,
			   args->group, args->flag);
}
FILE_EXIT(fchownat)

TRACEPOINT_PROBE(syscalls, sys_enter_link)
{
	return file__two(RS_FILE_OP_LINK, RS_EVENT_FILE_LINK, RS_AT_FDCWD, args->oldname,
			 RS_AT_FDCWD, args->newname, 0);
}
FILE_EXIT(link)

TRACEPOINT_PROBE(syscalls, sys_enter_linkat)
{
	return file__two(RS_FILE_OP_LINKAT, RS_EVENT_FILE_LINK, args->olddfd, args->oldname,
			 args->newdfd, args->newname, args->flags);
}
FILE_EXIT(linkat)

TRACEPOINT_PROBE(syscalls, sys_enter_symlink)
{
	struct rs_file_call call = {
		.target = args->oldname, .path2 = args->newname, .dfd = RS_AT_FDCWD,
		.dfd2 = RS_AT_FDCWD, .op = RS_FILE_OP_SYMLINK, .etype = RS_EVENT_FILE_LINK,
		.uid = 0xffffffff, .gid = 0xffffffff,
	};
	return file__enter(&call);
}
FILE_EXIT(symlink)

TRACEPOINT_PROBE(syscalls, sys_enter_symlinkat)
{
	struct rs_file_call call = {
		.target = args->oldname, .path2 = args->newname, .dfd = RS_AT_FDCWD,
		.dfd2 = args->newdfd, .op = RS_FILE_OP_SYMLINKAT, .etype = RS_EVENT_FILE_LINK,
		.uid = 0xffffffff, .gid = 0xffffffff,
	};
	return file__enter(&call);
}
FILE_EXIT(symlinkat)

/* ---- building the event (the tail-called program) ---- */

#ifndef RS_REDUCED
/*
 * Whether the directory just walked (left in rs_path_bufs by vl__add_path),
 * with a '/' after it, starts with an excluded prefix.
 */
static __always_inline bool filter__walked_dir_excluded(void)
{
	u32 zero = 0;
	struct rs_path_buf *pb = rs_path_bufs.lookup(&zero);
	struct rs_prefix_key *key = rs_prefix_keys.lookup(&zero);
	struct rs_config *cfg = config__get();
	u64 off, len;

	if (!pb || !key || !cfg || !(cfg->flags & RS_CFG_F_EXCLUDE_PREFIX))
		return false;
	off = *(volatile u32 *)&pb->off;
	if (off >= RS_PATH_MAX)
		return false;
	len = RS_PATH_MAX - off;
	if (len > RS_PREFIX_MAX - 1)
		len = RS_PREFIX_MAX - 1;
	/* Bound the register the call uses (the compiler may keep another copy). */
	barrier_var(len);
	len &= RS_PREFIX_MAX - 1;
	if (bpf_probe_read_kernel(key->data, len,
				  &pb->data[off & (RS_PATH_MAX - 1)]) != 0)
		return false;
	key->data[len & (RS_PREFIX_MAX - 1)] = '/';
	key->prefixlen = (len + 1) * 8;
	return rs_exclude_prefix.lookup(key) != NULL;
}
#endif

/*
 * Append a path argument (as given) and, for a relative one in the full
 * tier, the directory it starts from.  Returns true if an exclusion matched.
 */
static __always_inline bool file__add_path(void *ev, struct rs_varlen *vl, u32 *end, u64 task,
					   u16 type, u16 dir_type, const char *path, s32 dfd,
					   bool watched)
{
	char first = 0;

	if (!path)
		return false;
	bpf_probe_read_user(&first, 1, path);
	vl__add_user_str(ev, vl, end, type, path, RS_PATH_MAX);
	if (first == '/')
		return !watched && filter__user_path(path) == RS_PATH_EXCLUDED;
#ifndef RS_REDUCED
	{
		struct rs_fs_paths fs = task__fs(task);
		struct rs_path_ref dir = task__dir(task, dfd, fs.pwd);

		if (!dir.dentry)
			return false;
		vl__add_path(ev, vl, end, dir_type, dir, fs.root);
		return filter__walked_dir_excluded();
	}
#else
	return false; /* user space resolves it, and applies the prefixes then */
#endif
}

int file__emit(void *ctx)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct rs_file_call *call = rs_file_calls.lookup(&tid);
	struct rs_file_event *ev;
	u64 task = 0;
	u32 etype, mode, end = sizeof(*ev);
	bool excluded = false, excluded_new;

	if (!call)
		return 0;
#ifndef RS_REDUCED
	task = bpf_get_current_task();
#endif
	etype = call->etype;
	mode = call->mode;
	if (op__is_open(call->op)) {
		/* A creating open is a create; an open for writing is a modify. */
		etype = 0;
		/*
		 * The mode argument's type bits are whatever the caller passed (it is
		 * not even read without O_CREAT); an open's event carries the type
		 * of the file it opened instead, where it is known.
		 */
		mode &= RS_S_IPERM;
#ifndef RS_REDUCED
		if (call->ret >= 0) {
			u64 file = task__file(task, call->ret), inode = 0;
			u32 fmode = 0;

			if (file) {
				fmode = KREAD_U32(file, file, f_mode);
				inode = KREAD_PTR(file, file, f_inode);
			}
			if (inode)
				mode |= KREAD_U32(inode, inode, i_mode) & RS_S_IFMT;
			if (fmode & RS_FMODE_CREATED)
				etype = RS_EVENT_FILE_CREATE;
		}
#else
		/* No kernel reads: only O_EXCL proves the file is new. */
		if ((call->oflags & (RS_O_CREAT | RS_O_EXCL)) == (RS_O_CREAT | RS_O_EXCL))
			etype = RS_EVENT_FILE_CREATE;
#endif
		if (!etype && (call->oflags & RS_O_WRITE))
			etype = RS_EVENT_FILE_MODIFY;
		if (!etype && call->ret < 0 && (call->oflags & RS_O_CREAT))
			etype = RS_EVENT_FILE_CREATE; /* a failed create, when failures are asked for */
		if (!etype)
			goto out; /* O_CREAT on a file that existed, without writing: nothing happened */
	}
	ev = event__start(etype);
	if (!ev)
		goto out;
	process__fill(&ev->proc, task);
	ev->op = call->op;
	ev->mode = mode;
	ev->uid = call->uid;
	ev->gid = call->gid;
	ev->oflags = call->oflags;
	ev->ret = call->ret;
	ev->dfd = call->dfd;
	ev->dfd2 = call->dfd2;
	ev->vl.count = 0;
	ev->vl.size = 0;

	if (op__by_fd(call->op)) {
#ifndef RS_REDUCED
		u64 file = task__file(task, call->dfd);

		if (file) {
			vl__add_path(ev, &ev->vl, &end, RS_VL_PATH,
				     path__from(file + RS_OFF_file__f_path), task__root(task));
			excluded = filter__walked_dir_excluded();
		}
#endif
	} else {
		excluded = file__add_path(ev, &ev->vl, &end, task, RS_VL_PATH, RS_VL_DIR, call->path,
					  call->dfd, call->flags & RS_CALL_F_PATH_WATCHED);
	}
	if (call->path2) {
		excluded_new = file__add_path(ev, &ev->vl, &end, task, RS_VL_PATH_NEW, RS_VL_DIR_NEW,
					      call->path2, call->dfd2, false);
		/* A rename or link is reported if either end is watched: a file moved
		 * out of an excluded directory into a watched one matters. */
		excluded = (excluded || !call->path) && excluded_new;
	}
	if (call->target)
		vl__add_user_str(ev, &ev->vl, &end, RS_VL_LINK_TARGET, call->target, RS_PATH_MAX);
	if (!excluded)
		event__emit(ev, end);
out:
	file__forget(tid);
	return 0;
}
