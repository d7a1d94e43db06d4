/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Load generators for Ringside's benchmarks: each workload at a controlled
 * rate or flat out, for a fixed time, counting exactly what it did.
 *
 *   loadgen MODE [--duration S] [--rate OPS] [--dir DIR] [--argv-bytes N]
 *                [--write-size N] [--renames N]
 *
 * MODE, and what one "op" is:
 *   exec       fork + execve("/bin/true") + wait
 *   exec-long  fork + execve("/bin/ls", "aaaa...") with one argument of
 *              --argv-bytes bytes (default 10000, as in Elastic's test), its
 *              output to /dev/null, + wait
 *   file       open(O_CREAT|O_EXCL|O_WRONLY) + write(64 bytes) + close, then
 *              --renames renames (default 1, back and forth between two
 *              names), then unlink, in DIR: 2 + renames file events (create,
 *              rename..., delete)
 *   open-ro    open(O_RDONLY) + close of one file in DIR: no event, the
 *              kernel filters it
 *   tty        one write of --write-size bytes (default 64) to a pty slave;
 *              a child process drains the master side
 *   mixed      one cycle of: 1 exec, 10 file ops, 100 read-only opens and
 *              10 tty writes
 *   exec-long-shell
 *              Elastic's loop as written, one iteration an op:
 *              ls $(python3 -c 'print("a" * 10000)'), 10000 being
 *              --argv-bytes.  This process becomes the bash that runs it
 *              (execve, same pid), so python3 and ls are its children, as
 *              the harness expects of a generator; bash prints the JSON.  An
 *              op: 2 forks, 2 execs, 2 exits (bash runs the command
 *              substitution's python3 in the subshell it forks).  Flat out
 *              only (no --rate); the last iteration ends up to one op
 *              after --duration.
 *
 * --rate OPS paces ops evenly over time (checked every op, slept in steps of
 * at most 1 ms); without it the loop runs flat out.  It stops after
 * --duration seconds (default 5).
 *
 * At the end one JSON object goes to stdout: the ops done, the time they
 * took, and exact counts of every successful call that the sensor reports
 * (children forked, exec'd and reaped, files created/renamed/deleted,
 * terminal writes and bytes).  Failed calls are counted apart and make the
 * harness refuse the run.  Nothing else is written to stdout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct {
	uint64_t ops;
	uint64_t forks;       /* children created */
	uint64_t execs;       /* children whose execve succeeded (exit status 0 or ls's 2) */
	uint64_t reaped;      /* children waited for (each one exited) */
	uint64_t creates;
	uint64_t renames;
	uint64_t deletes;
	uint64_t ro_opens;
	uint64_t tty_writes;  /* write() calls on the slave */
	uint64_t tty_bytes;   /* bytes those calls asked to write */
	uint64_t tty_written; /* bytes they wrote (a blocking pty writes all) */
	uint64_t ptmx_opens;  /* posix_openpt(): an open of /dev/ptmx for writing, a file.modify */
	uint64_t failures;
} count;

static const char *mode;
static const char *dir = "/tmp";
static double duration = 5.0;
static double rate;
static size_t argv_bytes = 10000;
static size_t write_size = 64;
static unsigned renames = 1;
static char *long_arg;
static char path_a[4096], path_b[4096], path_ro[4096];
static int pty_slave = -1;
static pid_t drainer = -1;
static char wbuf[65536];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void fail(const char *what)
{
	if (count.failures++ < 5)
		fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
}

static void die(const char *what)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* fork + execve + wait.  Exit status 127 means the exec failed (counted apart). */
static void op_exec(int long_argv)
{
	char *const argv_true[] = {"true", NULL};
	char *const argv_ls[] = {"ls", long_arg, NULL};
	char *const envp[] = {"PATH=/usr/bin:/bin", "LC_ALL=C", NULL};
	int status;
	pid_t pid = fork();

	if (pid < 0) {
		fail("fork");
		return;
	}
	if (pid == 0) {
		if (long_argv) {
			int null = open("/dev/null", O_WRONLY);

			if (null >= 0) {
				dup2(null, 1);
				dup2(null, 2);
			}
			execve("/bin/ls", argv_ls, envp);
		} else {
			execve("/bin/true", argv_true, envp);
		}
		_exit(127);
	}
	count.forks++;
	if (waitpid(pid, &status, 0) != pid) {
		fail("waitpid");
		return;
	}
	count.reaped++;
	if (WIFEXITED(status) && WEXITSTATUS(status) != 127)
		count.execs++;
	else
		count.failures++;
}

static void op_file(void)
{
	unsigned i;
	int fd = open(path_a, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);

	if (fd < 0) {
		fail("open O_CREAT");
		return;
	}
	count.creates++;
	if (write(fd, wbuf, 64) != 64)
		fail("write");
	close(fd);
	for (i = 0; i < renames; i++) {
		const char *from = i & 1 ? path_b : path_a, *to = i & 1 ? path_a : path_b;

		if (rename(from, to) != 0) {
			fail("rename");
			unlink(from);
			return;
		}
		count.renames++;
	}
	if (unlink(renames & 1 ? path_b : path_a) != 0) {
		fail("unlink");
		return;
	}
	count.deletes++;
}

static void op_open_ro(void)
{
	int fd = open(path_ro, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fail("open O_RDONLY");
		return;
	}
	count.ro_opens++;
	close(fd);
}

static void op_tty(void)
{
	ssize_t n = write(pty_slave, wbuf, write_size);

	count.tty_writes++;
	count.tty_bytes += write_size;
	if (n < 0) {
		fail("write to pty");
		return;
	}
	count.tty_written += (uint64_t)n;
	if ((size_t)n != write_size)
		count.failures++;
}

static void op_mixed(void)
{
	int i;

	op_exec(0);
	for (i = 0; i < 10; i++)
		op_file();
	for (i = 0; i < 100; i++)
		op_open_ro();
	for (i = 0; i < 10; i++)
		op_tty();
}

/*
 * A pty whose master is drained by a child, so that writes to the slave
 * never block for long.  The child only reads: reads are not events, and
 * the master side is never terminal output.
 */
static void pty_open(void)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	char *name;

	if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0)
		die("posix_openpt");
	count.ptmx_opens++;
	name = ptsname(master);
	if (!name)
		die("ptsname");
	pty_slave = open(name, O_WRONLY | O_NOCTTY | O_CLOEXEC);
	if (pty_slave < 0)
		die("open pty slave");
	drainer = fork();
	if (drainer < 0)
		die("fork drainer");
	if (drainer == 0) {
		static char rbuf[1 << 16];

		close(pty_slave);
		for (;;) {
			ssize_t n = read(master, rbuf, sizeof(rbuf));

			if (n > 0)
				continue;
			if (n < 0 && errno == EINTR)
				continue;
			_exit(0); /* EIO: the slave was closed */
		}
	}
	count.forks++;
	close(master);
}

static void pty_close(void)
{
	int status;

	if (pty_slave < 0)
		return;
	close(pty_slave);
	if (waitpid(drainer, &status, 0) == drainer)
		count.reaped++;
	else
		fail("waitpid drainer");
}

static void usage(void)
{
	fprintf(stderr, "usage: loadgen exec|exec-long|file|open-ro|tty|mixed|exec-long-shell "
			"[--duration S] [--rate OPS] [--dir DIR] [--argv-bytes N] [--write-size N] "
			"[--renames N]\n");
	exit(2);
}

/*
 * exec-long-shell: the loop, in bash, with its counts printed as main()
 * prints them.  Positional parameters: $1 duration in us, $2 argv bytes.
 * ls exits 2 when the file it is given does not exist, as no "aaa..." file
 * does; any other status means python3 printed nothing (ls listed the
 * directory: 0) or an exec failed (126, 127): a failure.  EPOCHREALTIME (bash 5) gives
 * microseconds; LC_ALL=C keeps its decimal point a '.'.
 */
static const char shell_loop[] =
	"exec 3>&1 >/dev/null 2>&1\n"
	"start=${EPOCHREALTIME/./}; end=$((start + $1)); n=0; bad=0\n"
	"while (( ${EPOCHREALTIME/./} < end )); do\n"
	"  ls $(python3 -c \"print(\\\"a\\\" * $2)\")\n"
	"  (( $? == 2 )) || bad=$((bad + 1))\n"
	"  n=$((n + 1))\n"
	"done\n"
	"elapsed=$(( (${EPOCHREALTIME/./} - start) * 1000 ))\n"
	"printf '{\"mode\": \"exec-long-shell\", \"pid\": %d, \"rate\": 0.0, "
	"\"duration\": %s, \"elapsed_ns\": %d, \"ops\": %d, \"forks\": %d, \"execs\": %d, "
	"\"reaped\": %d, \"creates\": 0, \"renames\": 0, \"deletes\": 0, \"ro_opens\": 0, "
	"\"tty_writes\": 0, \"tty_bytes\": 0, \"tty_written\": 0, \"write_size\": 0, "
	"\"argv_bytes\": %d, \"renames_per_op\": 0, \"ptmx_opens\": 0, \"failures\": %d}\\n' "
	"$$ \"$3\" \"$elapsed\" $n $((2 * n)) $((2 * n + 1)) $((2 * n)) $2 $bad >&3\n"
	"(( bad == 0 ))\n";

/*
 * Become bash running shell_loop.  Its own exec is one of the counted
 * execs; the exits counted as reaped are python3's and ls's (bash waits for
 * them), and the generator's own exit is bash's.
 */
static void exec_shell(void)
{
	char us[32], bytes[32], secs[32];
	char *const envp[] = {"PATH=/usr/bin:/bin", "LC_ALL=C", "PYTHONDONTWRITEBYTECODE=1", NULL};

	snprintf(us, sizeof(us), "%llu", (unsigned long long)(duration * 1e6));
	snprintf(bytes, sizeof(bytes), "%zu", argv_bytes);
	snprintf(secs, sizeof(secs), "%.3f", duration);
	{
		char *const argv[] = {"bash", "-c", (char *)shell_loop, "loadgen", us, bytes, secs,
				      NULL};

		fflush(stdout);
		execve("/bin/bash", argv, envp);
	}
	die("execve /bin/bash");
}

int main(int argc, char **argv)
{
	void (*op)(void) = NULL;
	uint64_t start, deadline, t, elapsed, interval = 0, next;
	int i;

	if (argc < 2)
		usage();
	mode = argv[1];
	for (i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (i + 1 >= argc)
			usage();
		if (!strcmp(a, "--duration"))
			duration = atof(argv[++i]);
		else if (!strcmp(a, "--rate"))
			rate = atof(argv[++i]);
		else if (!strcmp(a, "--dir"))
			dir = argv[++i];
		else if (!strcmp(a, "--argv-bytes"))
			argv_bytes = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(a, "--renames"))
			renames = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(a, "--write-size"))
			write_size = strtoul(argv[++i], NULL, 10);
		else
			usage();
	}
	if (duration <= 0 || rate < 0 || write_size == 0 || write_size > sizeof(wbuf))
		usage();
	memset(wbuf, 'x', sizeof(wbuf));
	snprintf(path_a, sizeof(path_a), "%s/lg-%d-a", dir, getpid());
	snprintf(path_b, sizeof(path_b), "%s/lg-%d-b", dir, getpid());
	snprintf(path_ro, sizeof(path_ro), "%s/lg-ro", dir);

	if (!strcmp(mode, "exec-long-shell")) {
		if (rate > 0)
			usage(); /* bash runs the loop flat out */
		exec_shell();
	}
	if (!strcmp(mode, "exec")) {
		op = NULL;
	} else if (!strcmp(mode, "exec-long")) {
		long_arg = malloc(argv_bytes + 1);
		if (!long_arg)
			die("malloc");
		memset(long_arg, 'a', argv_bytes);
		long_arg[argv_bytes] = 0;
	} else if (!strcmp(mode, "file")) {
		op = op_file;
	} else if (!strcmp(mode, "open-ro")) {
		op = op_open_ro;
	} else if (!strcmp(mode, "tty")) {
		op = op_tty;
	} else if (!strcmp(mode, "mixed")) {
		op = op_mixed;
	} else {
		usage();
	}
	if (!strcmp(mode, "open-ro") || !strcmp(mode, "mixed")) {
		/* The harness creates it beforehand: creating it here would be an event. */
		int fd = open(path_ro, O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			die("the read-only file (the harness creates DIR/lg-ro)");
		close(fd);
	}
	if (!strcmp(mode, "tty") || !strcmp(mode, "mixed"))
		pty_open();

	start = now_ns();
	deadline = start + (uint64_t)(duration * 1e9);
	if (rate > 0)
		interval = (uint64_t)(1e9 / rate);
	next = start;
	for (;;) {
		t = now_ns();
		if (t >= deadline)
			break;
		if (interval) {
			if (t < next) {
				uint64_t wait = next - t;
				struct timespec ts = {0, (long)(wait < 1000000 ? wait : 1000000)};

				nanosleep(&ts, NULL);
				continue;
			}
			next += interval;
		}
		if (op)
			op();
		else
			op_exec(long_arg != NULL);
		count.ops++;
	}
	elapsed = now_ns() - start;
	pty_close();

	printf("{\"mode\": \"%s\", \"pid\": %d, \"rate\": %.1f, \"duration\": %.3f, "
	       "\"elapsed_ns\": %llu, \"ops\": %llu, \"forks\": %llu, \"execs\": %llu, "
	       "\"reaped\": %llu, \"creates\": %llu, \"renames\": %llu, \"deletes\": %llu, "
	       "\"ro_opens\": %llu, \"tty_writes\": %llu, \"tty_bytes\": %llu, "
	       "\"tty_written\": %llu, \"write_size\": %zu, \"argv_bytes\": %zu, "
	       "\"renames_per_op\": %u, \"ptmx_opens\": %llu, "
	       "\"failures\": %llu}\n",
	       mode, getpid(), rate, duration, (unsigned long long)elapsed,
	       (unsigned long long)count.ops, (unsigned long long)count.forks,
	       (unsigned long long)count.execs, (unsigned long long)count.reaped,
	       (unsigned long long)count.creates, (unsigned long long)count.renames,
	       (unsigned long long)count.deletes, (unsigned long long)count.ro_opens,
	       (unsigned long long)count.tty_writes, (unsigned long long)count.tty_bytes,
	       (unsigned long long)count.tty_written, write_size,
	       long_arg ? argv_bytes : (size_t)0, renames,
	       (unsigned long long)count.ptmx_opens, (unsigned long long)count.failures);
	return count.failures ? 1 : 0;
}
