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

    python -m benchmarks.profile_sensor --replay exec-long

instead measures the user-space pipeline without the noise of a live run:
it records the ring's batches while one storm runs flat out (the sensor's
BPF programs, read as the sensor reads them, nothing else running), then
feeds them, several times over, to the sensor's own decoder, process
table, NDJSON encoding and a file write, timing each stage per event.
Twice: with the caches as the previous batch left them ("warm"), and with
a 32 MiB copy between batches ("cold"), which leaves the caches as a
storm sharing the machine leaves them between two of the sensor's reads.
The cold figure is the one a live sensor pays.
"""

from __future__ import annotations

import argparse
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from ringside._bpf import AREAS, Exclusions, LoadOptions, Programs
from ringside._cli import DEFAULT_EXCLUDED_PATHS
from ringside._decode import BatchDecoder
from ringside._proctable import ProcessTable
from ringside._ring import Batch, RingReader
from ringside._sensor import SensorConfig, read_host
from ringside._sinks import to_json, write_all
from ringside._stats import Stats
from ringside_schema import WireContext

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


def capture(mode: str, duration: float) -> list[Batch]:
    """The ring's batches while ``mode`` runs flat out, read as the sensor reads them."""
    binary = loadgen.build()
    work, storm = st.workspace("profile_sensor-")
    defaults = SensorConfig()
    programs = Programs(LoadOptions(
        tier="auto", areas=AREAS, require_all_areas=False, ring_size=64 << 20,
        self_tgid=os.getpid(), tty_budget=defaults.tty_budget,
        exclusions=Exclusions(path_prefixes=DEFAULT_EXCLUDED_PATHS)))
    batches: list[Batch] = []
    reader: RingReader | None = None
    try:
        programs.load()
        programs.set_wakeups(False)
        reader = RingReader(programs.ring_fd, programs.ring_size)
        gen = subprocess.Popen(loadgen.command(binary, mode, duration, None, storm),
                               stdout=subprocess.DEVNULL)
        while True:  # every read_interval, as the sensor reads while records flow
            done = gen.poll() is not None
            while (batch := reader.poll(defaults.max_batch_bytes)) is not None:
                batches.append(batch)
            if done:
                break
            time.sleep(defaults.read_interval)
        if gen.returncode:
            raise RuntimeError(f"the load generator failed ({gen.returncode})")
    finally:
        if reader is not None:
            reader.close()
        programs.close()
        st.release(work, storm)
    return batches


def replay(batches: list[Batch], out_path: Path, cold: bool, reps: int
           ) -> dict[str, float]:
    """µs per event of each stage (best of ``reps`` passes), fresh sensor state per pass.

    Also ``events``: how many events a pass decoded (and wrote to ``out_path``).
    """
    if cold:  # only cold passes copy between batches: 64 MiB warm ones do not need
        sweep_from, sweep_to = bytearray(32 << 20), bytearray(32 << 20)
    best: dict[str, float] = {}
    for _ in range(reps):
        ctx = WireContext(read_host(), "replay")
        table = ProcessTable(ctx, reduced=False)
        ctx.resolve_dir = table.resolve_dir
        decoder = BatchDecoder(ctx, table, Stats())
        spent = {"decode": 0.0, "encode": 0.0, "write": 0.0}
        events = 0
        with open(out_path, "wb") as out:
            for batch in batches:
                if cold:
                    sweep_to[:] = sweep_from
                t0 = time.perf_counter()
                decoded = decoder.decode(batch)
                t1 = time.perf_counter()
                lines = list(map(to_json, decoded))
                t2 = time.perf_counter()
                write_all(out.fileno(), lines)  # as the sensor's NdjsonSink writes a file
                t3 = time.perf_counter()
                spent["decode"] += t1 - t0
                spent["encode"] += t2 - t1
                spent["write"] += t3 - t2
                events += len(decoded)
        per_event = {k: 1e6 * v / events for k, v in spent.items()}
        per_event["total"] = sum(per_event.values())
        per_event["events"] = events
        if not best or per_event["total"] < best["total"]:
            best = per_event
    return best


def replay_main(mode: str, duration: float, reps: int) -> int:
    batches = capture(mode, duration)
    records = sum(len(b) for b in batches)
    if not records:
        print(f"{mode}: the ring held no records; nothing to replay", file=sys.stderr)
        return 1
    size = sum(len(b.data) for b in batches)
    print(f"{mode}: {records:,} records ({size / records:,.0f} bytes each) in "
          f"{len(batches)} batches of {records / len(batches):.0f}, read every "
          f"{SensorConfig().read_interval * 1000:.0f} ms over {duration:g} s")
    with tempfile.TemporaryDirectory(prefix="profile_sensor-") as tmp:
        out = Path(tmp) / "events.ndjson"
        rows = {label: replay(batches, out, cold, reps)
                for label, cold in (("warm", False), ("cold", True))}
    print(f"\nµs per event, best of {reps} passes (decode includes the process table):")
    print(f"{'caches':8} {'decode':>8} {'encode':>8} {'write':>8} {'total':>8}")
    for label, r in rows.items():
        print(f"{label:8} {r['decode']:8.2f} {r['encode']:8.2f} {r['write']:8.2f} "
              f"{r['total']:8.2f}")
    print(f"cold / warm: {rows['cold']['total'] / rows['warm']['total']:.2f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20_000, help="events/s asked")
    parser.add_argument("--mode", default="file", choices=loadgen.MODES, help="the storm")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--bpf-programs", metavar="MODE", choices=loadgen.MODES,
                        help="instead: kernel BPF time per program while MODE runs flat out")
    parser.add_argument("--replay", metavar="MODE", choices=loadgen.MODES,
                        help="instead: the user-space pipeline's µs per event on recorded "
                        "batches of MODE, warm and cold caches")
    parser.add_argument("--passes", type=int, default=3, help="replay passes (best is shown)")
    args = parser.parse_args(argv)
    if args.replay:
        return replay_main(args.replay, min(args.duration, 4.0), args.passes)
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
