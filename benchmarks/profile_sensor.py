"""Where the sensor's user-space time goes under a file storm.

    python -m benchmarks.profile_sensor [--rate EVENTS_PER_S] [--duration S]

Two windows of the same file storm (benchmarks/loadgen, in a tmpfs), at a
rate the sensor keeps up with (default 20,000 events/s), one after the other:

1. ``ringside run`` as is: its CPU seconds per delivered event, from
   /proc/<pid>/stat (no profiler: this is the real cost);
2. the same under cProfile: how that time splits between the ring reader,
   decoding, the process table, serialization and the sink.  cProfile slows
   Python code by a large factor, unevenly (function calls cost most), so
   only the shares are reported, not the profiled times.

The accounting of both windows is checked as in the benchmarks.

    python -m benchmarks.profile_sensor --bpf-programs exec

instead shows the kernel-side BPF time per op, program by program, while one
storm runs flat out (kernel.bpf_stats_enabled=1 for the run).
"""

from __future__ import annotations

import argparse
import pstats
import sys
from collections import Counter

from benchmarks import _storm as st
from benchmarks import loadgen

GROUPS = (  # first match wins: (substring of "file:function", group)
    ("_containers", "container metadata stage"),
    ("_ring.py", "ring reader (copy out, header walk)"),
    ("_proctable.py", "process table"),
    ("orjson.dumps", "serialization (orjson + hook)"),
    ("codec.py", "serialization (orjson + hook)"),
    ("_sinks.py", "sink (join, write)"),
    ("method 'join' of 'bytes'", "sink (join, write)"),
    ("method 'write'", "sink (join, write)"),
    ("ringside_schema", "decoding (ringside_schema)"),
    ("_decode.py", "decoding (batch loop)"),
    ("unpack_from", "decoding (ringside_schema)"),
    ("_sensor.py", "pump and reader callbacks"),
    ("_metrics.py", "metrics endpoint"),
    ("bcc/", "bcc (compile, attach, maps)"),
)


def shares(path: str) -> tuple[Counter[str], float]:
    stats = pstats.Stats(path)
    groups: Counter[str] = Counter()
    total = 0.0
    for (filename, _line, func), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        key = f"{filename}:{func}"
        total += tt
        for needle, group in GROUPS:
            if needle in key:
                groups[group] += tt
                break
        else:
            groups["other (event loop, imports, start-up)"] += tt
    return groups, total


def bpf_programs(mode: str, duration: float) -> int:
    """Kernel BPF time per program of the sensor while one storm runs flat out."""
    binary = loadgen.build()
    work, storm = st.workspace("profile_sensor-")
    arm = st.RingsideArm(work)
    try:
        arm.start()
        assert arm.proc is not None
        with st.bpf_stats(True):
            before = st.bpf_prog_table(arm.proc.pid)
            gen = loadgen.run(binary, mode, duration, None, storm)
            after = st.bpf_prog_table(arm.proc.pid)
        names = st.bpf_prog_names(list(after))
    finally:
        arm.stop()
        st.release(work, storm)
    rows = []
    for pid, (ns, runs) in after.items():
        ns0, runs0 = before.get(pid, (0, 0))
        if runs - runs0:
            rows.append((ns - ns0, runs - runs0, names.get(pid, "?")))
    total = sum(r[0] for r in rows)
    print(f"{mode}: {gen['ops']:,} ops in {gen['elapsed_ns'] / 1e9:.1f} s; sensor BPF time "
          f"{total / gen['ops']:,.0f} ns per op")
    print(f"{'ns/op':>10} {'runs/op':>8} {'ns/run':>8}  program")
    for ns, runs, name in sorted(rows, reverse=True):
        print(f"{ns / gen['ops']:10,.0f} {runs / gen['ops']:8.2f} {ns / runs:8,.0f}  {name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20_000, help="events/s asked")
    parser.add_argument("--mode", default="file", choices=loadgen.MODES, help="the storm")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--bpf-programs", metavar="MODE", choices=loadgen.MODES,
                        help="instead: kernel BPF time per program while MODE runs flat out")
    args = parser.parse_args(argv)
    if args.bpf_programs:
        return bpf_programs(args.bpf_programs, min(args.duration, 4.0))
    binary = loadgen.build()
    work, storm = st.workspace("profile_sensor-")
    ops = args.rate / loadgen.events_per_op(args.mode)
    out = {}
    try:
        for label, prefix in (("plain", []),
                              ("cprofile", [sys.executable, "-m", "cProfile", "-o",
                                            str(work / "sensor.prof")])):
            arm = st.RingsideArm(work, label=f"ringside-{label}", prefix=prefix)
            arm.start()
            try:
                w = st.run_window(arm, binary, args.mode, args.duration, ops, storm)
                acc = st.account(w)
            finally:
                arm.stop()
            out[label] = (w, acc)
            st.log(f"{label}: {acc['generated'] / (w['gen']['elapsed_ns'] / 1e9):,.0f} events/s "
                   "generated, "
                   f"{acc['delivered']:,} delivered, {acc['lost']:,} lost, sensor CPU "
                   f"{w['agent_cpu_pct']:.0f} %, {w['agent_us_per_event']:.1f} µs/event")
        groups, total = shares(str(work / "sensor.prof"))
    finally:
        st.release(work, storm)
    w, acc = out["plain"]
    print(f"sensor CPU per delivered event, unprofiled: {w['agent_us_per_event']:.1f} µs "
          f"({w['delivered_all']:,} events in the window, {w['agent_cpu_pct']:.0f} % of a "
          f"core at {args.rate:,.0f} events/s asked); 100,000 events/s would need "
          f"{w['agent_us_per_event'] * 10:.0f} % of a core")
    idle = {"other (event loop, imports, start-up)", "bcc (compile, attach, maps)"}
    pipeline = sum(t for g, t in groups.items() if g not in idle)
    print("\nshare of the pipeline's time under cProfile (tottime; start-up, bcc and the "
          "event loop's own time, which includes waiting, left out):")
    for group, t in groups.most_common():
        if group not in idle:
            print(f"  {100 * t / pipeline:5.1f} %  {group}")
    print(f"  (left out: {', '.join(f'{g} {t:.1f} s' for g, t in groups.items() if g in idle)}"
          f" of {total:.1f} s profiled)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
