"""Ring reader benchmark (issue 2, "The sensor core").

Two parts, one run::

    python -m benchmarks.bench_ring            # full run, writes results/ring.{json,md}
    python -m benchmarks.bench_ring --quick    # ~30 s smoke run, prints only

1. Drain rate.  A small BPF program (bpf/ring_fill.bpf.c) writes one 128-byte
   record into a 64 MiB ring for every getppid() this process makes.  Each
   round fills the ring with N records while nobody reads it, then times one
   consumer draining all of them:

   mmap          RingReader.poll() until empty: copy out + header walk
   mmap+touch    the same, and unpack each record's u64 seq field
   bcc           bcc's ring_buffer_consume(), a Python callback per record
                 that reads the same seq field (through bcc's wrapper)
   ctypes        informational: the same callback registered with libbcc
                 directly, without bcc's Python wrapper around it
   ctypes+copy   informational: as ctypes, and the callback also copies the
                 record out (ctypes.string_at), as a consumer that keeps the
                 record must; read seq from the copy

   Consumers take turns within a round (the first one rotates between rounds),
   so all of them see the same machine noise; one warm-up round is not
   counted.  Every drain is checked: the records drained must be exactly the
   records filled, the bytes N * 136, and for the touching consumers the sum
   of seq fields must be the expected one.
   A mismatch stops the benchmark with exit status 2 and writes nothing.

2. The sensor.  ``ringside run --events AREAS`` is started as a separate
   process: start-up is timed from spawn to its "sensor ... running" log line
   (and the sensor's own ``startup_seconds``, compile + attach, read from its
   exit counters), resident memory is read from /proc/<pid>/status right after
   start and again after a fork/exec load (a shell running /bin/true in a
   loop).  Area sets take turns too.  Where the resident pages are (LLVM and
   clang libraries, BPF map mappings, heap) is read from /proc/<pid>/smaps.

Exit status: 0 all targets met, 1 a target missed (results still written),
2 the measurement itself is wrong (accounting mismatch, sensor failed).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._common import markdown_table, median, rotated, write_result

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FILL_SOURCE = HERE / "bpf" / "ring_fill.bpf.c"
RINGSIDE = Path(sys.executable).with_name("ringside")

RECORD_BYTES = 128
SLOT_BYTES = (RECORD_BYTES + 8 + 7) & ~7  # 8-byte record header, padded to 8
RING_BYTES = 64 << 20

TARGET_RATE = 1_000_000  # records/s drained by the mmap reader
TARGET_RATIO = 3.0  # mmap reader vs the bcc callback
TARGET_START_S = 5.0  # compile + attach
TARGET_RSS_MB = 150.0  # resident memory after start, MB = 10**6 bytes

_U64_AT = struct.Struct("<Q").unpack_from
DRAIN_VARIANTS = ("mmap", "mmap+touch", "mmap-py", "bcc", "ctypes", "ctypes+copy")


class AccountingError(Exception):
    """The benchmark measured something other than what it claims."""


def spread(values: list[float]) -> dict[str, float]:
    med = median(values)
    return {
        "median": med,
        "min": min(values),
        "max": max(values),
        "spread_pct": 100.0 * (max(values) - min(values)) / med if med else float("nan"),
        "n": len(values),
    }


def log(msg: str) -> None:
    print(f"bench_ring: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- drain rate


class Tally:
    """A ring buffer callback that counts records and sums their seq field.

    The callback keeps its state in closure cells and binds what it calls as
    defaults: the cheapest Python callback we know how to write, so the
    callback consumers are not handicapped by attribute lookups.
    """

    def __init__(self, copy: bool) -> None:
        count = total = 0

        if copy:
            def callback(ctx: Any, data: int, size: int, _copy: Any = ctypes.string_at,
                         _unpack: Any = _U64_AT) -> int:
                nonlocal count, total
                total += _unpack(_copy(data, size), 0)[0]
                count += 1
                return 0
        else:
            def callback(ctx: Any, data: int, size: int,
                         _at: Any = ctypes.c_uint64.from_address) -> int:
                nonlocal count, total
                total += _at(data).value
                count += 1
                return 0

        def reset() -> None:
            nonlocal count, total
            count = total = 0

        def result() -> tuple[int, int]:
            return count, total

        self.callback, self.reset, self.result = callback, reset, result


class RingBench:
    """The filler program, its ring, and the consumers under test."""

    def __init__(self, max_batch_bytes: int) -> None:
        from bcc import BPF
        from bcc.libbcc import _RINGBUF_CB_TYPE, lib
        from ringside._ring import RingReader

        cflags = [f"-DFILL_TGID={os.getpid()}", f"-DFILL_RING_PAGES={RING_BYTES // 4096}"]
        began = time.monotonic()
        self.bpf = BPF(text=FILL_SOURCE.read_bytes(), cflags=cflags)
        log(f"filler program loaded in {time.monotonic() - began:.2f}s")
        ring = self.bpf[b"fill_ring"]
        self.stats = self.bpf[b"fill_stats"]
        # The sensor's reader as it runs (header walk in C when built), and
        # the same reader walking in Python, for comparison.
        self.reader = RingReader(ring.map_fd, RING_BYTES)
        self.reader_py = RingReader(ring.map_fd, RING_BYTES, walk="python")
        log(f"sensor's reader walks headers in {self.reader.walk}")
        self.max_batch_bytes = max_batch_bytes

        # bcc's path: open_ring_buffer wraps our callback in its own Python
        # function (try/except, int() of the result) and hands that to ctypes.
        self.bcc_tally = Tally(copy=False)
        ring.open_ring_buffer(self.bcc_tally.callback)

        # The same callback straight through ctypes, without bcc's wrapper,
        # and one that copies the record: more libbpf ring_buffer managers on
        # the same map (one consumes at a time; they share the consumer position).
        self._lib = lib
        self.raw_tallies = [Tally(copy=False), Tally(copy=True)]
        self._raw_fns = [_RINGBUF_CB_TYPE(t.callback) for t in self.raw_tallies]
        self._raw_managers = [lib.bpf_new_ringbuf(ring.map_fd, fn, None)
                              for fn in self._raw_fns]
        if not all(self._raw_managers):
            raise RuntimeError("libbcc could not open another ring buffer manager")

    def close(self) -> None:
        for manager in self._raw_managers:
            if manager:
                self._lib.bpf_free_ringbuf(manager)
        self._raw_managers = []
        self.reader.close()
        self.reader_py.close()
        self.bpf.cleanup()

    def counter(self, index: int) -> int:
        return int(self.stats[ctypes.c_int(index)].value)

    # ---- fill ----

    def fill(self, n: int) -> tuple[int, float]:
        """Put n records in the (empty) ring; returns (first seq, seconds)."""
        if self.reader.pending_bytes():
            raise AccountingError(f"ring not empty before a fill: {self.reader.pending_bytes()}")
        first = self.counter(0)
        drops = self.counter(1)
        getppid = os.getppid
        began = time.perf_counter()
        for _ in range(n):
            getppid()
        took = time.perf_counter() - began
        made = self.counter(0) - first
        lost = self.counter(1) - drops
        pending = self.reader.pending_bytes()
        if made != n or lost or pending != n * SLOT_BYTES:
            raise AccountingError(
                f"fill of {n}: the program saw {made} calls, {lost} did not fit, "
                f"ring holds {pending} bytes (expected {n * SLOT_BYTES})"
            )
        return first, took

    # ---- drains: each returns (records, bytes, seq sum or None) ----

    def drain_mmap(self, python_walk: bool = False) -> tuple[int, int, int | None]:
        reader = self.reader_py if python_walk else self.reader
        max_bytes = self.max_batch_bytes
        records = nbytes = 0
        while True:
            batch = reader.poll(max_bytes)
            if batch is None:
                return records, nbytes, None
            records += len(batch.offsets)
            nbytes += len(batch.data)

    def drain_mmap_touch(self) -> tuple[int, int, int | None]:
        reader, max_bytes = self.reader, self.max_batch_bytes
        unpack = _U64_AT
        records = nbytes = total = 0
        while True:
            batch = reader.poll(max_bytes)
            if batch is None:
                return records, nbytes, total
            data = batch.data
            for off in batch.offsets:
                total += unpack(data, off)[0]
            records += len(batch.offsets)
            nbytes += len(batch.data)

    def _drain_callback(self, consume: Callable[[], Any],
                        tally: Tally) -> tuple[int, int, int | None]:
        tally.reset()
        pending = self.reader.pending_bytes
        before = pending()
        while pending():
            consume()  # one call runs the callback for every record there is
        count, total = tally.result()
        return count, before, total

    def drain_bcc(self) -> tuple[int, int, int | None]:
        return self._drain_callback(self.bpf.ring_buffer_consume, self.bcc_tally)

    def drain_ctypes(self) -> tuple[int, int, int | None]:
        manager = self._raw_managers[0]
        return self._drain_callback(lambda: self._lib.bpf_consume_ringbuf(manager),
                                    self.raw_tallies[0])

    def drain_ctypes_copy(self) -> tuple[int, int, int | None]:
        manager = self._raw_managers[1]
        return self._drain_callback(lambda: self._lib.bpf_consume_ringbuf(manager),
                                    self.raw_tallies[1])

    def drainer(self, variant: str) -> Callable[[], tuple[int, int, int | None]]:
        return {
            "mmap": self.drain_mmap,
            "mmap+touch": self.drain_mmap_touch,
            "mmap-py": lambda: self.drain_mmap(python_walk=True),
            "bcc": self.drain_bcc,
            "ctypes": self.drain_ctypes,
            "ctypes+copy": self.drain_ctypes_copy,
        }[variant]


def run_drains(records: int, rounds: int, max_batch_bytes: int,
               warmup: int = 1) -> dict[str, Any]:
    if records * SLOT_BYTES > RING_BYTES - 4096:
        raise SystemExit(f"{records} records of {SLOT_BYTES} bytes do not fit a {RING_BYTES} ring")
    bench = RingBench(max_batch_bytes)
    walk = bench.reader.walk
    rates: dict[str, list[float]] = {v: [] for v in DRAIN_VARIANTS}
    fill_rates: list[float] = []
    try:
        for r in range(-warmup, rounds):
            k = r % len(DRAIN_VARIANTS)
            order = DRAIN_VARIANTS[k:] + DRAIN_VARIANTS[:k]
            for variant in order:
                first, fill_s = bench.fill(records)
                drain = bench.drainer(variant)
                began = time.perf_counter()
                got, nbytes, total = drain()
                took = time.perf_counter() - began
                expected_sum = records * first + records * (records - 1) // 2
                if got != records or nbytes != records * SLOT_BYTES or (
                        total is not None and total != expected_sum):
                    raise AccountingError(
                        f"round {r} {variant}: drained {got} records / {nbytes} bytes / seq sum "
                        f"{total}; filled {records} / {records * SLOT_BYTES} / {expected_sum}"
                    )
                if bench.reader.pending_bytes():
                    raise AccountingError(f"round {r} {variant}: ring not empty after the drain")
                if r >= 0:
                    rates[variant].append(records / took)
                    fill_rates.append(records / fill_s)
            if r < 0:
                log("warm-up round done (not counted)")
                continue
            log(f"round {r + 1}/{rounds}: " + ", ".join(
                f"{v} {rates[v][-1] / 1e6:.2f}M/s" for v in DRAIN_VARIANTS))
    finally:
        bench.close()

    def ratio(a: str, b: str) -> dict[str, Any]:
        per_round = [x / y for x, y in zip(rates[a], rates[b], strict=True)]
        return {**spread(per_round), "per_round": per_round,
                "of_medians": median(rates[a]) / median(rates[b])}

    ratios = {
        "mmap+touch/bcc": ratio("mmap+touch", "bcc"),
        "mmap/bcc": ratio("mmap", "bcc"),
        "mmap+touch/ctypes+copy": ratio("mmap+touch", "ctypes+copy"),
        "mmap/mmap-py": ratio("mmap", "mmap-py"),
        "bcc/ctypes": ratio("bcc", "ctypes"),
    }
    variants = {v: {**spread(rates[v]), "per_round": rates[v]} for v in DRAIN_VARIANTS}
    checks = {
        "mmap rate >= 1M/s": variants["mmap"]["median"] >= TARGET_RATE,
        "mmap+touch rate >= 1M/s": variants["mmap+touch"]["median"] >= TARGET_RATE,
        "mmap+touch / bcc >= 3x": ratios["mmap+touch/bcc"]["median"] >= TARGET_RATIO,
        "mmap / bcc >= 3x": ratios["mmap/bcc"]["median"] >= TARGET_RATIO,
    }
    return {
        "records_per_fill": records,
        "record_bytes": RECORD_BYTES,
        "ring_bytes": RING_BYTES,
        "max_batch_bytes": max_batch_bytes,
        "mmap_reader_walk": walk,
        "rounds": rounds,
        "warmup_rounds": warmup,
        "accounting": "every drain returned exactly the records filled (count, bytes, seq sum)",
        "rates_per_s": variants,
        "ratios": ratios,
        "fill_rate_per_s": spread(fill_rates),
        "checks": checks,
    }


# ---------------------------------------------------------------- the sensor

_RUNNING = re.compile(
    r"sensor \S+ running \((\S+) tier, areas (\S+), ring walk in (\S+)\) after ([0-9.]+)s")
_STATUS_KEYS = ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem")


def proc_status(pid: int) -> dict[str, float]:
    """Memory lines of /proc/<pid>/status, in MB (10**6 bytes)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in _STATUS_KEYS:
            out[key] = int(value.split()[0]) * 1024 / 1e6
    return out


def smaps_groups(pid: int) -> dict[str, float]:
    """Resident MB by where it lives, from /proc/<pid>/smaps."""
    groups = {"llvm_clang_libs": 0, "bpf_maps": 0, "heap_and_anon": 0, "other_files": 0}
    group = "other_files"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split(maxsplit=5)
        if head and "-" in head[0] and len(head) >= 5 and ":" in head[3]:  # a mapping header
            name = head[5] if len(head) == 6 else ""
            if "libLLVM" in name or "libclang" in name:
                group = "llvm_clang_libs"
            elif name.startswith("anon_inode:bpf-map"):
                group = "bpf_maps"
            elif name in ("", "[heap]", "[stack]") or name.startswith("[anon"):
                group = "heap_and_anon"
            else:
                group = "other_files"
        elif line.startswith("Rss:"):
            groups[group] += int(line.split()[1])
    return {k: v * 1024 / 1e6 for k, v in groups.items()}


@dataclass
class SensorRun:
    areas: str
    spawn_to_running_s: float = 0.0
    startup_seconds: float = 0.0  # the sensor's own: compile + attach
    tier: str = ""
    after_start: dict[str, float] = field(default_factory=dict)
    after_load: dict[str, float] = field(default_factory=dict)
    where_after_load: dict[str, float] = field(default_factory=dict)  # smaps_groups()
    load_execs: int = 0  # /bin/true runs the sensor delivered (process.exec)
    delivered: int = 0
    kernel_dropped: int = 0


class _StderrWatch(threading.Thread):
    """Collects the sensor's stderr and notes when the "running" line appears."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        super().__init__(daemon=True)
        self.proc = proc
        self.lines: list[str] = []
        self.running = threading.Event()
        self.running_at = 0.0
        self.match: re.Match[str] | None = None

    def run(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            now = time.monotonic()
            self.lines.append(line)
            if not self.running.is_set():
                m = _RUNNING.search(line)
                if m:
                    self.running_at, self.match = now, m
                    self.running.set()
        self.running.set()  # exited: wake the waiter either way


def run_sensor_once(areas: str, load_seconds: float, workdir: Path) -> SensorRun:
    out_path = workdir / f"events-{areas.replace(',', '_')}.ndjson"
    # Output to a regular file: the NDJSON is not what is measured here.
    cmd = [str(RINGSIDE), "--log-level", "info", "run", "--events", areas,
           "--output", str(out_path)]
    began = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, cwd=REPO)
    watch = _StderrWatch(proc)
    watch.start()
    result = SensorRun(areas)
    load: subprocess.Popen[bytes] | None = None
    try:
        if not watch.running.wait(60) or watch.match is None:
            raise AccountingError(f"sensor ({areas}) did not report running:\n"
                                  + "\n".join(watch.lines[-20:]))
        result.after_start = proc_status(proc.pid)
        result.spawn_to_running_s = watch.running_at - began
        result.tier = watch.match.group(1)
        result.startup_seconds = float(watch.match.group(4))  # refined from counters below
        load = subprocess.Popen(["/bin/sh", "-c", "while :; do /bin/true; done"],
                                stdin=subprocess.DEVNULL)
        time.sleep(load_seconds)
        load.kill()
        load.wait()
        time.sleep(0.5)  # let the sensor deliver the last of it
        if proc.poll() is not None:
            raise AccountingError(f"sensor ({areas}) exited during the load:\n"
                                  + "\n".join(watch.lines[-20:]))
        result.after_load = proc_status(proc.pid)
        result.where_after_load = smaps_groups(proc.pid)
        proc.terminate()
        rc = proc.wait(60)
    finally:
        if load is not None and load.poll() is None:
            load.kill()
            load.wait()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        watch.join(10)
        if proc.stderr is not None:
            proc.stderr.close()
    if rc != 0:
        raise AccountingError(f"sensor ({areas}) exited with {rc}:\n"
                              + "\n".join(watch.lines[-20:]))
    counters = None
    for line in reversed(watch.lines):
        if line.startswith('{"counters"'):
            counters = json.loads(line)["counters"]
            break
    if counters is None:
        raise AccountingError(f"sensor ({areas}) printed no counters at exit")
    result.startup_seconds = counters["sensor"]["startup_seconds"]
    delivered = counters.get("delivered", {})
    result.delivered = sum(delivered.values())
    result.load_execs = sum(v for k, v in delivered.items() if k.endswith("/process.exec"))
    result.kernel_dropped = counters.get("kernel", {}).get("dropped", 0)
    if "process" in areas.split(",") and result.load_execs < 10:
        raise AccountingError(f"sensor ({areas}) delivered only {result.load_execs} exec events "
                              f"during {load_seconds}s of /bin/true: the load did not reach it")
    with contextlib.suppress(OSError):
        out_path.unlink()
    return result


def run_sensors(area_sets: list[str], repeats: int, load_seconds: float) -> dict[str, Any]:
    runs: dict[str, list[SensorRun]] = {a: [] for a in area_sets}
    with tempfile.TemporaryDirectory(prefix="bench_ring-") as tmp:
        for i in range(repeats):
            for areas in rotated(area_sets, i):
                r = run_sensor_once(areas, load_seconds, Path(tmp))
                runs[areas].append(r)
                log(f"sensor {areas} #{i + 1}: running after {r.spawn_to_running_s:.2f}s "
                    f"(own {r.startup_seconds:.2f}s), VmRSS {r.after_start['VmRSS']:.1f} MB, "
                    f"after load {r.after_load['VmRSS']:.1f} MB, {r.load_execs} execs")
    out: dict[str, Any] = {}
    for areas, rs in runs.items():
        def fig(get: Callable[[SensorRun], float], rs: list[SensorRun] = rs) -> dict[str, float]:
            return spread([get(r) for r in rs])

        summary = {
            "tier": rs[0].tier,
            "spawn_to_running_s": fig(lambda r: r.spawn_to_running_s),
            "startup_seconds": fig(lambda r: r.startup_seconds),
            "rss_after_start_mb": fig(lambda r: r.after_start["VmRSS"]),
            "rss_after_load_mb": fig(lambda r: r.after_load["VmRSS"]),
            "rss_anon_after_load_mb": fig(lambda r: r.after_load["RssAnon"]),
            "rss_file_after_load_mb": fig(lambda r: r.after_load["RssFile"]),
            "peak_rss_mb": fig(lambda r: r.after_load["VmHWM"]),
            "rss_llvm_clang_libs_mb": fig(lambda r: r.where_after_load["llvm_clang_libs"]),
            "rss_bpf_maps_mb": fig(lambda r: r.where_after_load["bpf_maps"]),
            "rss_heap_and_anon_mb": fig(lambda r: r.where_after_load["heap_and_anon"]),
            "load_execs": fig(lambda r: r.load_execs),
            "kernel_dropped": sum(r.kernel_dropped for r in rs),
            "runs": [r.__dict__ for r in rs],
        }
        summary["checks"] = {
            "start-up (own) < 5 s": summary["startup_seconds"]["median"] < TARGET_START_S,
            "spawn to running < 5 s": summary["spawn_to_running_s"]["median"] < TARGET_START_S,
            "VmRSS after start < 150 MB": summary["rss_after_start_mb"]["median"] < TARGET_RSS_MB,
            "VmRSS after load < 150 MB": summary["rss_after_load_mb"]["median"] < TARGET_RSS_MB,
        }
        out[areas] = summary
    return {"repeats": repeats, "load_seconds": load_seconds, "area_sets": out}


def uncommitted_sources() -> list[str]:
    """Files of the measured code that differ from the commit recorded with the results."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--", "sensor", "bpf", "schema",
                              "benchmarks/bench_ring.py", "benchmarks/bpf"],
                             capture_output=True, text=True, check=True, cwd=REPO).stdout
    except (OSError, subprocess.CalledProcessError):
        return ["unknown: git status failed"]
    return [line[3:] for line in out.splitlines() if line.strip()]


def default_area_sets() -> list[str]:
    """process alone, and every area whose BPF source is committed, if that is more.

    Committed rather than present: other work in progress may have a source
    file in the tree that does not compile yet.  Name the sets with --areas
    to measure anything else.
    """
    from ringside._bpf import AREAS, BPF_DIR

    try:
        listed = subprocess.run(["git", "ls-files", "--", str(BPF_DIR)], capture_output=True,
                                text=True, check=True, cwd=REPO).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        listed = []
    committed = {Path(name).name for name in listed}
    present = [a for a in AREAS if f"{a}.bpf.c" in committed]
    sets = ["process"]
    if present and present != ["process"]:
        sets.append(",".join(present))
    return sets


# ---------------------------------------------------------------- report


def _rate(s: dict[str, float]) -> tuple[str, str]:
    return f"{s['median'] / 1e6:.2f} M/s", f"{s['min'] / 1e6:.2f}–{s['max'] / 1e6:.2f}"


def _ok(flag: bool) -> str:
    return "pass" if flag else "FAIL"


def table(drain: dict[str, Any], sensors: dict[str, Any]) -> str:
    rows: list[list[Any]] = []
    v, ra, ck = drain["rates_per_s"], drain["ratios"], drain["checks"]
    names = {
        "mmap": f"drain: mmap reader (copy + header walk in {drain['mmap_reader_walk']})",
        "mmap+touch": "drain: mmap reader + unpack seq per record",
        "mmap-py": "drain: mmap reader, header walk in Python (info)",
        "bcc": "drain: bcc ring_buffer_consume + Python callback (reads seq)",
        "ctypes": "drain: same callback via ctypes, no bcc wrapper (info)",
        "ctypes+copy": "drain: ctypes callback that copies the record, reads seq (info)",
    }
    targets = {"mmap": ("≥ 1.00 M/s", ck["mmap rate >= 1M/s"]),
               "mmap+touch": ("≥ 1.00 M/s", ck["mmap+touch rate >= 1M/s"])}
    for key in DRAIN_VARIANTS:
        med, rng = _rate(v[key])
        target, ok = targets.get(key, ("", None))
        rows.append([names[key], med, rng, target, "" if ok is None else _ok(ok)])
    for key, label, check in (
        ("mmap+touch/bcc", "ratio: mmap+touch / bcc (paired per round)", "mmap+touch / bcc >= 3x"),
        ("mmap/bcc", "ratio: mmap / bcc (paired per round)", "mmap / bcc >= 3x"),
        ("mmap+touch/ctypes+copy", "ratio: mmap+touch / ctypes+copy (info)", None),
        ("mmap/mmap-py", "ratio: mmap / mmap-py (the C header walk's gain, info)", None),
        ("bcc/ctypes", "ratio: bcc / ctypes (cost of bcc's wrapper, info)", None),
    ):
        r = ra[key]
        rows.append([label, f"{r['median']:.2f}x", f"{r['min']:.2f}–{r['max']:.2f}",
                     "≥ 3x" if check else "", _ok(ck[check]) if check else ""])
    fr = drain["fill_rate_per_s"]
    rows.append(["fill: getppid() → 128-byte record (info)", *_rate(fr), "", ""])
    for areas, s in sensors["area_sets"].items():
        c = s["checks"]
        for key, label, unit, check in (
            ("startup_seconds", "start-up, compile + attach (own)", "s", "start-up (own) < 5 s"),
            ("spawn_to_running_s", "start-up, spawn → running line", "s", "spawn to running < 5 s"),
            ("rss_after_start_mb", "VmRSS after start", "MB", "VmRSS after start < 150 MB"),
            ("rss_after_load_mb", "VmRSS after fork/exec load", "MB", "VmRSS after load < 150 MB"),
            ("rss_anon_after_load_mb", "RssAnon after load (info)", "MB", None),
            ("rss_file_after_load_mb", "RssFile after load (info)", "MB", None),
            ("peak_rss_mb", "VmHWM, peak incl. compile (info)", "MB", None),
            ("rss_llvm_clang_libs_mb", "  of it: libLLVM + libclang pages (info)", "MB", None),
            ("rss_bpf_maps_mb", "  of it: BPF map mappings, ring twice (info)", "MB", None),
            ("rss_heap_and_anon_mb", "  of it: heap + anonymous (info)", "MB", None),
        ):
            f = s[key]
            prec = 2 if unit == "s" else 1
            rows.append([f"sensor [{areas}]: {label}", f"{f['median']:.{prec}f} {unit}",
                         f"{f['min']:.{prec}f}–{f['max']:.{prec}f}",
                         ("< 5 s" if unit == "s" else "< 150 MB") if check else "",
                         _ok(c[check]) if check else ""])
        ex = s["load_execs"]
        rows.append([f"sensor [{areas}]: exec events delivered during load (info)",
                     f"{ex['median']:.0f}", f"{ex['min']:.0f}–{ex['max']:.0f}", "", ""])
    head = (
        f"Ring drain: {drain['records_per_fill']:,} records of {drain['record_bytes']} bytes per "
        f"fill, {drain['ring_bytes'] >> 20} MiB ring, poll max "
        f"{drain['max_batch_bytes'] >> 10} KiB, {drain['rounds']} rounds + "
        f"{drain['warmup_rounds']} warm-up (consumers interleaved). Sensor: "
        f"{sensors['repeats']} start(s) per area set, {sensors['load_seconds']:g} s of "
        "/bin/true loop. "
        "Median, min–max over rounds; MB = 10^6 bytes.\n\n"
    )
    return head + markdown_table(["figure", "median", "min–max", "target", "result"], rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_ring", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="short run (fewer records, rounds and starts); prints, does not write")
    p.add_argument("--write", action="store_true", help="write results even with --quick")
    p.add_argument("--records", type=int, help="records per fill (default 450000; quick 100000)")
    p.add_argument("--rounds", type=int,
                   help="fill/drain rounds per consumer (default 21; quick 3)")
    p.add_argument("--max-batch-bytes", type=int, default=None,
                   help="RingReader.poll() limit (default: the sensor's max_batch_bytes)")
    p.add_argument("--starts", type=int, help="sensor starts per area set (default 5; quick 1)")
    p.add_argument("--load-seconds", type=float, help="fork/exec load (default 10; quick 2)")
    p.add_argument("--areas", action="append", metavar="AREAS",
                   help="an area set for `ringside run --events` (repeatable; default: process, "
                   "and all areas whose BPF source is committed, if more)")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_ring: loading BPF programs needs root", file=sys.stderr)
        return 2
    q = args.quick
    records = args.records or (100_000 if q else 450_000)
    rounds = args.rounds or (3 if q else 21)
    starts = args.starts or (1 if q else 5)
    load_s = args.load_seconds or (2.0 if q else 10.0)
    if args.max_batch_bytes is None:
        from ringside._sensor import SensorConfig

        max_batch = SensorConfig().max_batch_bytes
    else:
        max_batch = args.max_batch_bytes
    area_sets = args.areas or default_area_sets()

    load_before = os.getloadavg()
    began = time.monotonic()
    try:
        drain = run_drains(records, rounds, max_batch)
        sensors = run_sensors(area_sets, starts, load_s)
    except AccountingError as exc:
        print(f"bench_ring: MEASUREMENT INVALID, nothing written: {exc}", file=sys.stderr)
        return 2
    load_after = os.getloadavg()
    figures = {
        "quick": q,
        "drain": drain,
        "sensor": sensors,
        "loadavg_1m": {"before": load_before[0], "after": load_after[0]},
        # The sensor measured is the working tree: these differed from the commit.
        "uncommitted_sources": uncommitted_sources(),
        "wall_seconds": round(time.monotonic() - began, 1),
    }
    checks = dict(drain["checks"])
    for areas, s in sensors["area_sets"].items():
        checks.update({f"[{areas}] {k}": ok for k, ok in s["checks"].items()})
    figures["checks"] = checks
    figures["pass"] = all(checks.values())
    text = table(drain, sensors)
    text += (f"\n\nLoad average (1 min) before/after: {load_before[0]:.2f} / {load_after[0]:.2f}"
             f" on {os.cpu_count()} CPUs. All targets met: {'yes' if figures['pass'] else 'NO'}.")
    print(text)
    if not q or args.write:
        path = write_result("ring", figures, text)
        log(f"wrote {path} and {path.with_suffix('.md')}")
    return 0 if figures["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
