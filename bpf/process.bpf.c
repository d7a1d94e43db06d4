/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Process events: fork, exec and exit, from tracepoints only (this sensor
 * runs where kprobes and fentry are not available): raw tracepoints in the
 * full tier, whose arguments are the kernel's own pointers; plain ones in
 * the reduced tier, which may not read them.
 *
 * Full tier: the process block, argv (from the new mm's argument area: what
 * the kernel copied, not what a racing thread may have changed since),
 * executable, cwd and tty come from task_struct at BTF offsets.
 *
 * Reduced tier (RS_REDUCED, no kernel reads): argv and filename are read at
 * execve entry and sent as an auxiliary record; parent and start time come
 * from rs_procs, filled at fork; cwd comes from auxiliary chdir records.
 */

#ifndef RS_REDUCED
/* sched_process_fork as a raw tracepoint: the plain one gives no child task. */
RAW_TRACEPOINT_PROBE(sched_process_fork)
{
	u64 child = ctx->args[1];
	struct rs_fork_event *ev;
	u32 child_pid, child_tgid;

	if (self__is_current())
		return 0;
	KREAD_U32_PAIR(child, task_struct, pid, tgid, &child_pid, &child_tgid);
	if (child_pid != child_tgid)
		return 0; /* a new thread, not a new process */
	ev = event__start(RS_EVENT_PROCESS_FORK);
	if (!ev)
		return 0;
	process__fill(&ev->proc, bpf_get_current_task());
	ev->child_pid = child_tgid;
	ev->child_start_ns = KREAD_PTR(child, task_struct, start_boottime);
	ev->pad = 0;
	ev->vl.count = 0;
	ev->vl.size = 0;
	event__emit(ev, sizeof(*ev));
	return 0;
}

/*
 * sched_process_exec as a raw tracepoint: its arguments are the task and the
 * binprm, and the kernel skips building the tracepoint's record (a copy of
 * the filename) that a plain tracepoint program would be handed.
 */
RAW_TRACEPOINT_PROBE(sched_process_exec)
{
	/* TP_PROTO(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) */
	u64 task = ctx->args[0]; /* current */
	u64 bprm = ctx->args[2];
	struct rs_exec_event *ev;
	struct rs_fs_paths fs;
	u64 mm, arg_start, arg_end, exe_file;
	u32 end = sizeof(*ev);

	if (self__is_current())
		return 0;
	ev = event__start(RS_EVENT_PROCESS_EXEC);
	if (!ev)
		return 0;
	process__fill(&ev->proc, task);
	ev->old_tid = (u32)ctx->args[1];
	ev->pad = 0;
	ev->vl.count = 0;
	ev->vl.size = 0;

	mm = KREAD_PTR(task, task_struct, mm);
	KREAD_PTR_PAIR(mm, mm_struct, arg_start, arg_end, &arg_start, &arg_end);
	if (arg_end > arg_start)
		vl__add_user_bytes(ev, &ev->vl, &end, RS_VL_ARGV, (const void *)arg_start,
				   arg_end - arg_start, RS_ARGV_MAX);

	fs = task__fs(task);
	exe_file = KREAD_PTR(mm, mm_struct, exe_file);
	if (exe_file)
		vl__add_path(ev, &ev->vl, &end, RS_VL_EXE,
			     path__from(exe_file + RS_OFF_file__f_path), fs.root);

	vl__add_kernel_str(ev, &ev->vl, &end, RS_VL_FILENAME,
			   (const void *)KREAD_PTR(bprm, linux_binprm, filename), RS_PATH_MAX);

	vl__add_path(ev, &ev->vl, &end, RS_VL_CWD, fs.pwd, fs.root);
	vl__add_tty_name(ev, &ev->vl, &end, task__tty(task));
	event__emit(ev, end);
	return 0;
}

static __always_inline u32 exit__code(u64 task)
{
	return KREAD_U32(task, task_struct, exit_code);
}

#else /* RS_REDUCED */

/* clone flags by thread, from syscall entry to sched_process_fork. */
BPF_HASH(rs_clone_flags, u32, u64, 4096);
/* exit_group()/exit() status by process, from syscall entry to sched_process_exit. */
BPF_TABLE("lru_hash", u32, u32, rs_exit_codes, 16384);

#define RS_CLONE_THREAD 0x00010000

static __always_inline void clone__remember(u64 flags)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();

	rs_clone_flags.update(&tid, &flags);
}

TRACEPOINT_PROBE(syscalls, sys_enter_clone)
{
	clone__remember(args->clone_flags);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_clone3)
{
	u64 flags = 0;

	/* struct clone_args starts with `__aligned_u64 flags` (include/uapi/linux/sched.h). */
	if (bpf_probe_read_user(&flags, sizeof(flags), args->uargs) == 0)
		clone__remember(flags);
	return 0;
}

static __always_inline void clone__forget(void)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();

	rs_clone_flags.delete(&tid);
}

TRACEPOINT_PROBE(syscalls, sys_exit_clone)
{
	clone__forget();
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_clone3)
{
	clone__forget();
	return 0;
}

TRACEPOINT_PROBE(sched, sched_process_fork)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	u32 child = args->child_pid;
	u64 *flags = rs_clone_flags.lookup(&tid);
	struct rs_proc_state st = {}, *parent;
	struct rs_fork_event *ev;

	/* No entry: fork(), vfork() or a kernel-internal clone: a process. */
	if (flags && (*flags & RS_CLONE_THREAD))
		return 0;
	st.start_ns = bpf_ktime_get_boot_ns();
	st.ppid = tgid;
	parent = rs_procs.lookup(&tgid);
	if (parent)
		st.parent_start_ns = parent->start_ns;
	rs_procs.update(&child, &st);

	if (self__is_current())
		return 0;
	ev = event__start(RS_EVENT_PROCESS_FORK);
	if (!ev)
		return 0;
	process__fill(&ev->proc, 0);
	ev->child_pid = child;
	ev->child_start_ns = st.start_ns;
	ev->pad = 0;
	ev->vl.count = 0;
	ev->vl.size = 0;
	event__emit(ev, sizeof(*ev));
	return 0;
}

/* Hard bound on arguments walked at execve entry, for the verifier. */
#define RS_ARGV_MAX_ARGS 512

/*
 * argv from the execve arguments: each string with its NUL, the same shape
 * as the kernel's argument area.  Offsets are bounded by RS_ARGV_MAX, and
 * the event buffer's slack covers offset + size for the verifier.
 */
static __always_inline void vl__add_user_argv(void *ev, struct rs_varlen *vl, u32 *end,
					      const char *const *argv)
{
	struct rs_vl_field *f = vl__field(ev, *end, RS_ARGV_MAX);
	u64 len = 0, at, room; /* 64-bit: no zero-extension copies that lose the bounds */
	u16 flags = 0;
	int i;

	if (!f || !argv)
		return;
	for (i = 0; i < RS_ARGV_MAX_ARGS; i++) {
		const char *arg = NULL;
		long n;

		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) != 0 || !arg)
			break;
		/* Check and use the same register, so the verifier sees the bound. */
		at = len;
		barrier_var(at);
		if (at >= RS_ARGV_MAX) {
			flags |= RS_VL_F_TRUNCATED;
			break;
		}
		room = RS_ARGV_MAX - at;
		barrier_var(room);
		if (room > RS_ARGV_MAX)
			break; /* never: restates the bound on the register the call uses */
		n = bpf_probe_read_user_str((u8 *)(f + 1) + at, room, arg);
		if (n <= 0)
			break;
		len += n;
		if (len >= RS_ARGV_MAX) {
			/* The string filled what was left: it was cut, unless it just fit. */
			flags |= RS_VL_F_TRUNCATED;
			len = RS_ARGV_MAX;
			break;
		}
	}
	if (i == RS_ARGV_MAX_ARGS)
		flags |= RS_VL_F_TRUNCATED;
	if (len)
		vl__commit(vl, end, f, RS_VL_ARGV, flags, len);
}

static __always_inline void exec__args(const char *filename, const char *const *argv)
{
	struct rs_aux_exec_args *ev;
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u32 end = sizeof(*ev);

	if (self__is_current())
		return;
	ev = event__start(RS_EVENT_AUX_EXEC_ARGS);
	if (!ev)
		return;
	ev->pid = pid_tgid >> 32;
	ev->tid = (u32)pid_tgid;
	ev->vl.count = 0;
	ev->vl.size = 0;
	vl__add_user_str(ev, &ev->vl, &end, RS_VL_FILENAME, filename, RS_PATH_MAX);
	vl__add_user_argv(ev, &ev->vl, &end, argv);
	event__emit(ev, end);
}

TRACEPOINT_PROBE(syscalls, sys_enter_execve)
{
	exec__args(args->filename, args->argv);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_execveat)
{
	exec__args(args->filename, args->argv);
	return 0;
}

TRACEPOINT_PROBE(sched, sched_process_exec)
{
	struct rs_exec_event *ev;

	if (self__is_current())
		return 0;
	ev = event__start(RS_EVENT_PROCESS_EXEC);
	if (!ev)
		return 0;
	process__fill(&ev->proc, 0);
	ev->old_tid = args->old_pid;
	ev->pad = 0;
	ev->vl.count = 0;
	ev->vl.size = 0;
	event__emit(ev, sizeof(*ev));
	return 0;
}

static __always_inline void exit__remember(u64 error_code, bool group)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u32 tgid = pid_tgid >> 32;
	u32 status = (error_code & 0xff) << 8;

	/* exit() only ends the process when the leader is its only thread; the
	 * group_dead check at sched_process_exit decides whether it did. */
	if (group || (u32)pid_tgid == tgid)
		rs_exit_codes.update(&tgid, &status);
}

TRACEPOINT_PROBE(syscalls, sys_enter_exit_group)
{
	exit__remember(args->error_code, true);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_exit)
{
	exit__remember(args->error_code, false);
	return 0;
}

static __always_inline u32 exit__code(u64 task)
{
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	u32 *status = rs_exit_codes.lookup(&tgid);
	u32 code = status ? *status : RS_EXIT_CODE_UNKNOWN;

	rs_exit_codes.delete(&tgid);
	return code;
}
#endif /* RS_REDUCED */

/*
 * chdir() and fchdir(): remembered at entry, reported on success as an
 * auxiliary record, so that user space knows every process's cwd for the
 * events that do not carry it.
 */
struct rs_chdir_call {
	const char *path;
	s32 fd;
	u32 pad;
};
BPF_HASH(rs_chdir_calls, u32, struct rs_chdir_call, 1024);

static __always_inline void chdir__enter(const char *path, s32 fd)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct rs_chdir_call call = {.path = path, .fd = fd};

	rs_chdir_calls.update(&tid, &call);
}

static __always_inline void chdir__exit(long ret)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u32 tid = (u32)pid_tgid;
	struct rs_chdir_call *call = rs_chdir_calls.lookup(&tid);
	struct rs_aux_cwd *ev;
	u32 end = sizeof(*ev);

	if (!call)
		return;
	if (ret != 0 || self__is_current())
		goto out;
	ev = event__start(RS_EVENT_AUX_CWD);
	if (!ev)
		goto out;
	ev->pid = pid_tgid >> 32;
	ev->tid = tid;
	ev->fd = call->fd;
	ev->pad = 0;
	ev->vl.count = 0;
	ev->vl.size = 0;
#ifndef RS_REDUCED
	{
		struct rs_fs_paths fs = task__fs(bpf_get_current_task());

		/* The new working directory itself, absolute, whatever was passed. */
		vl__add_path(ev, &ev->vl, &end, RS_VL_CWD, fs.pwd, fs.root);
	}
#else
	/* Read at exit: the caller's memory is unchanged until the syscall returns.
	 * The path is as given (maybe relative); user space resolves it. */
	if (call->path)
		vl__add_user_str(ev, &ev->vl, &end, RS_VL_CWD, call->path, RS_PATH_MAX);
#endif
	event__emit(ev, end);
out:
	rs_chdir_calls.delete(&tid);
}

TRACEPOINT_PROBE(syscalls, sys_enter_chdir)
{
	chdir__enter(args->filename, RS_AT_FDCWD);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_chdir)
{
	chdir__exit(args->ret);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_fchdir)
{
	chdir__enter(NULL, args->fd);
	return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_fchdir)
{
	chdir__exit(args->ret);
	return 0;
}

/*
 * Whether the last thread of a process is exiting, where the tracepoint does
 * not say (group_dead came with Linux 6.16).
 */
static __always_inline bool exit__group_dead_fallback(u64 task)
{
#ifndef RS_REDUCED
	/* do_exit() decrements signal->live before the tracepoint fires. */
	return KREAD_U32(KREAD_PTR(task, task_struct, signal), signal_struct, live) == 0;
#else
	u64 pid_tgid = bpf_get_current_pid_tgid();

	return (u32)pid_tgid == pid_tgid >> 32; /* best effort: the leader exits */
#endif
}

static __always_inline void exit__emit(u64 task)
{
	struct rs_exit_event *ev;

	if (self__is_current())
		return;
	ev = event__start(RS_EVENT_PROCESS_EXIT);
	if (!ev)
		return;
	process__fill(&ev->proc, task);
	ev->exit_code = exit__code(task);
	ev->pad = 0;
	ev->vl.count = 0;
	ev->vl.size = 0;
	event__emit(ev, sizeof(*ev));
}

#ifndef RS_REDUCED
/* A raw tracepoint, as sched_process_exec: no tracepoint record to build. */
RAW_TRACEPOINT_PROBE(sched_process_exit)
{
	/* TP_PROTO(struct task_struct *p, bool group_dead); p is current */
	u64 task = ctx->args[0];

#if RS_HAVE_EXIT_GROUP_DEAD
	if (!(u8)ctx->args[1])
		return 0;
#else
	if (!exit__group_dead_fallback(task))
		return 0;
#endif
	exit__emit(task);
	return 0;
}
#else
TRACEPOINT_PROBE(sched, sched_process_exit)
{
	u32 tgid = bpf_get_current_pid_tgid() >> 32;

#if RS_HAVE_EXIT_GROUP_DEAD
	if (!args->group_dead)
		return 0;
#else
	if (!exit__group_dead_fallback(0))
		return 0;
#endif
	exit__emit(0);
	rs_procs.delete(&tgid);
	return 0;
}
#endif
