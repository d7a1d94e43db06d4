"""What ``ringside run --read-interval`` trades: the sensor's CPU against latency.

    python -m benchmarks.read_interval [--intervals 10,25,50,100]
                                       [--storms exec-long,exec,exec-steady,file]
                                       [--rounds 3] [--duration 10] [--file-rate 10000]
                                       [--steady-rate 50]
                                       [--quick [--write]]

Each window starts a sensor with one read interval (``ringside run
--read-interval MS``, its NDJSON read from a pipe as it comes, as
bench_suite's latency windows do) and runs one storm (benchmarks/loadgen):
the exec storms flat out; ``exec-steady``, the plain exec storm at
``--steady-rate`` ops/s (a busy host's steady trickle, not a storm); the
file storm at ``--file-rate`` ops/s, well under what the sensor can take, so
that CPU per op compares like with like.
The intervals take turns within a round, the first one rotating between
rounds, so each sees the same machine noise.

Reported per storm and interval, as medians over rounds: the sensor's CPU
(user + system of its process) per storm op and per event, as a share of
one CPU, the storm's ops/s, and the latency from the kernel timestamp to
arrival, p50 and p99.  Every window's accounting must close (generated =
delivered + counted drops), or the run stops with exit status 2.

Results go to benchmarks/results/read_interval.{json,md}; ``--quick`` is a
smoke run that only prints (``--write`` writes it anyway).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from benchmarks import _storm as st
from benchmarks import loadgen
from benchmarks._common import report, rotated

STORMS = ("exec-long", "exec", "exec-steady", "file")


def load(storm_name: str, file_rate: float, steady_rate: float) -> tuple[str, float | None]:
    """The generator mode and rate (None: flat out) of a storm."""
    if storm_name == "exec-steady":
        return "exec", steady_rate
    if storm_name == "file":
        return "file", file_rate
    return storm_name, None


def window(binary: Path, work: Path, storm: Path, mode: str, interval_ms: float,
           duration: float, file_rate: float, steady_rate: float) -> dict[str, Any]:
    arm = st.RingsideArm(work, extra=["--read-interval", f"{interval_ms:g}"],
                         label=f"ringside-{interval_ms:g}ms")
    gen_mode, rate = load(mode, file_rate, steady_rate)
    arm.start()
    try:
        w = st.run_window(arm, binary, gen_mode, duration, rate, storm)
    finally:
        arm.stop()
    acc = st.account(w)
    gen = w["gen"]
    return {
        "mode": mode, "interval_ms": interval_ms, "ops": gen["ops"],
        "ops_per_s": gen["ops_per_s"], "sensor_cpu_pct": w["agent_cpu_pct"],
        "sensor_us_per_op": 1e6 * w["agent_cpu_s"] / gen["ops"] if gen["ops"] else None,
        "sensor_us_per_event": w["agent_us_per_event"],
        "latency_ms_p50": w["latency_ms_p50"], "latency_ms_p99": w["latency_ms_p99"],
        "generated": acc["generated"], "delivered": acc["delivered"], "lost": acc["lost"],
    }


def run(intervals: list[float], modes: list[str], rounds: int, duration: float,
        file_rate: float, steady_rate: float) -> list[dict[str, Any]]:
    binary = loadgen.build()
    work, storm = st.workspace("ringside-read-interval-")
    windows = []
    try:
        for r in range(rounds):
            for mode in modes:
                for ms in rotated(intervals, r):
                    w = window(binary, work, storm, mode, ms, duration, file_rate, steady_rate)
                    w["round"] = r
                    windows.append(w)
                    st.log(f"round {r + 1} {mode} {ms:g} ms: {w['sensor_cpu_pct']:.1f} % CPU, "
                           f"{st.fmt(w['sensor_us_per_op'], 1)} us/op, "
                           f"{w['ops_per_s']:,.0f} ops/s, p50 {st.fmt(w['latency_ms_p50'], 1)}"
                           f" ms, p99 {st.fmt(w['latency_ms_p99'], 1)} ms")
    finally:
        st.release(work, storm)
    return windows


KEYS = ("sensor_us_per_op", "sensor_us_per_event", "sensor_cpu_pct", "ops_per_s",
        "latency_ms_p50", "latency_ms_p99")


def figures(windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for mode in dict.fromkeys(w["mode"] for w in windows):
        for ms in dict.fromkeys(w["interval_ms"] for w in windows):
            ws = [w for w in windows if w["mode"] == mode and w["interval_ms"] == ms]
            row: dict[str, Any] = {"mode": mode, "interval_ms": ms, "windows": len(ws)}
            for key in KEYS:
                row[key] = st.spread([w[key] for w in ws])
            row["lost"] = sum(w["lost"] for w in ws)
            row["generated"] = sum(w["generated"] for w in ws)
            out.append(row)
    return out


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| storm | read interval | sensor CPU µs/op | µs/event | sensor CPU | storm ops/s "
             "| latency p50 | p99 | lost / generated |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        med = {k: row[k]["median"] for k in KEYS}
        lines.append(
            f"| {row['mode']} | {row['interval_ms']:g} ms "
            f"| {st.fmt_spread(row['sensor_us_per_op'], 1)} "
            f"| {st.fmt(med['sensor_us_per_event'], 1)} "
            f"| {st.fmt(med['sensor_cpu_pct'], 1, ' %')} "
            f"| {st.fmt(med['ops_per_s'])} "
            f"| {st.fmt(med['latency_ms_p50'], 1, ' ms')} "
            f"| {st.fmt(med['latency_ms_p99'], 1, ' ms')} "
            f"| {row['lost']:,} / {row['generated']:,} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--intervals", default=None,
                        help="read intervals in ms, comma-separated (default: 10,25,50,100; "
                        "--quick: 10,100)")
    parser.add_argument("--storms", default=",".join(STORMS),
                        help=f"comma-separated, of {', '.join(STORMS)}")
    parser.add_argument("--rounds", type=int, default=None, help="default: 3; --quick: 1")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds per window (default: 10; --quick: 3)")
    parser.add_argument("--file-rate", type=float, default=10000.0,
                        help="the file storm's ops/s (3 events an op; default: 10000)")
    parser.add_argument("--steady-rate", type=float, default=50.0,
                        help="exec-steady's ops/s (3 events an op; default: 50)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 1 round of 3 s windows at 10 and 100 ms unless "
                        "given otherwise; writes nothing unless --write")
    parser.add_argument("--write", action="store_true", help="with --quick: write anyway")
    args = parser.parse_args(argv)
    quick = {"rounds": 1, "duration": 3.0, "intervals": "10,100"}
    full = {"rounds": 3, "duration": 10.0, "intervals": "10,25,50,100"}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    try:
        intervals = [float(x) for x in args.intervals.split(",") if x]
    except ValueError:
        parser.error(f"--intervals {args.intervals!r}: milliseconds, comma-separated")
    modes = [m for m in args.storms.split(",") if m]
    if set(modes) - set(STORMS) or not modes or not intervals or args.rounds < 1:
        parser.error(f"--storms: some of {', '.join(STORMS)}; --intervals and --rounds: "
                     "at least one")
    try:
        windows = run(intervals, modes, args.rounds, args.duration, args.file_rate,
                      args.steady_rate)
    except (st.AccountingError, st.ArmError) as exc:
        print(f"read_interval: the measurement failed: {exc}", file=sys.stderr)
        return 2
    rows = figures(windows)
    report("read_interval", "Read interval: the sensor's CPU against latency",
           {"figures": rows, "windows": windows}, table(rows), write=args.write or not args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
