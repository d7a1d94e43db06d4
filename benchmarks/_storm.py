"""What the storm benchmarks share: the observers ("arms"), windows, accounting.

An arm is one way of watching the machine while a load generator runs:

    none       nothing attached: the baseline
    ringside   ``ringside run`` as its own process, counters read from its
               Prometheus endpoint (``--metrics-port``); its NDJSON either on
               a pipe that a thread of this process reads as it comes
               (arrival times kept, for latency), or, with ``live=False``,
               written by the sensor to a file that is read after the
               window, as auditd's and bpftrace's logs are
    auditd     the Debian auditd with an execve rule and a write/attribute
               watch on the storm's directory
    bpftrace   Debian's bpftrace with tracepoint one-liners for the same events

A *window* is one generator run under one arm.  For every window the arm
reports what it saw of the generator (its pid, or its parent's pid, is the
generator's), and for Ringside what it dropped, so that

    generated = delivered + lost,   0 <= lost <= counted drops

is checked for every event type, and exactly (lost = 0) when nothing was
dropped.  Drops are counted by type, not by process: when other processes'
events were dropped in the same window the loss is bounded, not attributed,
and the results say so.  A window whose accounting does not close raises
:class:`AccountingError`; the benchmarks then print "ACCOUNTING DOES NOT
CLOSE" and exit 2 without a rate.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from benchmarks import loadgen
from benchmarks._common import lower95, upper95

RINGSIDE = Path(sys.executable).with_name("ringside")
AUX_PREFIX = "aux."
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
F_SETPIPE_SZ = 1031


class AccountingError(RuntimeError):
    """generated != delivered + counted drops: the measurement cannot be trusted."""


class ArmError(RuntimeError):
    """An observer did not start or behaved unexpectedly."""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- /proc ------------------------------------------------------------------

def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def system_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def bpf_prog_stats(pid: int) -> tuple[int, int, int]:
    """(run_time_ns, run_cnt, programs) over the BPF programs a process holds open.

    Read from /proc/<pid>/fdinfo (the kernel prints run_time_ns and run_cnt
    there while kernel.bpf_stats_enabled is 1), so no program of another
    process is counted.
    """
    run_ns = runs = progs = 0
    base = f"/proc/{pid}/fdinfo"
    try:
        fds = os.listdir(base)
    except OSError:
        return 0, 0, 0
    for fd in fds:
        try:
            with open(f"{base}/{fd}") as f:
                text = f.read()
        except OSError:
            continue
        # A program's own descriptor; a link's (raw tracepoints) names the
        # program too, but without its statistics.
        if "prog_id:" not in text or "run_time_ns:" not in text:
            continue
        progs += 1
        for line in text.splitlines():
            if line.startswith("run_time_ns:"):
                run_ns += int(line.split()[1])
            elif line.startswith("run_cnt:"):
                runs += int(line.split()[1])
    return run_ns, runs, progs


def bpf_prog_table(pid: int) -> dict[int, tuple[int, int]]:
    """{prog id: (run_time_ns, run_cnt)} of the BPF programs a process holds open."""
    out: dict[int, tuple[int, int]] = {}
    base = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(base):
        try:
            with open(f"{base}/{fd}") as f:
                fields = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
        except OSError:
            continue
        if "prog_id" in fields and "run_time_ns" in fields:  # not a link's descriptor
            out[int(fields["prog_id"])] = (int(fields.get("run_time_ns", 0)),
                                           int(fields.get("run_cnt", 0)))
    return out


def bpf_prog_names(ids: list[int]) -> dict[int, str]:
    names = {}
    for pid in ids:
        proc = subprocess.run(["bpftool", "prog", "show", "id", str(pid), "-j"],
                              capture_output=True, text=True)
        with contextlib.suppress(json.JSONDecodeError):
            names[pid] = json.loads(proc.stdout).get("name", "?")
    return names


@contextlib.contextmanager
def bpf_stats(enabled: bool) -> Any:
    """kernel.bpf_stats_enabled set for the block, the old value restored after."""
    path = Path("/proc/sys/kernel/bpf_stats_enabled")
    old = path.read_text().strip()
    path.write_text("1\n" if enabled else "0\n")
    try:
        yield
    finally:
        path.write_text(old + "\n")


def foreign_bpf_programs() -> int:
    """BPF programs loaded by anyone on the machine (other benchmarks and tests add noise)."""
    proc = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True)
    try:
        return len(json.loads(proc.stdout or "[]"))
    except json.JSONDecodeError:
        return -1


def kthread_pid(name: str) -> int | None:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/comm") as f:
                if f.read().strip() == name:
                    return int(entry)
    return None


# ---- Prometheus text ---------------------------------------------------------

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Metrics:
    """One scrape of the sensor's /metrics."""

    def __init__(self, text: str) -> None:
        self.samples: list[tuple[str, dict[str, str], float]] = []
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            m = _SAMPLE.match(line)
            if not m:
                raise ArmError(f"malformed metrics line {line!r}")
            labels = dict(_LABEL.findall(m.group(2) or ""))
            self.samples.append((m.group(1), labels, float(m.group(3))))

    def total(self, name: str, **match: str) -> float:
        return sum(v for n, labels, v in self.samples
                   if n == name and all(labels.get(k) == want for k, want in match.items()))

    def by(self, name: str, label: str, **match: str) -> Counter[str]:
        out: Counter[str] = Counter()
        for n, labels, v in self.samples:
            if n == name and all(labels.get(k) == want for k, want in match.items()):
                out[labels.get(label, "")] += int(v)
        return out


def http_get(port: int, path: str = "/metrics", timeout: float = 5.0) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        data = bytearray()
        while chunk := sock.recv(1 << 16):
            data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise ArmError(f"metrics endpoint answered {head.splitlines()[0]!r}")
    return body.decode()


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


# ---- sampling CPU and memory over time ----------------------------------------

class Sampler(threading.Thread):
    """CPU % and resident memory of the arm's processes, and of the machine, over time."""

    def __init__(self, interval: float = 0.5) -> None:
        super().__init__(name="sampler", daemon=True)
        self.interval = interval
        self.pids: list[int] = []
        self.label = ""
        self.series: list[dict[str, Any]] = []
        self._halt = threading.Event()

    def track(self, label: str, pids: list[int]) -> None:
        self.label, self.pids = label, list(pids)

    def run(self) -> None:
        last_t = time.monotonic()
        last_cpu = sum(proc_cpu(p) for p in self.pids)
        last_pids = list(self.pids)
        last_sys = system_cpu()
        while not self._halt.wait(self.interval):
            now = time.monotonic()
            pids = list(self.pids)
            cpu = sum(proc_cpu(p) for p in pids)
            sys_now = system_cpu()
            if pids == last_pids and pids:
                agent = 100.0 * (cpu - last_cpu) / (now - last_t)
            else:
                agent = None
            busy = 100.0 * (sys_now[0] - last_sys[0]) / max(1, sys_now[1] - last_sys[1])
            self.series.append({
                "t": now, "label": self.label, "agent_cpu_pct": agent,
                "agent_rss": sum(proc_rss(p) for p in pids) if pids else None,
                "system_busy_pct": busy * (os.cpu_count() or 1),
            })
            last_t, last_cpu, last_pids, last_sys = now, cpu, pids, sys_now

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


# ---- arms -----------------------------------------------------------------------

def interrupt(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGINT (a sensor's or bpftrace's clean stop), SIGKILL after ``timeout`` s."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_running(proc: subprocess.Popen[bytes], err_path: Path, timeout: float = 90.0,
                 metrics: bool = False) -> int | None:
    """Wait until ``ringside run`` (``proc``, its stderr in ``err_path``) says it runs.

    With ``metrics``, also for its ``--metrics-port 0`` line, and return that
    port.  Raises ArmError if it exits first or does not start in ``timeout`` s.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = err_path.read_text(errors="replace")
        m = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", text)
        if " running " in text and (m or not metrics):
            return int(m.group(1)) if m else None
        if proc.poll() is not None:
            raise ArmError(f"ringside exited {proc.returncode} at start:\n{text[-2000:]}")
        time.sleep(0.1)
    raise ArmError(f"ringside did not start within {timeout:.0f} s")


class Arm:
    """An observer.  ``begin()`` and ``end(gen)`` bracket one generator run."""

    name = "none"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.bpf_time = False  # read kernel BPF run time per window (where the arm has programs)

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def pids(self) -> list[int]:
        return []

    def begin(self) -> None:
        self._cpu0 = sum(proc_cpu(p) for p in self.pids())
        self._t0 = time.monotonic()

    def end(self, gen: dict[str, Any]) -> dict[str, Any]:
        elapsed = time.monotonic() - self._t0
        cpu = sum(proc_cpu(p) for p in self.pids()) - self._cpu0
        return {"agent_cpu_s": cpu, "agent_cpu_pct": 100.0 * cpu / elapsed if elapsed else 0.0,
                "agent_rss": sum(proc_rss(p) for p in self.pids())}


class NoArm(Arm):
    name = "none"

    def end(self, gen: dict[str, Any]) -> dict[str, Any]:
        return {}


class RingsideArm(Arm):
    """``ringside run`` as its own process; its NDJSON read from a pipe (``live``) or
    from the file it writes (``live=False``: no reader of ours runs beside the
    workload, but no arrival times either, so no latency)."""

    name = "ringside"

    def __init__(self, workdir: Path, events: str = "process,file,tty",
                 extra: list[str] | None = None, label: str = "ringside",
                 prefix: list[str] | None = None, live: bool = True) -> None:
        super().__init__(workdir)
        self.name = label
        self.live = live
        self.events = events
        self.extra = list(extra or [])
        self.prefix = list(prefix or [])  # e.g. python -m cProfile -o FILE
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.exit_counters: dict[str, Any] | None = None
        self.bpf_time = False

    # The reader: everything the sensor writes goes to a file; for each read,
    # the file offset it ended at and when it arrived (CLOCK_BOOTTIME, the
    # clock of the events' ktime_ns).
    def _read(self, fd: int, out: Any) -> None:
        ends, arrivals = self._ends, self._arrivals
        offset = 0
        while True:
            try:
                data = os.read(fd, 1 << 20)
            except OSError:
                break
            now = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
            if not data:
                break
            out.write(data)
            offset += len(data)
            with self._lock:
                ends.append(offset)
                arrivals.append(now)
        out.flush()

    @property
    def offset(self) -> int:
        if not self.live:
            # The sensor flushes a regular file after each batch, so what it
            # counted as delivered is in the file.
            return self.out_path.stat().st_size
        with self._lock:
            return self._ends[-1] if self._ends else 0

    def start(self) -> None:
        self.out_path = self.workdir / f"{self.name}.ndjson"
        self.err_path = self.workdir / f"{self.name}.stderr"
        self._ends: list[int] = []
        self._arrivals: list[int] = []
        self._lock = threading.Lock()
        cmd = [*self.prefix, str(RINGSIDE), "--log-level", "info", "run", "--events", self.events,
               "--metrics-port", "0", *self.extra]
        self._err = open(self.err_path, "wb")
        self._reader: threading.Thread | None = None
        if not self.live:
            self.out_path.write_bytes(b"")
            self.proc = subprocess.Popen([*cmd, "--output", str(self.out_path)],
                                         stdout=subprocess.DEVNULL, stderr=self._err)
        else:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._err)
            assert self.proc.stdout is not None
            with contextlib.suppress(OSError):
                fcntl.fcntl(self.proc.stdout.fileno(), F_SETPIPE_SZ, 1 << 20)
            self._out = open(self.out_path, "wb", buffering=0)  # read back while being written
            self._reader = threading.Thread(target=self._read,
                                            args=(self.proc.stdout.fileno(), self._out),
                                            name="ndjson-reader", daemon=True)
            self._reader.start()
        port = wait_running(self.proc, self.err_path, metrics=True)
        assert port is not None
        self.port = port

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc is not None and self.proc.poll() is None else []

    def scrape(self) -> Metrics:
        return Metrics(http_get(self.port))

    def settle(self, timeout: float = 60.0) -> Metrics:
        """A scrape taken once the sensor caught up with what the kernel sent it."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.scrape()
            sent = m.total("ringside_kernel_sent_total")
            decoded = m.by("ringside_events_decoded_total", "type")
            nonaux = sum(v for k, v in decoded.items() if not k.startswith(AUX_PREFIX))
            done = (m.total("ringside_events_delivered_total")
                    + m.total("ringside_user_drops_total"))
            if (m.total("ringside_ring_records_total") >= sent
                    and m.total("ringside_queue_depth") == 0 and done >= nonaux):
                if self.live:
                    # What was delivered is in the pipe: give the reader a moment.
                    time.sleep(0.3)
                return m
            if time.monotonic() > deadline:
                raise ArmError(f"ringside did not catch up within {timeout:.0f} s")
            time.sleep(0.05)

    def begin(self) -> None:
        self._m0 = self.settle()
        self._off0 = self.offset
        self._bpf0 = bpf_prog_stats(self.proc.pid) if self.proc else (0, 0, 0)
        super().begin()

    def end(self, gen: dict[str, Any]) -> dict[str, Any]:
        m1 = self.settle()
        off1 = self.offset
        bpf1 = bpf_prog_stats(self.proc.pid) if self.proc else (0, 0, 0)
        out = super().end(gen)
        m0 = self._m0

        def delta(name: str, label: str) -> dict[str, int]:
            a, b = m0.by(name, label), m1.by(name, label)
            return {k: b[k] - a.get(k, 0) for k in b if b[k] - a.get(k, 0)}

        out["kernel_sent"] = delta("ringside_kernel_sent_total", "type")
        kd0, kd1 = (m.by("ringside_kernel_drops_total", "type") for m in (m0, m1))
        out["kernel_drops"] = {k: kd1[k] - kd0.get(k, 0) for k in kd1 if kd1[k] - kd0.get(k, 0)}
        ud0, ud1 = (m.by("ringside_user_drops_total", "type") for m in (m0, m1))
        out["user_drops"] = {k: ud1[k] - ud0.get(k, 0) for k in ud1 if ud1[k] - ud0.get(k, 0)}
        out["decode_errors"] = int(m1.total("ringside_decode_errors_total")
                                   - m0.total("ringside_decode_errors_total"))
        out["tty_bytes"] = delta("ringside_kernel_tty_bytes_total", "kind")
        out["delivered_all"] = int(m1.total("ringside_events_delivered_total")
                                   - m0.total("ringside_events_delivered_total"))
        out["agent_us_per_event"] = (1e6 * out["agent_cpu_s"] / out["delivered_all"]
                                     if out["delivered_all"] else None)
        out["metrics_rss"] = m1.total("process_resident_memory_bytes")
        if self.bpf_time:
            runs = bpf1[1] - self._bpf0[1]
            out["bpf_ns"] = bpf1[0] - self._bpf0[0]
            out["bpf_runs"] = runs
        out.update(self._events_of(gen["pid"], self._off0, off1))
        return out

    def _events_of(self, pid: int, start: int, stop: int) -> dict[str, Any]:
        """The generator's events among the NDJSON bytes [start, stop)."""
        needles = (b'"pid":%d,' % pid, b'"ppid":%d,' % pid)
        delivered: Counter[str] = Counter()
        latencies: list[float] = []
        tty_len = tty_captured = 0
        other_tty = other_tty_len = other_tty_captured = 0
        with self._lock:
            ends, arrivals = list(self._ends), list(self._arrivals)
        with open(self.out_path, "rb") as f:
            f.seek(start)
            pos = start
            rest = b""
            while pos < stop:
                chunk = f.read(min(64 << 20, stop - pos))
                if not chunk:
                    break
                lines = (rest + chunk).split(b"\n")
                base = pos - len(rest)
                pos += len(chunk)
                rest = lines.pop()
                for line in lines:
                    line_end = base + len(line) + 1
                    base = line_end
                    is_tty = b'"event":"tty.write"' in line
                    if not (needles[0] in line or needles[1] in line):
                        if is_tty:
                            ev = orjson.loads(line)
                            other_tty += 1
                            other_tty_len += ev["length"]
                            other_tty_captured += ev["length"] - ev["skipped"]
                        continue
                    ev = orjson.loads(line)
                    proc = ev.get("process") or {}
                    if proc.get("pid") != pid and proc.get("ppid") != pid:
                        if is_tty:
                            other_tty += 1
                            other_tty_len += ev["length"]
                            other_tty_captured += ev["length"] - ev["skipped"]
                        continue
                    delivered[ev["event"]] += 1
                    i = bisect.bisect_left(ends, line_end)
                    if i < len(arrivals):
                        latencies.append((arrivals[i] - ev["ktime_ns"]) / 1e6)
                    if is_tty:
                        tty_len += ev["length"]
                        tty_captured += ev["length"] - ev["skipped"]
        return {"delivered": dict(delivered), "latency_ms_p50": quantile(latencies, 0.5),
                "latency_ms_p99": quantile(latencies, 0.99), "latency_n": len(latencies),
                "tty_delivered_len": tty_len, "tty_delivered_captured": tty_captured,
                "tty_other_events": other_tty, "tty_other_len": other_tty_len,
                "tty_other_captured": other_tty_captured}

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        interrupt(proc, 60)
        if self._reader is not None:
            self._reader.join(30)
            self._out.close()
        self._err.close()
        for line in reversed(self.err_path.read_text(errors="replace").splitlines()):
            if line.startswith('{"counters"'):
                self.exit_counters = json.loads(line)["counters"]
                break
        if proc.returncode != 0:
            raise ArmError(f"ringside exited {proc.returncode}: "
                           f"{self.err_path.read_text(errors='replace')[-2000:]}")
        self.check_exit_identities()

    def check_exit_identities(self) -> None:
        """At exit the sensor drained everything: what the kernel sent was all read,
        and every decoded event was delivered, dropped in user space, or is an aux record."""
        c = self.exit_counters
        if c is None:
            raise AccountingError("ringside printed no counters at exit")
        sent = sum(c["kernel"]["sent"].values())
        if c["ring"]["records"] != sent:
            raise AccountingError(f"ringside: kernel sent {sent} records, the ring reader read "
                                  f"{c['ring']['records']}")
        # A batch the full queue refused was never decoded (its drops are
        # counted by type from the record headers); every other user-space
        # drop happened to a decoded event.
        delivered: Counter[str] = Counter()
        refused = 0
        for key, n in c["delivered"].items():
            delivered[key.split("/", 1)[1]] += n
        for key, n in c["user_drops"].items():
            stage, typ = key.split("/", 1)
            if stage == "queue":
                refused += n
            else:
                delivered[typ] += n
        decoded_all = sum(c["decoded"].values())
        errors = sum(c["decode_errors"].values())
        if decoded_all + refused + errors != sent:
            raise AccountingError(f"ringside: {sent} records read, {decoded_all} decoded, "
                                  f"{errors} undecodable, {refused} refused by the full queue")
        for typ, n in c["decoded"].items():
            if typ.startswith(AUX_PREFIX):
                continue
            if delivered[typ] != n:
                raise AccountingError(f"ringside: {n} {typ} decoded, {delivered[typ]} delivered "
                                      "or dropped in user space")
        if c["decode_errors"]:
            raise AccountingError(f"ringside: decode errors {c['decode_errors']}")


AUDITD_CONF = """\
local_events = yes
write_logs = yes
log_file = {log}
log_group = root
log_format = ENRICHED
flush = INCREMENTAL_ASYNC
freq = 50
max_log_file = 0
num_logs = 2
priority_boost = 4
name_format = NONE
max_log_file_action = ignore
space_left = 75
space_left_action = ignore
admin_space_left = 50
admin_space_left_action = ignore
disk_full_action = ignore
disk_error_action = ignore
use_libwrap = no
transport = TCP
q_depth = 2000
overflow_action = SYSLOG
end_of_event_timeout = 2
"""


def auditctl(*args: str) -> str:
    proc = subprocess.run(["auditctl", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ArmError(f"auditctl {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def audit_status() -> dict[str, int]:
    out = {}
    for line in auditctl("-s").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


class AuditdArm(Arm):
    """auditd with an execve rule and a watch (-p wa) on the storm directory."""

    name = "auditd"

    def __init__(self, workdir: Path, watch: Path) -> None:
        super().__init__(workdir)
        self.watch = watch
        self.proc: subprocess.Popen[bytes] | None = None
        self.kauditd = kthread_pid("kauditd")

    def start(self) -> None:
        if shutil.which("auditd") is None:
            raise ArmError("auditd is not installed (bash deploy/setup.sh --bench)")
        status = audit_status()
        if status.get("pid") and os.path.exists(f"/proc/{status['pid']}"):
            raise ArmError(f"an auditd already runs (pid {status['pid']}); not touching it")
        if auditctl("-l").strip() not in ("", "No rules"):
            raise ArmError("audit rules are already loaded; not touching them")
        confdir = self.workdir / "auditd"
        confdir.mkdir(exist_ok=True)
        self.log_path = confdir / "audit.log"
        (confdir / "auditd.conf").write_text(AUDITD_CONF.format(log=self.log_path))
        self.proc = subprocess.Popen(["auditd", "-n", "-c", str(confdir)],
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(confdir / "auditd.stderr", "wb"))
        deadline = time.monotonic() + 20
        while audit_status().get("pid") != self.proc.pid:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise ArmError("auditd did not start: "
                               + (confdir / "auditd.stderr").read_text()[-1000:])
            time.sleep(0.1)
        # As a user's rule file would: a backlog that absorbs bursts.
        auditctl("-b", "8192")
        auditctl("-e", "1")
        auditctl("-a", "always,exit", "-F", "arch=b64", "-S", "execve,execveat", "-k", "rs_exec")
        auditctl("-w", str(self.watch), "-p", "wa", "-k", "rs_file")

    def pids(self) -> list[int]:
        pids = [self.proc.pid] if self.proc is not None and self.proc.poll() is None else []
        return pids + ([self.kauditd] if self.kauditd else [])

    def begin(self) -> None:
        self._lost0 = audit_status().get("lost", 0)
        self._wait_quiet()
        self._off0 = self.log_path.stat().st_size
        super().begin()

    def _wait_quiet(self, timeout: float = 30.0) -> None:
        """Until the kernel's backlog is empty, then auditd's flush interval.

        (Not "until the log stops growing": other processes' execs keep it growing.)
        """
        deadline = time.monotonic() + timeout
        while audit_status().get("backlog", 0) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)

    def end(self, gen: dict[str, Any]) -> dict[str, Any]:
        out = super().end(gen)
        self._wait_quiet()
        out["lost"] = audit_status().get("lost", 0) - self._lost0
        pid = gen["pid"]
        needles = (f" pid={pid} ", f" ppid={pid} ")
        seen: Counter[str] = Counter()
        with open(self.log_path, "rb") as f:
            f.seek(self._off0)
            for raw in f:
                if not raw.startswith(b"type=SYSCALL"):
                    continue
                line = raw.decode(errors="replace")
                if needles[0] not in line and needles[1] not in line:
                    continue
                if 'key="rs_exec"' in line:
                    seen["exec"] += 1
                elif 'key="rs_file"' in line:
                    seen["file"] += 1
        out["peer_seen"] = dict(seen)
        return out

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ArmError):
            auditctl("-D")
        proc, self.proc = self.proc, None
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        # auditd leaves auditing enabled when it exits: back to how we found it.
        with contextlib.suppress(ArmError):
            auditctl("-e", "0")


BPFTRACE_SCRIPT = r"""
tracepoint:sched:sched_process_fork
{ printf("fork %d %d %d\n", pid, curtask->real_parent->tgid, args->child_pid); }
tracepoint:syscalls:sys_enter_execve
{ printf("exec %d %d %s ", pid, curtask->real_parent->tgid, str(args->filename));
  join(args->argv); }
tracepoint:sched:sched_process_exit /pid == tid/
{ printf("exit %d %d\n", pid, curtask->real_parent->tgid); }
tracepoint:syscalls:sys_enter_openat /args->flags & 0x243/
{ printf("open %d %d %s\n", pid, curtask->real_parent->tgid, str(args->filename)); }
tracepoint:syscalls:sys_enter_rename
{ printf("rename %d %d %s %s\n", pid, curtask->real_parent->tgid, str(args->oldname),
         str(args->newname)); }
tracepoint:syscalls:sys_enter_renameat2
{ printf("rename %d %d %s %s\n", pid, curtask->real_parent->tgid, str(args->oldname),
         str(args->newname)); }
tracepoint:syscalls:sys_enter_unlink
{ printf("unlink %d %d %s\n", pid, curtask->real_parent->tgid, str(args->pathname)); }
tracepoint:syscalls:sys_enter_unlinkat
{ printf("unlink %d %d %s\n", pid, curtask->real_parent->tgid, str(args->pathname)); }
tracepoint:syscalls:sys_enter_write
{
  $file = *(curtask->files->fdt->fd + args->fd);
  $major = $file->f_inode->i_rdev >> 20;
  if ($major >= 136 && $major <= 143) {
    printf("tty %d %d %d %r\n", pid, curtask->real_parent->tgid, args->count,
           buf(args->buf, 64));
  }
}
"""


class BpftraceArm(Arm):
    """bpftrace with tracepoint one-liners for exec (with argv), fork, exit, file
    writes/creates/renames/deletes and pty output (64 bytes of each write)."""

    name = "bpftrace"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.proc: subprocess.Popen[bytes] | None = None
        self.bpf_time = False

    def start(self) -> None:
        if shutil.which("bpftrace") is None:
            raise ArmError("bpftrace is not installed (bash deploy/setup.sh --bench)")
        script = self.workdir / "peer.bt"
        script.write_text(BPFTRACE_SCRIPT)
        self.out_path = self.workdir / "bpftrace.out"
        self.err_path = self.workdir / "bpftrace.stderr"
        self.out_path.write_bytes(b"")
        self.proc = subprocess.Popen(["bpftrace", "-o", str(self.out_path), str(script)],
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(self.err_path, "wb"))
        deadline = time.monotonic() + 90
        while b"Attaching" not in self.out_path.read_bytes()[:200]:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise ArmError("bpftrace did not start: " + self.err_path.read_text()[-1500:])
            time.sleep(0.1)
        time.sleep(0.5)

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc is not None and self.proc.poll() is None else []

    def _wait_quiet(self, quiet: float = 0.5, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        size, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            now_size = self.out_path.stat().st_size
            if now_size != size:
                size, since = now_size, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            time.sleep(0.1)

    def begin(self) -> None:
        self._wait_quiet()
        self._off0 = self.out_path.stat().st_size
        self._bpf0 = bpf_prog_stats(self.proc.pid) if self.proc else (0, 0, 0)
        super().begin()

    def end(self, gen: dict[str, Any]) -> dict[str, Any]:
        out = super().end(gen)
        bpf1 = bpf_prog_stats(self.proc.pid) if self.proc else (0, 0, 0)
        self._wait_quiet()
        pid = str(gen["pid"])
        seen: Counter[str] = Counter()
        lost = 0
        with open(self.out_path, "rb") as f:
            f.seek(self._off0)
            for raw in f:
                parts = raw.split(b" ", 3)
                if raw.startswith(b"Lost "):
                    lost += int(parts[1])
                    continue
                if len(parts) >= 3 and (parts[1] == pid.encode() or parts[2] == pid.encode()):
                    seen[parts[0].decode(errors="replace")] += 1
        out["peer_seen"] = dict(seen)
        out["lost"] = lost
        if self.bpf_time:
            out["bpf_ns"] = bpf1[0] - self._bpf0[0]
            out["bpf_runs"] = bpf1[1] - self._bpf0[1]
        return out

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        interrupt(proc, 30)


# ---- one window -------------------------------------------------------------------

def run_window(arm: Arm, binary: Path, mode: str, duration: float, rate: float | None,
               storm_dir: Path, sampler: Sampler | None = None, label: str = "",
               **options: Any) -> dict[str, Any]:
    """One generator run under one arm; the generator's counts and what the arm saw."""
    arm.begin()
    if sampler is not None:
        sampler.track(f"{arm.name}:{label or mode}", arm.pids())
    gen = loadgen.run(binary, mode, duration, rate, storm_dir, **options)
    if sampler is not None:
        sampler.track("", [])
    seen = arm.end(gen)
    return {"arm": arm.name, "mode": mode, "label": label or mode, "rate": rate,
            "gen": gen, **seen}


def account(window: dict[str, Any]) -> dict[str, Any]:
    """Check generated = delivered + lost for Ringside's window; raise AccountingError if not.

    Returns the figures: generated and delivered by type, lost (bounded by
    the counted drops), and for terminal output the byte accounting.
    """
    gen = window["gen"]
    expected = loadgen.expected(gen)
    delivered = dict(window["delivered"])
    tty_events = delivered.pop("tty.write", 0)
    drops: Counter[str] = Counter(window["kernel_drops"])
    drops.update(window["user_drops"])
    problems = []
    lost_total = 0
    for typ in sorted(set(expected) | set(delivered)):
        want, got = expected.get(typ, 0), delivered.get(typ, 0)
        lost = want - got
        if lost < 0:
            problems.append(f"{typ}: {got} delivered but the generator caused {want}")
        elif lost > drops.get(typ, 0):
            problems.append(f"{typ}: {lost} missing but only {drops.get(typ, 0)} counted drops")
        lost_total += max(0, lost)
    out: dict[str, Any] = {
        "generated": sum(expected.values()), "delivered": sum(delivered.values()),
        "lost": lost_total, "kernel_drops": sum(window["kernel_drops"].values()),
        "user_drops": sum(window["user_drops"].values()),
        "exact": not drops,
    }
    if gen["tty_writes"]:
        tb = window["tty_bytes"]
        captured, over_cap, over_budget = (tb.get(k, 0) for k in
                                           ("captured", "over_cap", "over_budget"))
        asked = gen["tty_bytes"] + window["tty_other_len"]
        # Every byte asked for: captured (in a delivered event, or in a dropped
        # one), cut at the per-write cap, or skipped over the per-process budget.
        if captured + over_cap + over_budget != asked:
            problems.append(
                f"tty: {gen['tty_bytes']} bytes written (+{window['tty_other_len']} by other "
                f"processes) but the kernel counted {captured} captured + {over_cap} over the "
                f"cap + {over_budget} over the budget = {captured + over_cap + over_budget}")
        tty_drops = drops.get("tty.write", 0)
        in_dropped = (captured - window["tty_delivered_captured"]
                      - window["tty_other_captured"])
        if in_dropped < 0 or in_dropped > tty_drops * gen["write_size"]:
            problems.append(f"tty: {in_dropped} captured bytes in no delivered event, "
                            f"{tty_drops} tty events dropped")
        expected_events = gen["tty_writes"] - over_budget // gen["write_size"]
        if tty_events + tty_drops < expected_events or tty_events > expected_events:
            problems.append(f"tty: {tty_events} events delivered, {tty_drops} dropped, "
                            f"{expected_events} writes were within the budget")
        out["tty"] = {"writes": gen["tty_writes"], "bytes_written": gen["tty_bytes"],
                      "captured": captured, "over_cap": over_cap, "over_budget": over_budget,
                      "bytes_in_delivered_events": window["tty_delivered_captured"],
                      "bytes_in_dropped_events": in_dropped, "events": tty_events,
                      "other_processes_bytes": window["tty_other_len"]}
        out["generated"] += expected_events
        out["delivered"] += tty_events
        out["lost"] += expected_events - tty_events
    if problems:
        raise AccountingError(f"{window['arm']} {window['label']}: " + "; ".join(problems))
    return out


def workspace(prefix: str) -> tuple[Path, Path]:
    """A scratch directory, and a tmpfs mounted inside it for the storms' files.

    tmpfs: the file storm's own cost (create, rename, delete) on the root
    ext4 was 25-30 k ops/s here, below the 33,334 ops/s that 100,000 events/s
    need; on tmpfs the file system is not the limit.
    """
    work = Path(tempfile.mkdtemp(prefix=prefix))
    storm = work / "storm"
    storm.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "ringside-bench", str(storm)],
                   check=True)
    loadgen.prepare(storm)
    return work, storm


def release(work: Path, storm: Path, keep: bool = False) -> None:
    subprocess.run(["umount", str(storm)], check=False)
    if not keep:
        shutil.rmtree(work, ignore_errors=True)


# ---- figures ----------------------------------------------------------------------

def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (NaN for fewer than two values)."""
    mean = statistics.mean(values)
    se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")
    return mean, se


def paired_slowdown(ratios: list[float]) -> dict[str, Any]:
    """The slowdown that pairs' ratios (loaded / base ops/s) show: their number, the
    mean slowdown, its standard error and its one-sided 95 % bounds."""
    mean, se = mean_se(ratios)
    slow = 1 - mean
    return {"pairs": len(ratios), "slowdown": slow, "se": se,
            "lower95": lower95(slow, se, len(ratios)),
            "upper95": upper95(slow, se, len(ratios))}


def spread(values: list[float]) -> dict[str, Any]:
    """Median and min-max of per-round values (None where nothing was measured)."""
    vals = [v for v in values if v is not None]
    if not vals:
        return {"median": None, "min": None, "max": None, "n": 0}
    vals.sort()
    mid = len(vals) // 2
    med = vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2
    return {"median": med, "min": vals[0], "max": vals[-1], "n": len(vals)}


def fmt(value: float | None, digits: int = 0, unit: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}{unit}"


def fmt_spread(s: dict[str, Any], digits: int = 0, unit: str = "", scale: float = 1.0) -> str:
    if s["median"] is None:
        return "–"
    med, lo, hi = (s[k] * scale for k in ("median", "min", "max"))
    if s["n"] == 1:
        return f"{med:,.{digits}f}{unit}"
    return f"{med:,.{digits}f}{unit} ({lo:,.{digits}f}–{hi:,.{digits}f})"


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def busy_processes(limit: int = 5) -> list[str]:
    """What else used the CPU around the run (ps, top by CPU), for the results."""
    proc = subprocess.run(["ps", "-eo", "pcpu,comm", "--sort=-pcpu", "--no-headers"],
                          capture_output=True, text=True)
    return [" ".join(line.split()) for line in proc.stdout.splitlines()[:limit]]


# ---- Kafka ---------------------------------------------------------------------------

KAFKA_SH = Path(__file__).resolve().parent.parent / "deploy" / "kafka" / "kafka.sh"


class KafkaBroker:
    """A broker of the benchmark's own (deploy/kafka/kafka.sh), started and stopped here."""

    def __init__(self, name: str = "ringside-bench", port: int = 29092) -> None:
        self.name, self.port = name, port
        self.env = {**os.environ, "RINGSIDE_KAFKA_NAME": name,
                    "RINGSIDE_KAFKA_PORT": str(port), "RINGSIDE_KAFKA_OWNER": "bench_suite"}
        self.started = False

    def _sh(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(KAFKA_SH), *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def start(self) -> None:
        if not KAFKA_SH.exists():
            raise ArmError(f"{KAFKA_SH} is missing")
        if self._sh("status").returncode == 0:
            raise ArmError(f"a broker named {self.name} already runs; not touching it")
        proc = self._sh("start")
        if proc.returncode != 0:
            raise ArmError(f"kafka.sh start failed: {proc.stderr.strip()[-800:]}")
        self.started = True

    def pid(self) -> int | None:
        out = self._sh("status").stdout
        m = re.search(r"pid=(\d+)", out)
        return int(m.group(1)) if m else None

    def stop(self) -> None:
        if self.started:
            self.started = False
            self._sh("stop", timeout=120)


def kafka_counts(m: Metrics) -> dict[str, int]:
    """The Kafka sink's counters, from the sensor's metrics (component "kafka")."""
    out: dict[str, int] = {}
    for name, labels, value in m.samples:
        if labels.get("component") != "kafka" or not name.startswith("ringside_component_"):
            continue
        key = name[len("ringside_component_"):]
        if key.startswith("dropped_"):
            out["dropped"] = out.get("dropped", 0) + int(value)
        elif key.startswith("ack_latency_ms_"):
            out[key] = value  # type: ignore[assignment]  # ms, a float
        else:
            out[key] = int(value)
    return out


def kafka_window(arm: RingsideArm, binary: Path, mode: str, duration: float, rate: float | None,
                 storm_dir: Path, ack_timeout: float = 180.0) -> dict[str, Any]:
    """One storm with the Kafka sink: what was decoded, handed to Kafka, acknowledged, lost.

    Accounting (sensor level: the sink's counters do not say which process an
    event came from): events decoded = handed to the sink + dropped in user
    space after decoding; handed to the sink = acknowledged + dropped by the
    sink (once nothing is unacknowledged); and the generator's events fit in
    what the kernel saw (decoded + refused by the full queue, which happens
    before decoding, + kernel drops >= generated, type by type).
    """
    arm.begin()
    k0 = kafka_counts(arm._m0)
    gen = loadgen.run(binary, mode, duration, rate, storm_dir)
    w = arm.end(gen)
    deadline = time.monotonic() + ack_timeout
    while True:
        m = arm.scrape()
        k1 = kafka_counts(m)
        if k1.get("unacknowledged", 0) == 0:
            break
        if time.monotonic() > deadline:
            raise AccountingError(f"kafka: {k1.get('unacknowledged')} events still "
                                  f"unacknowledged {ack_timeout:.0f} s after the storm")
        time.sleep(0.2)

    def d(key: str) -> int:
        return k1.get(key, 0) - k0.get(key, 0)

    decoded = {k: v for k, v in (m.by("ringside_events_decoded_total", "type")
                                 - arm._m0.by("ringside_events_decoded_total", "type")).items()
               if not k.startswith(AUX_PREFIX)}
    handed = int(m.total("ringside_events_delivered_total", sink="kafka")
                 - arm._m0.total("ringside_events_delivered_total", sink="kafka"))
    user_drops = sum(w["user_drops"].values())
    # The full queue refuses raw batches: those events are never decoded.
    queue_drops = (m.by("ringside_user_drops_total", "type", stage="queue")
                   - arm._m0.by("ringside_user_drops_total", "type", stage="queue"))
    kernel_drops = sum(w["kernel_drops"].values())
    expected = loadgen.expected(gen)
    problems = []
    if sum(decoded.values()) != handed + user_drops - sum(queue_drops.values()):
        problems.append(f"{sum(decoded.values())} decoded, {handed} handed to Kafka, "
                        f"{user_drops} user drops of which {sum(queue_drops.values())} "
                        "before decoding")
    if d("received") != handed:
        problems.append(f"the sink received {d('received')}, the pump handed it {handed}")
    # Events handed over before the window may be acknowledged in it: the ones
    # unacknowledged at its start (at its end, none are: waited for above).
    unacked0 = k0.get("unacknowledged", 0)
    if handed + unacked0 != d("acknowledged") + d("dropped"):
        problems.append(f"{handed} handed to Kafka (+{unacked0} unacknowledged before), "
                        f"{d('acknowledged')} acknowledged, {d('dropped')} dropped by the sink")
    for typ, n in expected.items():
        seen = decoded.get(typ, 0) + queue_drops.get(typ, 0) + w["kernel_drops"].get(typ, 0)
        if seen < n:
            problems.append(f"{typ}: the generator caused {n}, the sensor saw "
                            f"{decoded.get(typ, 0)} + {queue_drops.get(typ, 0)} refused by "
                            f"the queue + {w['kernel_drops'].get(typ, 0)} dropped by the kernel")
    if problems:
        raise AccountingError("kafka: " + "; ".join(problems))
    generated = sum(expected.values())
    return {"gen": gen, "asked": rate, "generated": generated,
            "event_rate": generated / (gen["elapsed_ns"] / 1e9),
            "decoded": sum(decoded.values()), "handed": handed,
            "acknowledged": d("acknowledged"), "kafka_dropped": d("dropped"),
            "spooled": d("spooled"), "failed": d("failed"), "resent": d("resent"),
            "kernel_drops": kernel_drops, "user_drops": user_drops,
            "lost": kernel_drops + user_drops + d("dropped"),
            "ack_latency_ms_p50": k1.get("ack_latency_ms_p50"),
            "ack_latency_ms_p99": k1.get("ack_latency_ms_p99"),
            "sensor_cpu_pct": w["agent_cpu_pct"], "sensor_rss": w["agent_rss"]}
