"""The exec storms' slowdown under a sensor that keeps running, and what a CPU share costs.

    python -m benchmarks.steady_state [--storms exec-long,exec-long-shell,exec] [--pairs 60]
                                      [--duration 1] [--no-calibration]
                                      [--quick [--write]]

bench_suite judges the exec targets on pairs of 5 s windows, each Ringside
window under a sensor started for it.  A start takes about 4 s of compiling,
so a run affords few pairs, and every window measures a sensor that has just
started.  Here one ``ringside run --pause-signals`` serves the whole run:

1. **Paired windows.**  For each storm, ``--pairs`` pairs of short windows
   back to back, their order alternating: one with the sensor paused
   (SIGUSR1: its BPF programs detached, the process idle, so the machine
   runs as without it) and one with it attached (SIGUSR2).  The slowdown is
   the mean of the pairs' ratios, with its standard error and one-sided 95 %
   upper bound.  The sensor's CPU (user + system of its process) is read
   over each window, and every attached window's accounting must close
   (generated = delivered + counted drops).
2. **Calibration** (unless ``--no-calibration``).  With the sensor paused,
   the same pairs against a process that does nothing but spin in Python for
   the sensor's measured share of a CPU, in bursts at its read interval,
   under its CPU policy (SCHED_BATCH).  What that costs the storm is what
   any process using that much CPU beside it costs on this machine; the
   rest of the sensor's slowdown is its own: the kernel side (tracepoints
   and BPF programs), and how its work differs from spinning.

Windows of a storm with nothing attached vary by 5-9 % here whether 0.5, 1
or 3 s long, so many short pairs resolve a slowdown at least as well as a
few long ones in the same time.

Results go to benchmarks/results/steady_state.{json,md}; ``--quick`` is a
smoke run that only prints (``--write`` writes it anyway).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ringside import SensorConfig

from benchmarks import _storm as st
from benchmarks import loadgen
from benchmarks._common import markdown_table, report

STORMS = ("exec-long", "exec-long-shell", "exec")
# ringside run's default --read-interval: the spinner bursts as often as the sensor reads.
READ_INTERVAL_S = SensorConfig().read_interval

# The calibration's load: busy for BUSY seconds in every PERIOD, as a batch task.
SPINNER = """
import os, sys, time
os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
busy, period = float(sys.argv[1]), float(sys.argv[2])
while True:
    start = time.perf_counter()
    while time.perf_counter() - start < busy:
        pass
    time.sleep(max(0.0, period - busy))
"""


def set_paused(arm: st.RingsideArm, paused: bool, timeout: float = 15.0) -> None:
    """Pause or resume the sensor, and wait until its metrics say it is done."""
    assert arm.proc is not None
    arm.proc.send_signal(signal.SIGUSR1 if paused else signal.SIGUSR2)
    deadline = time.monotonic() + timeout
    while arm.scrape().total("ringside_paused") != int(paused):
        if time.monotonic() > deadline:
            raise st.ArmError(f"ringside did not {'pause' if paused else 'resume'} "
                              f"within {timeout:.0f} s")
        time.sleep(0.02)


def timed_window(binary: Path, storm: Path, mode: str, duration: float,
                 pids: list[int]) -> dict[str, Any]:
    """One storm run; the CPU the processes ``pids`` used meanwhile."""
    cpu0, t0 = sum(st.proc_cpu(p) for p in pids), time.monotonic()
    gen = loadgen.run(binary, mode, duration, None, storm)
    elapsed = time.monotonic() - t0
    cpu = sum(st.proc_cpu(p) for p in pids) - cpu0
    return {"gen": gen, "cpu_pct": 100.0 * cpu / elapsed if elapsed else 0.0}


def sensor_pairs(arm: st.RingsideArm, binary: Path, storm: Path, mode: str, pairs: int,
                 duration: float) -> list[dict[str, Any]]:
    out = []
    for i in range(pairs):
        for name in ("paused", "attached") if i % 2 == 0 else ("attached", "paused"):
            set_paused(arm, name == "paused")
            if name == "attached":
                w = st.run_window(arm, binary, mode, duration, None, storm)
                acc = st.account(w)
                row = {"ops_per_s": w["gen"]["ops_per_s"], "cpu_pct": w["agent_cpu_pct"],
                       "generated": acc["generated"], "delivered": acc["delivered"],
                       "lost": acc["lost"]}
            else:
                t = timed_window(binary, storm, mode, duration, arm.pids())
                row = {"ops_per_s": t["gen"]["ops_per_s"], "cpu_pct": t["cpu_pct"]}
            out.append({"phase": "sensor", "mode": mode, "pair": i, "arm": name, **row})
        if (i + 1) % 10 == 0 or i + 1 == pairs:
            st.log(f"  {mode}: {i + 1}/{pairs} pairs")
    return out


def spinner_pairs(binary: Path, storm: Path, mode: str, pairs: int, duration: float,
                  share: float) -> list[dict[str, Any]]:
    busy = READ_INTERVAL_S * min(share, 1.0)
    spinner = subprocess.Popen([sys.executable, "-c", SPINNER, f"{busy:.6f}",
                                f"{READ_INTERVAL_S:g}"])
    out = []
    try:
        os.kill(spinner.pid, signal.SIGSTOP)
        for i in range(pairs):
            for name in ("stopped", "spinning") if i % 2 == 0 else ("spinning", "stopped"):
                os.kill(spinner.pid, signal.SIGCONT if name == "spinning" else signal.SIGSTOP)
                t = timed_window(binary, storm, mode, duration, [spinner.pid])
                out.append({"phase": "spinner", "mode": mode, "pair": i, "arm": name,
                            "ops_per_s": t["gen"]["ops_per_s"], "cpu_pct": t["cpu_pct"]})
    finally:
        spinner.kill()
        spinner.wait()
    return out


def pair_stats(windows: list[dict[str, Any]], phase: str, mode: str, base: str,
               loaded: str) -> dict[str, Any] | None:
    """Mean slowdown of ``loaded`` against ``base`` over the pairs, with its error."""
    by_pair: dict[int, dict[str, dict[str, Any]]] = {}
    for w in windows:
        if w["phase"] == phase and w["mode"] == mode:
            by_pair.setdefault(w["pair"], {})[w["arm"]] = w
    pairs = [p for p in by_pair.values() if base in p and loaded in p]
    if len(pairs) < 2:
        return None
    ratios = [p[loaded]["ops_per_s"] / p[base]["ops_per_s"] for p in pairs]
    return {**st.paired_slowdown(ratios),
            "cpu_pct": sum(p[loaded]["cpu_pct"] for p in pairs) / len(pairs),
            "cpu_pct_base": sum(p[base]["cpu_pct"] for p in pairs) / len(pairs),
            "ops_per_s_base": sum(p[base]["ops_per_s"] for p in pairs) / len(pairs)}


def figures(windows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in dict.fromkeys(w["mode"] for w in windows):
        sensor = pair_stats(windows, "sensor", mode, "paused", "attached")
        spinner = pair_stats(windows, "spinner", mode, "stopped", "spinning")
        mine = [w for w in windows if w["mode"] == mode and w["arm"] == "attached"]
        out[mode] = {
            "sensor": sensor, "spinner": spinner,
            "generated": sum(w["generated"] for w in mine),
            "delivered": sum(w["delivered"] for w in mine),
            "lost": sum(w["lost"] for w in mine),
        }
    return out


def pct(stats: dict[str, Any] | None, key: str = "slowdown") -> str:
    if stats is None:
        return "–"
    if key == "slowdown":
        return f"{100 * stats['slowdown']:.1f} % ± {100 * stats['se']:.1f}"
    return f"{100 * stats[key]:.1f} %"


def table(figs: dict[str, Any], duration: float) -> str:
    rows = []
    for mode, f in figs.items():
        s, c = f["sensor"], f["spinner"]
        rows.append([
            mode, s["pairs"] if s else 0, pct(s), pct(s, "upper95"),
            f"{s['cpu_pct']:.1f} % ({s['cpu_pct_base']:.2f} % paused)" if s else "–",
            f"{pct(c)} at {c['cpu_pct']:.1f} %" if c else "–",
            f"{f['lost']:,} / {f['generated']:,}",
        ])
    return markdown_table(
        ["storm", "pairs", f"slowdown, attached vs paused ({duration:g} s windows)",
         "95 % upper bound", "sensor CPU attached", "a spinner's slowdown at its CPU",
         "lost / generated"], rows)


def run(modes: list[str], pairs: int, duration: float, calibrate: bool) -> list[dict[str, Any]]:
    binary = loadgen.build()
    work, storm = st.workspace("ringside-steady-")
    arm = st.RingsideArm(work, extra=["--pause-signals"], live=False)
    windows: list[dict[str, Any]] = []
    try:
        arm.start()
        try:
            for mode in modes:
                st.log(f"{mode}: {pairs} pairs of {duration:g} s, paused and attached")
                windows += sensor_pairs(arm, binary, storm, mode, pairs, duration)
            if calibrate:
                set_paused(arm, True)
                for mode in modes:
                    s = pair_stats(windows, "sensor", mode, "paused", "attached")
                    assert s is not None
                    share = s["cpu_pct"] / 100
                    st.log(f"{mode}: {pairs} pairs against a spinner at {100 * share:.1f} % "
                           "of a CPU, the sensor paused")
                    windows += spinner_pairs(binary, storm, mode, pairs, duration, share)
        finally:
            arm.stop()
    finally:
        st.release(work, storm)
    return windows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storms", default=",".join(STORMS),
                        help=f"comma-separated, of {', '.join(STORMS)}")
    parser.add_argument("--pairs", type=int, default=None, help="default: 60; --quick: 6")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds per window (default: 1; --quick: 0.5)")
    parser.add_argument("--no-calibration", action="store_true",
                        help="leave out the spinner's pairs")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run; writes nothing unless --write")
    parser.add_argument("--write", action="store_true", help="with --quick: write anyway")
    args = parser.parse_args(argv)
    if args.pairs is None:
        args.pairs = 6 if args.quick else 60
    if args.duration is None:
        args.duration = 0.5 if args.quick else 1.0
    modes = [m for m in args.storms.split(",") if m]
    if not modes or set(modes) - set(STORMS) or args.pairs < 2 or args.duration <= 0:
        parser.error(f"--storms: some of {', '.join(STORMS)}; --pairs: at least 2; "
                     "--duration: more than 0")
    try:
        windows = run(modes, args.pairs, args.duration, not args.no_calibration)
    except (st.AccountingError, st.ArmError) as exc:
        print(f"steady_state: the measurement failed: {exc}", file=sys.stderr)
        return 2
    figs = figures(windows)
    report("steady_state", "Exec storms under a running sensor, paused and attached",
           {"figures": figs, "windows": windows}, table(figs, args.duration),
           write=args.write or not args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
