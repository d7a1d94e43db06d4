"""What an exec storm's slowdown is made of: the kernel side, and the sensor's user space.

    python -m benchmarks.exec_split [--pairs N] [--duration S] [--mode exec|exec-long]
                                    [--parts whole,kernel,user,tracepoints]
                                    [--policies batch,normal] [--ring-size MIB]

Paired measurements of one storm (benchmarks/loadgen, flat out), each
pair's two windows back to back, their order alternating:

1. **whole** (``--parts whole``): no sensor, against a sensor started for the
   pair and running as ``ringside run`` does, its NDJSON going to a file.
   The exec storm target (< 3 %) with a standard error, which bench_suite's
   median of a few windows cannot give.
2. **kernel side**: no sensor, against a sensor stopped with SIGSTOP right
   after it started: its BPF programs attached and writing the ring, its
   user space doing nothing.  Each pair starts a sensor of its own.
3. **user space**, once per CPU policy: the same sensor running, against it
   stopped (SIGSTOP, then SIGCONT and a pause for it to drain what the ring
   gathered).  One start per policy; only the user space's work differs
   between the two windows of a pair.
4. **tracepoints** (``--parts tracepoints``): no sensor, against one empty
   BPF program on ``syscalls:sys_enter_openat`` and nothing else.  Once any
   syscall tracepoint has a program, every syscall of every task takes the
   kernel's traced path; this is that floor, which the sensor pays for its
   file and terminal events (this kernel has no cheaper hook for them).

Reported: the mean ratio of each pair (with / without) as a slowdown, with
its standard error, and the sensor's CPU in the running windows.  The
ratios multiply: kernel side x user space ~ the whole slowdown.  Outside the
whole part the sensor writes to ``/dev/null`` (nothing here reads it).
A stopped sensor's 16 MiB ring fills about 1.3 s into an exec-long window,
after which its BPF programs stop copying records into it; ``--ring-size
512`` gives the kernel part a ring that does not fill.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import _storm as st
from benchmarks import loadgen

# The least a syscall tracepoint program can be.
EMPTY_SYSCALL_PROGRAM = "TRACEPOINT_PROBE(syscalls, sys_enter_openat) { return 0; }"


def start_sensor(policy: str, output: str = "/dev/null",
                 ring_mib: int | None = None) -> subprocess.Popen[bytes]:
    """``ringside run`` with its NDJSON to ``output``; ``ring_mib``: its --ring-size
    (None: ringside's default)."""
    err = tempfile.NamedTemporaryFile(prefix="exec_split-", suffix=".stderr", delete=False)
    ring = [] if ring_mib is None else ["--ring-size", str(ring_mib)]
    proc = subprocess.Popen([str(st.RINGSIDE), "--log-level", "info", "run", "--output",
                             output, "--cpu-policy", policy, *ring],
                            stdout=subprocess.DEVNULL, stderr=err)
    path = Path(err.name)
    try:
        st.wait_running(proc, path)
    finally:
        err.close()
        path.unlink()
    time.sleep(1.0)
    return proc


def stop_sensor(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGCONT)
    st.interrupt(proc, 60)


def storm(binary: Path, mode: str, duration: float) -> float:
    out = subprocess.run(loadgen.command(binary, mode, duration), capture_output=True,
                         text=True, check=True, timeout=duration + 60).stdout
    r = json.loads(out)
    return float(r["ops"] / (r["elapsed_ns"] / 1e9))


def frozen_window(binary: Path, proc: subprocess.Popen[bytes], mode: str,
                  duration: float) -> float:
    proc.send_signal(signal.SIGSTOP)
    time.sleep(0.1)
    try:
        return storm(binary, mode, duration)
    finally:
        proc.send_signal(signal.SIGCONT)


def summary(ratios: list[float]) -> dict[str, float]:
    mean, se = st.mean_se(ratios)
    return {"slowdown_pct": 100 * (1 - mean), "se_pct": 100 * se, "pairs": len(ratios)}


def paired(binary: Path, mode: str, duration: float, pairs: int, label: str,
           observe: Callable[[], float]) -> dict[str, float]:
    """Pairs of a bare window and one ``observe()`` runs (its ops/s), order alternating."""
    ratios = []
    for i in range(pairs):
        if not i % 2:
            bare = storm(binary, mode, duration)
        observed = observe()
        if i % 2:
            time.sleep(0.5)
            bare = storm(binary, mode, duration)
        ratios.append(observed / bare)
        st.log(f"  {label}, pair {i + 1}: {observed / bare:.3f}")
    return summary(ratios)


def against_bare(binary: Path, mode: str, duration: float, pairs: int,
                 frozen: bool, ring_mib: int | None = None) -> dict[str, float]:
    """Pairs of a window without a sensor and one with a sensor started for it.

    ``frozen``: the sensor is stopped (SIGSTOP) during its window, so only its
    BPF programs run: the kernel side.  Otherwise it runs as ``ringside run``
    does, writing its NDJSON to a file beside the benchmark's (as
    bench_suite's windows do): the whole slowdown.
    """
    with tempfile.TemporaryDirectory(prefix="exec_split-", dir=tempfile.gettempdir()) as tmp:
        out = str(Path(tmp) / "events.ndjson")

        def observe() -> float:
            proc = start_sensor("batch", "/dev/null" if frozen else out, ring_mib)
            try:
                if frozen:
                    return frozen_window(binary, proc, mode, duration)
                return storm(binary, mode, duration)
            finally:
                stop_sensor(proc)

        return paired(binary, mode, duration, pairs,
                      "kernel side" if frozen else "whole", observe)


def tracepoints_only(binary: Path, mode: str, duration: float,
                     pairs: int) -> dict[str, float]:
    """Pairs of a window without BPF and one with EMPTY_SYSCALL_PROGRAM attached."""
    from bcc import BPF  # the system's bcc, as the sensor's

    def observe() -> float:
        bpf = BPF(text=EMPTY_SYSCALL_PROGRAM)
        try:
            time.sleep(0.5)
            return storm(binary, mode, duration)
        finally:
            bpf.cleanup()

    return paired(binary, mode, duration, pairs, "tracepoints", observe)


def user_space(binary: Path, mode: str, duration: float, pairs: int,
               policy: str) -> dict[str, float]:
    proc = start_sensor(policy)
    ratios, cpu = [], []
    try:
        for i in range(pairs):
            for running in ((True, False) if i % 2 else (False, True)):
                if running:
                    c0, t0 = st.proc_cpu(proc.pid), time.monotonic()
                    run = storm(binary, mode, duration)
                    cpu.append(100 * (st.proc_cpu(proc.pid) - c0) / (time.monotonic() - t0))
                else:
                    frozen = frozen_window(binary, proc, mode, duration)
                    time.sleep(1.5)  # let it drain what the ring gathered
            ratios.append(run / frozen)
            st.log(f"  user space ({policy}), pair {i + 1}: {run / frozen:.3f}")
    finally:
        stop_sensor(proc)
    return {**summary(ratios), "sensor_cpu_pct": statistics.median(cpu)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--duration", type=float, default=2.5, help="seconds per window")
    parser.add_argument("--mode", default="exec", choices=("exec", "exec-long"))
    parser.add_argument("--policies", default="batch,normal",
                        help="CPU policies of the user-space part (ringside run --cpu-policy), "
                        "measured in this order")
    parser.add_argument("--parts", default="kernel,user",
                        help="comma-separated: whole (no sensor / sensor running), kernel "
                        "(no sensor / sensor stopped), user (running / stopped, per policy), "
                        "tracepoints (no BPF / one empty syscall tracepoint program)")
    parser.add_argument("--ring-size", type=int, default=None, metavar="MIB",
                        help="the sensor's ring in the whole and kernel parts (ringside run "
                        "--ring-size; default: ringside's own, 16)")
    parser.add_argument("--no-kernel", action="store_true",
                        help="only the user-space part (the same as --parts user)")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    if parts - {"whole", "kernel", "user", "tracepoints"}:
        parser.error(f"unknown part(s) in --parts {args.parts!r}: "
                     "choose whole, kernel, user, tracepoints")
    if args.no_kernel:
        parts = {"user"}
    if os.geteuid() != 0:
        print("exec_split needs root (it loads BPF programs)", file=sys.stderr)
        return 2
    binary = loadgen.build()
    results: dict[str, dict[str, float]] = {}
    if "whole" in parts:
        st.log(f"whole: {args.pairs} pairs, no sensor / sensor running")
        results["whole (sensor running, NDJSON to a file)"] = against_bare(
            binary, args.mode, args.duration, args.pairs, frozen=False, ring_mib=args.ring_size)
    if "kernel" in parts:
        st.log(f"kernel side: {args.pairs} pairs, no sensor / sensor stopped")
        results["kernel side (BPF programs attached, user space stopped)"] = against_bare(
            binary, args.mode, args.duration, args.pairs, frozen=True, ring_mib=args.ring_size)
    if "tracepoints" in parts:
        st.log(f"tracepoints: {args.pairs} pairs, no BPF / an empty sys_enter_openat program")
        results["syscall tracepoints (one empty program)"] = tracepoints_only(
            binary, args.mode, args.duration, args.pairs)
    for policy in args.policies.split(",") if "user" in parts else ():
        st.log(f"user space, {policy}: {args.pairs} pairs, running / stopped")
        results[f"user space, --cpu-policy {policy}"] = user_space(
            binary, args.mode, args.duration, args.pairs, policy)
    print(f"\n{args.mode} storm, {args.duration:g} s windows")
    print(f"{'part':58} {'slowdown':>9} {'± se':>7} {'pairs':>6} {'sensor CPU':>11}")
    for name, r in results.items():
        cpu = f"{r['sensor_cpu_pct']:.1f} %" if "sensor_cpu_pct" in r else "–"
        print(f"{name:58} {r['slowdown_pct']:8.1f} % {r['se_pct']:6.1f} {r['pairs']:6d} "
              f"{cpu:>11}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
