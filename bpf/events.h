/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one wire format between Ringside's BPF programs and user space.
 *
 * Every record in the ring buffer is:
 *
 *     struct rs_header            common to every record (32 bytes)
 *     fixed sub-structs           per event type (struct rs_process, ...)
 *     struct rs_varlen            count and byte size of the tail (8 bytes)
 *     rs_vl_field, data ...       zero or more type/length/value fields
 *
 * Layout rule: natural alignment, with every hole filled by an explicit
 * `pad` member, so the same bytes come out of any compiler; fixed structs are
 * multiples of 8 bytes.  The variable-length tail is packed: a field header
 * follows the previous field's last data byte with no alignment (user space
 * reads it with unaligned loads; BPF writes it with bpf_probe_read_*).
 *
 * All integers are little-endian (the sensor runs on x86-64).
 *
 * Must be kept in sync with schema/ringside_schema/wire.py and the decoders
 * next to the models.  tests/unit/test_wire_layout.py compiles this header and
 * compares every size and offset with the decoders', so the two sides cannot
 * drift.  Event and field type numbers are never reused: retire them instead.
 */
#ifndef RINGSIDE_EVENTS_H
#define RINGSIDE_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define RS_WIRE_VERSION 1

/* ---- caps: each bounds how much of the ring one event may take ---- */

/* Elastic's cap: one process with a huge command line must not flood the ring. */
#define RS_ARGV_MAX 20480
/* PATH_MAX: the longest path the kernel accepts in a syscall. */
#define RS_PATH_MAX 4096
/* Elastic's cap for terminal output per event; longer writes are split or cut. */
#define RS_TTY_OUT_MAX 8192
/* Deeper paths are cut at the top and flagged; bounded for the verifier. */
#ifndef RS_PATH_MAX_DEPTH
#define RS_PATH_MAX_DEPTH 128
#endif
/* sizeof(tty_struct.name) */
#define RS_TTY_NAME_MAX 64

/* ---- event types: the `type` of struct rs_header ---- */
enum rs_event_type {
	RS_EVENT_NONE = 0,
	RS_EVENT_PROCESS_FORK = 1,
	RS_EVENT_PROCESS_EXEC = 2,
	RS_EVENT_PROCESS_EXIT = 3,

	RS_EVENT_FILE_CREATE = 16,
	RS_EVENT_FILE_MODIFY = 17,
	RS_EVENT_FILE_DELETE = 18,
	RS_EVENT_FILE_RENAME = 19,
	RS_EVENT_FILE_CHMOD = 20,
	RS_EVENT_FILE_CHOWN = 21,
	RS_EVENT_FILE_LINK = 22,

	RS_EVENT_TTY_WRITE = 32,

	/*
	 * Auxiliary records: state for user space, not events of their own.
	 * They carry seq 0 and never leave the sensor.  Used by the reduced tier,
	 * which cannot read kernel memory and so learns argv and cwd from
	 * syscall arguments instead.  RS_EVENT_AUX_CWD is sent by both tiers.
	 */
	RS_EVENT_AUX_EXEC_ARGS = 48,
	RS_EVENT_AUX_CWD = 49,
	RS_EVENT_AUX_CGROUP = 50, /* a cgroup was made or removed: id to path, for containers */

	RS_EVENT_TYPE_MAX = 64, /* array bound for per-type counters */
};

/* Why a record was not sent: second index of the drop counters. */
enum rs_drop_reason {
	RS_DROP_RINGBUF_FULL = 0, /* bpf_ringbuf_output() failed: user space is behind */
	RS_DROP_NO_SCRATCH = 1,   /* the per-CPU event buffer could not be looked up */
	RS_DROP_REASON_MAX = 2,
};

/* struct rs_header.flags */
#define RS_HDR_F_REDUCED (1U << 0) /* built by the reduced tier: no kernel reads */

struct rs_header {
	__u64 ts_ns;   /* bpf_ktime_get_boot_ns() when the event happened */
	__u64 seq;     /* per-CPU sequence of events, from 1; a gap is a lost event */
	__u32 size;    /* bytes in the whole record, this header and the tail included */
	__u16 type;    /* enum rs_event_type */
	__u16 cpu;     /* CPU the event was built on: seq is counted per CPU */
	__u16 version; /* RS_WIRE_VERSION */
	__u16 flags;   /* RS_HDR_F_* */
	__u32 pad;
}; /* 32 bytes */

/* struct rs_process.flags: which fields the kernel side could fill */
#define RS_PROC_F_CREDS (1U << 0)     /* euid, egid, loginuid, sessionid */
#define RS_PROC_F_PARENT (1U << 1)    /* ppid */
#define RS_PROC_F_START (1U << 2)     /* start_ns */
#define RS_PROC_F_PSTART (1U << 3)    /* parent_start_ns */

/* The process an event is about, as seen from the task that caused it. */
struct rs_process {
	__u64 start_ns;        /* task->start_boottime (ns since boot) */
	__u64 parent_start_ns; /* real_parent->start_boottime */
	__u64 cgroup_id;       /* bpf_get_current_cgroup_id(): cgroup v2 inode */
	__u32 pid;             /* thread group id, initial pid namespace */
	__u32 tid;             /* thread id */
	__u32 ppid;            /* real_parent->tgid */
	__u32 uid;             /* real uid and gid */
	__u32 gid;
	__u32 euid;            /* effective uid and gid */
	__u32 egid;
	__u32 loginuid;        /* audit login uid; 0xffffffff = unset */
	__u32 sessionid;       /* audit session id; 0xffffffff = unset */
	__u32 flags;           /* RS_PROC_F_* */
	char comm[16];         /* TASK_COMM_LEN */
}; /* 80 bytes */

/* Head of the variable-length tail: the last member of every event struct. */
struct rs_varlen {
	__u32 count; /* fields that follow */
	__u32 size;  /* bytes that follow, field headers included */
}; /* 8 bytes */

/* Variable-length field types */
enum rs_vl_type {
	RS_VL_NONE = 0,
	RS_VL_ARGV = 1,      /* NUL-separated arguments, as in mm->arg_start..arg_end */
	RS_VL_EXE = 2,       /* absolute path of the executable file */
	RS_VL_FILENAME = 3,  /* the path given to execve, as given */
	RS_VL_CWD = 4,       /* absolute working directory */
	RS_VL_TTY_NAME = 5,  /* controlling terminal, e.g. "pts3" */
	RS_VL_PATH = 6,      /* the file an event is about */
	RS_VL_PATH_NEW = 7,  /* rename: the new path; link: the new link's path */
	RS_VL_LINK_TARGET = 8, /* symlink: the target text, as given */
	RS_VL_TTY_OUT = 9,   /* bytes written to a terminal */
	RS_VL_DIR = 10,      /* absolute directory a relative PATH is resolved against */
	RS_VL_DIR_NEW = 11,  /* the same for PATH_NEW */
};

/* A dirfd meaning "the working directory" (AT_FDCWD) in dfd fields. */
#define RS_AT_FDCWD -100

/* rs_vl_field.flags */
#define RS_VL_F_TRUNCATED (1U << 0) /* the value was longer than its cap */
#define RS_VL_F_RELATIVE (1U << 1)  /* a path that could not be made absolute */

struct rs_vl_field {
	__u16 type;  /* enum rs_vl_type */
	__u16 flags; /* RS_VL_F_* */
	__u32 size;  /* bytes of data that follow */
	/* char data[size]; strings carry no terminating NUL */
}; /* 8 bytes */

/* RS_EVENT_PROCESS_FORK: the parent forked a new process (not a thread). */
struct rs_fork_event {
	struct rs_header hdr;
	struct rs_process proc;  /* the parent */
	__u64 child_start_ns;    /* child->start_boottime */
	__u32 child_pid;
	__u32 pad;
	struct rs_varlen vl;     /* no fields yet */
};

/* RS_EVENT_PROCESS_EXEC: fields ARGV, EXE, FILENAME, CWD, TTY_NAME */
struct rs_exec_event {
	struct rs_header hdr;
	struct rs_process proc;  /* after the exec: comm is the new one */
	__u32 old_tid;           /* the thread that called execve */
	__u32 pad;
	struct rs_varlen vl;
};

#define RS_EXIT_CODE_UNKNOWN 0xffffffffU

/* RS_EVENT_PROCESS_EXIT: the last thread of a process exited. */
struct rs_exit_event {
	struct rs_header hdr;
	struct rs_process proc;
	__u32 exit_code;         /* wait(2) status: code << 8 | signal; RS_EXIT_CODE_UNKNOWN */
	__u32 pad;
	struct rs_varlen vl;     /* no fields yet */
};

/* Which syscall produced a file event: enum rs_file_op */
enum rs_file_op {
	RS_FILE_OP_NONE = 0,
	RS_FILE_OP_OPEN = 1,
	RS_FILE_OP_OPENAT = 2,
	RS_FILE_OP_OPENAT2 = 3,
	RS_FILE_OP_CREAT = 4,
	RS_FILE_OP_MKDIR = 5,
	RS_FILE_OP_MKDIRAT = 6,
	RS_FILE_OP_MKNOD = 7,
	RS_FILE_OP_MKNODAT = 8,
	RS_FILE_OP_TRUNCATE = 9,
	RS_FILE_OP_FTRUNCATE = 10,
	RS_FILE_OP_UNLINK = 11,
	RS_FILE_OP_UNLINKAT = 12,
	RS_FILE_OP_RMDIR = 13,
	RS_FILE_OP_RENAME = 14,
	RS_FILE_OP_RENAMEAT = 15,
	RS_FILE_OP_RENAMEAT2 = 16,
	RS_FILE_OP_CHMOD = 17,
	RS_FILE_OP_FCHMOD = 18,
	RS_FILE_OP_FCHMODAT = 19,
	RS_FILE_OP_CHOWN = 20,
	RS_FILE_OP_FCHOWN = 21,
	RS_FILE_OP_LCHOWN = 22,
	RS_FILE_OP_FCHOWNAT = 23,
	RS_FILE_OP_LINK = 24,
	RS_FILE_OP_LINKAT = 25,
	RS_FILE_OP_SYMLINK = 26,
	RS_FILE_OP_SYMLINKAT = 27,
	RS_FILE_OP_FCHMODAT2 = 28,
};

/*
 * RS_EVENT_FILE_*: fields, as the op needs them:
 *   PATH         the file (rename: the old name; link: the existing file),
 *                as the process gave it, or absolute when it came from an fd
 *   DIR          where a relative PATH starts: the cwd or the *at dirfd
 *   PATH_NEW     rename: the new name; link and symlink: the new link
 *   DIR_NEW      where a relative PATH_NEW starts
 *   LINK_TARGET  symlink: the target text, as given (never resolved)
 * The kernel side sends DIR only for relative paths, and only in the full
 * tier; user space joins them (or, in the reduced tier, uses what it knows
 * of the process's cwd and descriptors).
 */
struct rs_file_event {
	struct rs_header hdr;
	struct rs_process proc;
	__u32 op;     /* enum rs_file_op */
	__u32 mode;   /* chmod: new mode; create: requested mode (mknod: with the file type);
		       * the open family: the requested permission bits, and the opened
		       * file's type bits (S_IFMT) when known (full tier, success), else none */
	__u32 uid;    /* chown: new owner; 0xffffffff = unchanged */
	__u32 gid;
	__u32 oflags; /* open(2) flags; unlinkat/linkat/fchownat: their flags argument */
	__s32 ret;    /* syscall return value (>= 0: success) */
	__s32 dfd;    /* dirfd of PATH (-100 = AT_FDCWD); the fd itself for fchmod & co */
	__s32 dfd2;   /* dirfd of PATH_NEW */
	struct rs_varlen vl;
};

/* RS_EVENT_TTY_WRITE: fields TTY_NAME, TTY_OUT */
struct rs_tty_write_event {
	struct rs_header hdr;
	struct rs_process proc;
	__u32 len;        /* bytes the write passed to the terminal */
	__u32 skipped;    /* of those, bytes not captured (over cap or budget) */
	__u16 rows;       /* tty->winsize; 0 when unknown */
	__u16 cols;
	__u32 pad;
	struct rs_varlen vl;
};

/* RS_EVENT_AUX_EXEC_ARGS: fields FILENAME, ARGV, read at execve entry */
struct rs_aux_exec_args {
	struct rs_header hdr;
	__u32 pid;
	__u32 tid;
	struct rs_varlen vl;
};

/* RS_EVENT_AUX_CWD: a chdir(2)/fchdir(2) succeeded; field CWD unless fchdir */
struct rs_aux_cwd {
	struct rs_header hdr;
	__u32 pid;
	__u32 tid;
	__s32 fd;  /* fchdir: the descriptor; chdir: RS_AT_FDCWD */
	__u32 pad;
	struct rs_varlen vl;
};

/* RS_EVENT_AUX_CGROUP: field PATH (the cgroup's path in its hierarchy) */
#define RS_CGROUP_OP_MKDIR 1
#define RS_CGROUP_OP_RMDIR 2
struct rs_aux_cgroup {
	struct rs_header hdr;
	__u64 id;     /* cgroup id: for the v2 hierarchy, what bpf_get_current_cgroup_id() returns */
	__s32 root;   /* hierarchy id; the v2 (default) hierarchy is 0 */
	__s32 level;  /* depth below the root */
	__u32 op;     /* RS_CGROUP_OP_* */
	__u32 pad;
	struct rs_varlen vl;
};

/* Sensor configuration, one entry in map rs_config, written by user space. */
#define RS_CFG_F_FILE_FAILED (1U << 0)    /* also report file operations that failed */
/* Which exclusion maps hold entries: an empty one is not looked up at all. */
#define RS_CFG_F_EXCLUDE_COMM (1U << 1)
#define RS_CFG_F_EXCLUDE_CGROUP (1U << 2)
#define RS_CFG_F_EXCLUDE_PREFIX (1U << 3)
struct rs_config {
	__u32 self_tgid;    /* events of this process are not reported (0 = report) */
	__u32 flags;        /* RS_CFG_F_* */
	__u64 tty_budget;   /* terminal bytes captured per process per second; 0 = no limit */
};

/*
 * How the kernel tells the reader of new records: the one entry of map
 * rs_wakeup, written by user space.  The default (0) is the kernel's own
 * rule, which wakes a reader waiting on the ring's epoll.
 */
#define RS_WAKEUP_WHEN_EMPTY 0 /* wake when a record lands in a fully read ring */
#define RS_WAKEUP_NEVER 1      /* the reader reads on a timer: no wakeups at all */

/* Terminal output accounting: index of map rs_tty_bytes */
enum rs_tty_count {
	RS_TTY_CAPTURED = 0,    /* bytes sent in tty.write events */
	RS_TTY_OVER_CAP = 1,    /* bytes of writes longer than RS_TTY_OUT_MAX, not sent */
	RS_TTY_OVER_BUDGET = 2, /* bytes of a process over its budget, no event sent */
	RS_TTY_COUNT_MAX = 3,
};

#endif /* RINGSIDE_EVENTS_H */
