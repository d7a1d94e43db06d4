"""Drop rate and overhead, side by side with auditd and bpftrace (issue 6).

    python -m benchmarks.bench_suite            # full run (~40 min), writes results/suite.*
    python -m benchmarks.bench_suite --quick    # < 5 min, writes results/suite-quick.*

(``make bench`` and ``make bench-quick`` run these.)

Workloads (benchmarks/loadgen, each flat out for a fixed time, counting
exactly what it did):

    exec-long  fork + exec of ls with one 10,000-byte argument (Elastic's
               ``while true; do ls $(python3 -c 'print("a"*10000)'); done``,
               without the python3 that builds the argument)
    exec-long-shell
               that loop as written, run by bash: per op python3 builds the
               argument and ls gets it (2 forks, 2 execs, 2 exits)
    exec       fork + exec of /bin/true
    file       create + write + close + rename + delete, in a tmpfs
    open-ro    read-only open + close (filtered in the kernel by Ringside)
    tty        64-byte writes to a pty (default 1 MiB/s budget per process)
    mixed      per op: 1 exec, 10 file ops, 100 read-only opens, 10 pty writes

Arms, taking turns (the first one rotates): nothing attached;
Ringside (``ringside run --events process,file,tty --metrics-port 0 --output
FILE``); auditd (execve rule + a ``-p wa`` watch on
the storm directory, backlog 8192); bpftrace (tracepoint one-liners: exec
with argv, fork, exit, write-opens, renames, unlinks, pty writes).  Each
observer writes its own file (auditd's log, bpftrace -o, Ringside --output),
and this benchmark reads it after the window: nothing of ours runs beside
the workload but the load generator and a sampler of /proc every 0.5 s.

Interleaving: by default every window is an arm of its own, started for
it: for each round and workload the four arms take turns, so the bare and
the observed windows of a workload are seconds apart (an exec storm's rate
drifts by more than the 3 % target over the minute an arm takes to run
every workload).  ``--interleave round`` (``--quick``'s default, for fewer
starts) runs every workload under one start of an arm instead.

Measured per window: ops/s (slowdown = per-round ratio with / without);
CPU of the observer's process(es) (auditd: auditd + kauditd); resident
memory; for Ringside, the generator's events delivered vs generated, kernel
and user-space drops (from its Prometheus endpoint); for the peers, what they
logged of the generator and what they lost (auditctl -s "lost"; bpftrace's
"Lost N events").  In the last round, extra windows with
kernel.bpf_stats_enabled=1 give the kernel-side BPF time per op (Ringside and
bpftrace; the statistics cost time themselves, so the measured windows run
without them).  Latency from the kernel timestamp to arrival (p50/p99) needs
arrival times, so it comes from windows of its own after the rounds: one
Ringside start with its NDJSON on a pipe that a thread of this benchmark
reads as it comes (that reader's CPU would weigh on the slowdown, so these
windows are not used for it).  Saturation: the file storm (and the pty writer with no
budget) at doubling event rates until the first loss.

The exec targets (< 3 %) are judged on windows of their own, after the
rounds: ``--pairs`` pairs per exec storm (16, as long as the rounds'
windows; none with --quick, whose exec targets are reported from the
rounds and not judged: see rounds_verdict), a window with nothing attached and one under
a Ringside started for it, back to back, their order alternating.
Reported: the mean of the pairs' ratios as a slowdown, its standard error,
and its one-sided 95 % bounds (Student's t); a target passes only when the
upper bound is under 3 %, fails when the lower one is over it, and is
UNRESOLVED (not met) when 3 % lies between them.  A single window here
varies by about 3 %, so the median of five rounds cannot tell a 2 %
slowdown from a 4 % one.  The rounds' median stays in the
table, side by side with the peers (measured in the rounds only).

Every Ringside window's accounting must close (see benchmarks/_storm.py);
if one does not: "ACCOUNTING DOES NOT CLOSE", exit 2, nothing written.
Exit status: 0 all targets met, 1 a target missed or not measured, 2 invalid.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks import _storm as st
from benchmarks import loadgen
from benchmarks._common import RESULTS, machine, markdown_table, rewrite_result, write_result

WORKLOADS = ("exec-long", "exec-long-shell", "exec", "file", "open-ro", "tty", "mixed")
ARMS = ("none", "ringside", "auditd", "bpftrace")
TARGET_EXEC_SLOWDOWN = 0.03
# The exec targets are judged on paired windows (see paired_windows).
PAIRED_WORKLOADS = ("exec-long", "exec-long-shell", "exec")
SATURATION_START = 12_500  # events/s; doubled until the first loss
# --quick's saturation starts a step higher, for its time budget; full runs,
# and the Kafka phase, keep the 12,500/s step.
QUICK_SATURATION_START = 25_000
SATURATION_MAX = 800_000


def make_arm(name: str, work: Path, storm: Path) -> st.Arm:
    if name == "none":
        return st.NoArm(work)
    if name == "ringside":
        return st.RingsideArm(work, live=False)
    if name == "auditd":
        return st.AuditdArm(work, storm)
    if name == "bpftrace":
        return st.BpftraceArm(work)
    raise ValueError(name)


def kafka_option() -> str | None:
    """The Kafka option of ``ringside run``, if this build has a Kafka sink."""
    text = subprocess.run([str(st.RINGSIDE), "run", "--help"], capture_output=True,
                          text=True).stdout
    for word in text.split():
        if word.startswith("--kafka"):
            return word.strip("[],")
    return None


def saturation(binary: Path, work: Path, storm: Path, mode: str, extra: list[str],
               duration: float, start: int = SATURATION_START) -> list[dict[str, Any]]:
    """Event rates doubling from ``start`` until the first loss (or the
    generator cannot make the rate asked)."""
    arm = st.RingsideArm(work, extra=extra, label=f"ringside{''.join(extra)}")
    steps = []
    arm.start()
    try:
        rate = start
        while rate <= SATURATION_MAX:
            ops = rate / loadgen.events_per_op(mode)
            w = st.run_window(arm, binary, mode, duration, ops, storm, label=f"sat-{mode}")
            acc = st.account(w)
            reached = acc["generated"] / (w["gen"]["elapsed_ns"] / 1e9)
            step = {"asked": rate, "reached": reached, "lost": acc["lost"],
                    "kernel_drops": acc["kernel_drops"], "user_drops": acc["user_drops"],
                    "latency_ms_p99": w["latency_ms_p99"], "sensor_cpu_pct": w["agent_cpu_pct"]}
            steps.append(step)
            st.log(f"  saturation {mode}: asked {rate:,}/s reached {reached:,.0f}/s, "
                   f"lost {acc['lost']}")
            if acc["lost"] or acc["kernel_drops"] or acc["user_drops"]:
                break
            if reached < 0.95 * rate:
                step["generator_limited"] = True
                break
            rate *= 2
    finally:
        arm.stop()
    return steps


KAFKA_TARGET = 100_000  # events/s


def kafka_phase(binary: Path, work: Path, storm: Path, duration: float) -> dict[str, Any]:
    """The file storm with the Kafka sink only (a broker of our own), at doubling rates
    from SATURATION_START up to the 100,000 events/s of the target."""
    broker = st.KafkaBroker()
    try:
        st.log("kafka: starting a broker (deploy/kafka/kafka.sh)")
        broker.start()
    except (st.ArmError, subprocess.TimeoutExpired) as exc:
        broker.stop()
        return {"error": str(exc), "steps": []}
    arm = st.RingsideArm(work, label="ringside-kafka",
                         extra=["--kafka", f"127.0.0.1:{broker.port}",
                                "--kafka-topic-prefix", f"bench{os.getpid()}.",
                                # A spool of its own: the default one is shared with
                                # every other sensor on the machine, and replayed at start.
                                "--kafka-spool-dir", str(work / "kafka-spool")])
    steps: list[dict[str, Any]] = []
    try:
        arm.start()
        rate = SATURATION_START
        while rate <= KAFKA_TARGET:
            k = st.kafka_window(arm, binary, "file", duration,
                                rate / loadgen.events_per_op("file"), storm)
            k["asked_events"] = rate
            steps.append(k)
            st.log(f"  kafka: asked {rate:,}/s reached {k['event_rate']:,.0f}/s, acknowledged "
                   f"{k['acknowledged']:,} of {k['handed']:,}, lost {k['lost']:,}")
            if k["lost"] and rate < KAFKA_TARGET:
                rate = KAFKA_TARGET  # the first loss: still measure the target rate itself
            else:
                rate *= 2
    finally:
        try:
            arm.stop()
        finally:
            broker.stop()
    return {"steps": steps, "broker_port": broker.port}


def _arm_windows(arm: st.Arm, name: str, workloads: tuple[str, ...], r: int, rounds: int,
                 duration: float, binary: Path, storm: Path,
                 sampler: st.Sampler) -> list[dict[str, Any]]:
    """The windows of one started arm: each workload once; in the last round, for
    Ringside and bpftrace, again with BPF run-time statistics on."""
    out = []
    for wl in workloads:
        with st.bpf_stats(False):
            w = st.run_window(arm, binary, wl, duration, None, storm, sampler)
        w["round"] = r
        if isinstance(arm, st.RingsideArm):
            w["accounting"] = st.account(w)
        out.append(w)
        st.log(f"  {wl}: {w['gen']['ops_per_s']:,.0f} ops/s")
    if r == rounds - 1 and name in ("ringside", "bpftrace"):
        arm.bpf_time = True
        for wl in workloads:
            with st.bpf_stats(True):
                w = st.run_window(arm, binary, wl, min(duration, 2.0), None, storm)
            w["round"] = r
            w["bpf_only"] = True
            if isinstance(arm, st.RingsideArm):
                w["accounting"] = st.account(w)
            out.append(w)
    return out


def paired_windows(binary: Path, work: Path, storm: Path, workloads: tuple[str, ...],
                   pairs: int, duration: float, started: list[st.Arm]) -> list[dict[str, Any]]:
    """The exec targets' own windows: for each exec storm, ``pairs`` pairs of a
    window with nothing attached and one under a Ringside started for it (as in
    the rounds: --output FILE, read after the window), back to back, their
    order alternating.  Single windows vary by about 3 % here, so the median of
    a few rounds cannot tell 2 % from 4 %; the mean of many pairs' ratios comes
    with a standard error."""
    out = []
    for wl in workloads:
        for i in range(pairs):
            ops = {}
            for name in ("none", "ringside") if i % 2 == 0 else ("ringside", "none"):
                arm = make_arm(name, work, storm)
                started.append(arm)
                arm.start()
                try:
                    with st.bpf_stats(False):
                        w = st.run_window(arm, binary, wl, duration, None, storm)
                finally:
                    arm.stop()
                if isinstance(arm, st.RingsideArm):
                    w["accounting"] = st.account(w)
                w["pair"] = i
                w["paired"] = True
                ops[name] = w["gen"]["ops_per_s"]
                out.append(w)
            st.log(f"  paired {wl}, pair {i + 1}/{pairs}: ratio "
                   f"{ops['ringside'] / ops['none']:.3f}")
    return out


def paired_figures(windows: list[dict[str, Any]], wl: str) -> dict[str, Any] | None:
    """Mean slowdown of the pairs, its standard error and one-sided 95 % bounds."""
    mine = [w for w in windows if w.get("paired") and w["label"] == wl]
    by_pair: dict[int, dict[str, float]] = {}
    for w in mine:
        by_pair.setdefault(w["pair"], {})[w["arm"]] = w["gen"]["ops_per_s"]
    ratios = [p["ringside"] / p["none"] for p in by_pair.values()
              if "ringside" in p and "none" in p]
    if len(ratios) < 2:
        return None
    return {**st.paired_slowdown(ratios), "ratios": ratios,
            "cpu_pct": st.spread([w["agent_cpu_pct"] for w in mine if w["arm"] == "ringside"])}


def latency_windows(binary: Path, work: Path, storm: Path, workloads: tuple[str, ...],
                    duration: float) -> list[dict[str, Any]]:
    """Each workload once under a Ringside whose NDJSON this process reads from a
    pipe as it comes, for the latency from the kernel timestamp to arrival."""
    arm = st.RingsideArm(work, label="ringside-latency")
    out = []
    arm.start()
    try:
        for wl in workloads:
            w = st.run_window(arm, binary, wl, duration, None, storm)
            w["accounting"] = st.account(w)
            w["latency_only"] = True
            out.append(w)
            st.log(f"  latency {wl}: p50 {w['latency_ms_p50']} ms, p99 {w['latency_ms_p99']} ms")
    finally:
        arm.stop()
    return out


def run(rounds: int, duration: float, sat_duration: float, keep: bool,
        workloads: tuple[str, ...], with_kafka: bool = True,
        interleave: str = "window", pairs: int = 0,
        pair_duration: float = 5.0, sat_start: int = SATURATION_START) -> dict[str, Any]:
    binary = loadgen.build()
    work, storm = st.workspace("bench_suite-")
    windows: list[dict[str, Any]] = []
    sampler = st.Sampler()
    sampler.start()
    load_before = st.load_average()
    foreign = st.foreign_bpf_programs()
    started: list[st.Arm] = []
    sat: dict[str, Any] = {}
    kafka: dict[str, Any] = {"error": "not reached", "steps": []}
    try:
        if interleave == "window":
            # One arm start per window: for every round and workload, the four
            # arms take turns (the first rotates), so a bare window and an
            # observed one of the same workload are seconds apart, not the
            # minute an arm's whole session takes.
            for r in range(rounds):
                for i, wl in enumerate(workloads):
                    k = (r + i) % len(ARMS)
                    for name in ARMS[k:] + ARMS[:k]:
                        arm = make_arm(name, work, storm)
                        started.append(arm)
                        st.log(f"round {r + 1}/{rounds}, {wl}: {name}")
                        arm.start()
                        try:
                            windows += _arm_windows(arm, name, (wl,), r, rounds, duration,
                                                    binary, storm, sampler)
                        finally:
                            arm.stop()
        else:
            for r in range(rounds):
                order = ARMS[r % len(ARMS):] + ARMS[:r % len(ARMS)]
                for name in order:
                    arm = make_arm(name, work, storm)
                    started.append(arm)
                    st.log(f"round {r + 1}/{rounds}: {name}")
                    arm.start()
                    try:
                        windows += _arm_windows(arm, name, workloads, r, rounds, duration,
                                                binary, storm, sampler)
                    finally:
                        arm.stop()
        paired = tuple(wl for wl in PAIRED_WORKLOADS if wl in workloads)
        if pairs and paired:
            st.log(f"paired exec windows: {pairs} pairs of {pair_duration:g} s per storm")
            windows += paired_windows(binary, work, storm, paired, pairs, pair_duration,
                                      started)
        st.log("latency")
        windows += latency_windows(binary, work, storm, workloads, min(duration, 3.0))
        st.log("saturation")
        sat["file"] = saturation(binary, work, storm, "file", [], sat_duration, sat_start)
        sat["tty (no budget)"] = saturation(binary, work, storm, "tty", ["--tty-budget", "0"],
                                            sat_duration, sat_start)
        kafka = kafka_phase(binary, work, storm, sat_duration) if with_kafka else {
            "error": "skipped (--no-kafka)", "steps": []}
    finally:
        for arm in started:
            try:
                arm.stop()
            except (st.ArmError, st.AccountingError) as exc:
                st.log(f"stopping {arm.name}: {exc}")
        try:
            sampler.stop()
        finally:
            st.release(work, storm, keep)
    return {"windows": windows, "series": sampler.series, "saturation": sat,
            "rounds": rounds, "duration_s": duration, "workloads": list(workloads),
            "pairs": pairs, "pair_duration_s": pair_duration,
            "interleave": interleave,
            "loadavg_before": load_before, "loadavg_after": st.load_average(),
            "foreign_bpf_programs": foreign, "busy_processes": st.busy_processes(),
            "kafka_option": kafka_option(), "kafka": kafka, "machine": machine()}


def figures(raw: dict[str, Any]) -> dict[str, Any]:
    ws = [w for w in raw["windows"]
          if not w.get("bpf_only") and not w.get("latency_only") and not w.get("paired")]
    bpf = [w for w in raw["windows"] if w.get("bpf_only")]
    lat = [w for w in raw["windows"] if w.get("latency_only")]
    out: dict[str, Any] = {}
    for wl in raw["workloads"]:
        base = {w["round"]: w["gen"]["ops_per_s"] for w in ws
                if w["arm"] == "none" and w["label"] == wl}
        for arm in ARMS:
            mine = [w for w in ws if w["arm"] == arm and w["label"] == wl]
            if not mine:
                continue
            f: dict[str, Any] = {
                "ops_per_s": st.spread([w["gen"]["ops_per_s"] for w in mine]),
                "ratio": st.spread([w["gen"]["ops_per_s"] / base[w["round"]] for w in mine
                                    if w["round"] in base]),
            }
            if arm != "none":
                f["cpu_pct"] = st.spread([w["agent_cpu_pct"] for w in mine])
                f["rss_mb"] = st.spread([w["agent_rss"] / 1e6 for w in mine])
                f["cpu_s_per_kop"] = st.spread([1000 * w["agent_cpu_s"] / w["gen"]["ops"]
                                                for w in mine if w["gen"]["ops"]])
            if arm == "ringside":
                acc = [w["accounting"] for w in mine]
                f.update({
                    "generated": sum(a["generated"] for a in acc),
                    "delivered": sum(a["delivered"] for a in acc),
                    "lost": sum(a["lost"] for a in acc),
                    "kernel_drops": sum(a["kernel_drops"] for a in acc),
                    "user_drops": sum(a["user_drops"] for a in acc),
                    "latency_ms_p50": st.spread([w["latency_ms_p50"] for w in lat
                                                 if w["label"] == wl]),
                    "latency_ms_p99": st.spread([w["latency_ms_p99"] for w in lat
                                                 if w["label"] == wl]),
                    "us_per_event": st.spread([w["agent_us_per_event"] for w in mine]),
                })
            if arm in ("auditd", "bpftrace"):
                f["lost"] = sum(w.get("lost", 0) for w in mine)
                seen: dict[str, int] = {}
                for w in mine:
                    for k, v in w.get("peer_seen", {}).items():
                        seen[k] = seen.get(k, 0) + v
                f["seen"] = seen
                f["gen_execs"] = sum(w["gen"]["execs"] + 1 for w in mine)
                f["gen_file_ops"] = sum(w["gen"]["creates"] + w["gen"]["renames"]
                                        + w["gen"]["deletes"] for w in mine)
                f["gen_tty_writes"] = sum(w["gen"]["tty_writes"] for w in mine)
            mb = [w for w in bpf if w["arm"] == arm and w["label"] == wl]
            if mb:
                f["bpf_ns_per_op"] = st.spread([w["bpf_ns"] / w["gen"]["ops"] for w in mb
                                                if w["gen"]["ops"]])
            out[f"{wl}/{arm}"] = f
        paired = paired_figures(raw["windows"], wl)
        if paired:
            out[f"{wl}/paired"] = paired
    return out


# A verdict that is not a pass says why in "result" when it is not a plain FAIL.
NOT_JUDGED = "NOT JUDGED"  # no paired windows: the rounds' noise is larger than the target
NOT_REACHED = "NOT REACHED"  # the load fell short of the target's rate; nothing was lost
NOT_MEASURED = "NOT MEASURED"  # the phase did not run
# Paired windows whose 95 % bounds hold the target between them: the run shows
# the slowdown neither under it nor over it.  Counted as not met.
UNRESOLVED = "UNRESOLVED"


# Not judged by the run, or short of the rate with nothing lost: the run's exit
# status does not count them as failures (an UNRESOLVED target it counts).
NOT_SHOWN = (NOT_JUDGED, NOT_REACHED)


def result_label(verdict: dict[str, Any]) -> str:
    """The verdict table's result column: PASS, **FAIL**, or why it was neither."""
    if verdict["pass"]:
        return "PASS"
    result = verdict.get("result")
    return f"**{result}**" if result else "**FAIL**"


def rounds_verdict(ratio: dict[str, Any], bare: dict[str, Any] | None) -> dict[str, Any]:
    """An exec target without paired windows (--quick): reported, never judged.

    The bare rounds of one quick run (21:50 on 2026-11-23) lay 4.2, 9.9 and
    22.9 % apart in its three exec storms (long argv: 787 and 966 ops/s), so
    two rounds can neither show a slowdown under 3 % nor one over it: two
    quick runs 90 minutes apart each failed a different exec storm by the old
    rule (every round under 3 % to pass), while 60-pair runs put both near
    or under it.  The rounds' figures stay
    in the table; the verdict comes from paired windows (a full run, or
    ``steady_state``).
    """
    worst, best = 1 - ratio["min"], 1 - ratio["max"]
    noise = (f"; the bare rounds {100 * (bare['max'] / bare['min'] - 1):.1f} % apart"
             if bare and bare.get("min") else "")
    return {"pass": False, "result": NOT_JUDGED,
            "measured": f"{100 * (1 - ratio['median']):.1f} % (ratio "
                        f"{st.fmt_spread(ratio, 3)}; median of {ratio['n']} rounds, from "
                        f"{100 * best:.1f} to {100 * worst:.1f} %{noise}; no paired windows, "
                        "which judge this target)"}


def paired_verdict(p: dict[str, Any]) -> dict[str, Any]:
    """An exec target on paired windows: PASS when the one-sided 95 % upper bound
    is under the target, FAIL when the lower one is over it, and UNRESOLVED when
    the target lies between them.  Single pairs vary by 5-10 % here, so 16-24
    pairs leave a standard error of 1-2 points: a storm that costs 1-3 % can
    land on either side of the line from one run to the next, and a plain FAIL
    would say the sensor was shown slower than the target when it was not."""
    if p["upper95"] < TARGET_EXEC_SLOWDOWN:
        return {"pass": True}
    if p["lower95"] > TARGET_EXEC_SLOWDOWN:
        return {"pass": False}
    return {"pass": False, "result": UNRESOLVED}


def verdicts(fig: dict[str, Any], raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for wl in PAIRED_WORKLOADS:
        f, p = fig.get(f"{wl}/ringside"), fig.get(f"{wl}/paired")
        peers = "; ".join(f"{arm} {100 * (1 - fig[f'{wl}/{arm}']['ratio']['median']):.1f} %"
                          for arm in ("auditd", "bpftrace") if f"{wl}/{arm}" in fig)
        if p:
            out[f"{wl} storm slowdown < 3 %"] = {
                **paired_verdict(p),
                "measured": f"{100 * p['slowdown']:.1f} % ± {100 * p['se']:.1f} (mean ± se of "
                            f"{p['pairs']} pairs; 95 % bounds {100 * p['lower95']:.1f} and "
                            f"{100 * p['upper95']:.1f} %)"
                            + (f"; rounds' median {100 * (1 - f['ratio']['median']):.1f} %"
                               if f else "") + (f"; {peers}" if peers else "")}
        elif f:
            bare = fig.get(f"{wl}/none")
            out[f"{wl} storm slowdown < 3 %"] = rounds_verdict(
                f["ratio"], bare["ops_per_s"] if bare else None)
    mr, ma = fig.get("mixed/ringside"), fig.get("mixed/auditd")
    if mr and ma:
        out["mixed slowdown no worse than auditd's"] = {
            "pass": mr["ratio"]["median"] >= ma["ratio"]["median"],
            "measured": f"ringside {100 * (1 - mr['ratio']['median']):.1f} %, auditd "
                        f"{100 * (1 - ma['ratio']['median']):.1f} %"}
    kafka = raw.get("kafka") or {}
    at_target = [k for k in kafka.get("steps", []) if k["asked_events"] == KAFKA_TARGET]
    if at_target:
        k = at_target[-1]
        reached = k["event_rate"] >= 0.99 * KAFKA_TARGET
        out["zero loss at 100,000 events/s to Kafka"] = {
            "pass": k["lost"] == 0 and reached,
            # Nothing lost, but the generator fell short of the rate (on 2 CPUs
            # it shares them with the sensor and the broker): not shown either way.
            **({"result": NOT_REACHED} if k["lost"] == 0 and not reached else {}),
            "measured": f"{k['event_rate']:,.0f} events/s reached; {k['acknowledged']:,} of "
                        f"{k['handed']:,} handed to Kafka acknowledged; lost {k['lost']:,} "
                        f"({k['kernel_drops']:,} kernel drops, {k['user_drops']:,} user drops, "
                        f"{k['kafka_dropped']:,} dropped by the sink)"}
    else:
        out["zero loss at 100,000 events/s to Kafka"] = {
            "pass": False, "result": NOT_MEASURED,
            "measured": kafka.get("error", "no Kafka phase")}
    out["every dropped event counted"] = {
        "pass": True,
        "measured": "accounting closed in every Ringside window (generated = delivered + "
                    "lost, lost <= counted drops, exact where nothing was dropped)"}
    return out


def table(fig: dict[str, Any], verdict: dict[str, Any], raw: dict[str, Any]) -> str:
    rows = []
    for wl in raw["workloads"]:
        for arm in ARMS:
            f = fig.get(f"{wl}/{arm}")
            if not f:
                continue
            if arm == "ringside":
                acct = (f"{f['generated']:,} / {f['delivered']:,} / "
                        f"{f['kernel_drops']:,}+{f['user_drops']:,}")
                lat = (f"{st.fmt_spread(f['latency_ms_p50'], 1)} / "
                       f"{st.fmt_spread(f['latency_ms_p99'], 1)}")
            elif arm in ("auditd", "bpftrace"):
                seen = ", ".join(f"{k} {v:,}" for k, v in sorted(f["seen"].items())) or "0"
                acct = f"logged: {seen}; lost {f['lost']:,}"
                lat = "–"
            else:
                acct, lat = "–", "–"
            rows.append([
                wl, arm, st.fmt_spread(f["ops_per_s"]),
                "1" if arm == "none" else st.fmt_spread(f["ratio"], 3),
                st.fmt_spread(f.get("cpu_pct", {"median": None}), 0, " %"),
                st.fmt_spread(f.get("rss_mb", {"median": None}), 0),
                st.fmt_spread(f.get("bpf_ns_per_op", {"median": None}), 0),
                acct, lat])
    out = [markdown_table(
        ["workload", "observer", "ops/s", "with / without", "observer CPU", "RSS MB",
         "BPF ns/op", "generated / delivered / drops (kernel+user)", "latency p50 / p99 ms"],
        rows)]
    out += ["", markdown_table(["target", "result", "measured"],
                               [[k, result_label(v), v["measured"]]
                                for k, v in verdict.items()])]
    prows = [[wl, str(p["pairs"]), f"{100 * p['slowdown']:.1f} % ± {100 * p['se']:.1f}",
              f"{100 * p['lower95']:.1f} to {100 * p['upper95']:.1f} %",
              f"{100 * (1 - max(p['ratios'])):.1f} to {100 * (1 - min(p['ratios'])):.1f} %",
              st.fmt_spread(p["cpu_pct"], 1, " %")]
             for wl in raw["workloads"] if (p := fig.get(f"{wl}/paired"))]
    if prows:
        out += ["", f"Exec storms, paired (no observer / Ringside started for the pair, "
                f"{raw.get('pair_duration_s', 0):g} s windows, order alternating; judged on "
                "the one-sided 95 % bounds):", "",
                markdown_table(["storm", "pairs", "slowdown, mean ± se", "95 % bounds",
                                "pairs' range", "sensor CPU"], prows)]
    sat_rows = []
    for what, steps in raw["saturation"].items():
        best = max((s["asked"] for s in steps if not (s["lost"] or s["kernel_drops"]
                                                      or s["user_drops"])
                    and not s.get("generator_limited")), default=None)
        trail = "; ".join(f"{s['asked']:,}/s → {s['reached']:,.0f}/s, lost {s['lost']:,}"
                          + (" (generator limited)" if s.get("generator_limited") else "")
                          for s in steps)
        sat_rows.append([what, f"{best:,}" if best else "none", trail])
    out += ["", "Saturation (Ringside, NDJSON sink; rate doubled until the first loss):", "",
            markdown_table(["storm", "highest event rate with zero loss", "steps"], sat_rows)]
    krows = [[f"{k['asked_events']:,}", f"{k['event_rate']:,.0f}", f"{k['decoded']:,}",
              f"{k['handed']:,}", f"{k['acknowledged']:,}", f"{k['spooled']:,}",
              f"{k['kernel_drops']:,} / {k['user_drops']:,} / {k['kafka_dropped']:,}",
              st.fmt(k["sensor_cpu_pct"], 0, " %")]
             for k in (raw.get("kafka") or {}).get("steps", [])]
    if krows:
        out += ["", "Kafka (file storm, Kafka sink only, a broker of our own on loopback; "
                "delivered = acknowledged by the broker, acks=all):", "",
                markdown_table(["events/s asked", "reached", "decoded (all processes)",
                                "handed to Kafka", "acknowledged", "spooled",
                                "drops kernel / user / sink", "sensor CPU"], krows)]
    else:
        out += ["", f"Kafka: not measured ({(raw.get('kafka') or {}).get('error')})."]
    m = raw.get("machine") or machine()
    out += ["", f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, Linux "
            f"{m['kernel']}, Python {m['python']}; run at {m['when']}."]
    out += ["", f"{raw['rounds']} rounds of {raw['duration_s']:g} s per workload and observer; "
            f"load average before {raw['loadavg_before']}, after {raw['loadavg_after']}; "
            f"BPF programs of others loaded at the start: {raw['foreign_bpf_programs']}; "
            f"busiest processes at the end: {', '.join(raw['busy_processes'][:3])}."]
    return "\n".join(out)


def charts(raw: dict[str, Any], name: str) -> list[Path]:
    """CPU and memory over time, ours vs the peers, one panel per workload (last round)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        st.log("CHARTS NOT DRAWN: matplotlib is missing (pip install -e '.[bench]')")
        return []
    series = [s for s in raw["series"] if s["label"]]
    workloads = raw["workloads"]
    colors = {"none": "#888888", "ringside": "#d62728", "auditd": "#1f77b4",
              "bpftrace": "#2ca02c"}
    paths = []
    for key, ylabel, fname, arms in (
            ("system_busy_pct", "machine CPU busy, % of one core", "cpu", ARMS),
            ("agent_cpu_pct", "observer process CPU, % of one core", "observer-cpu", ARMS[1:]),
            ("agent_rss", "observer resident memory, MB", "memory", ARMS[1:])):
        fig, axes = plt.subplots(2, (len(workloads) + 1) // 2, figsize=(15, 7.5), squeeze=False)
        for ax, wl in zip(axes.flat, workloads, strict=False):
            for arm in arms:
                pts = [s for s in series if s["label"] == f"{arm}:{wl}" and s[key] is not None]
                if not pts:
                    continue
                # The last round's window: the points after the last gap of > 2 s.
                start = 0
                for i in range(1, len(pts)):
                    if pts[i]["t"] - pts[i - 1]["t"] > 2.0:
                        start = i
                pts = pts[start:]
                t0 = pts[0]["t"]
                ys = [s[key] / 1e6 if key == "agent_rss" else s[key] for s in pts]
                ax.plot([s["t"] - t0 for s in pts], ys, label=arm, color=colors[arm])
            ax.set_title(wl)
            ax.set_xlabel("s since the storm started")
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
        for ax in axes.flat[len(workloads):]:
            ax.axis("off")
        axes.flat[0].set_ylabel(ylabel)
        axes.flat[0].legend(loc="best", fontsize=8)
        fig.suptitle(f"{ylabel} — {raw['rounds']} rounds, last shown "
                     f"(load average {raw['loadavg_before'][0]})")
        fig.tight_layout()
        path = RESULTS / f"{name}-{fname}.png"
        RESULTS.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=80)
        plt.close(fig)
        paths.append(path)
    return paths


def render(path: Path) -> int:
    record = json.loads(path.read_text())
    raw = {**record["figures"]["raw"], "series": record["figures"]["series"]}
    fig = figures(raw)
    verdict = verdicts(fig, raw)
    text = table(fig, verdict, raw)
    pngs = charts(raw, path.stem)
    if pngs:
        text += "\n\nCharts: " + ", ".join(f"[{p.name}]({p.name})" for p in pngs) + "\n"
    rewrite_result(path, record, fig, verdict, text)
    return exit_status(verdict)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="under 5 minutes; writes results/suite-quick.*")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--duration", type=float, default=None, help="seconds per window")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--no-kafka", action="store_true", help="skip the Kafka phase")
    parser.add_argument("--interleave", choices=("window", "round"), default=None,
                        help="window: an arm start per window, the arms taking turns for "
                        "every workload (default); round: an arm runs every workload before "
                        "the next starts (--quick's default: fewer starts)")
    parser.add_argument("--pairs", type=int, default=None,
                        help="paired windows per exec storm for the exec targets (default 16; "
                        "--quick: 0, whose exec targets are then not judged)")
    parser.add_argument("--render", metavar="JSON",
                        help="redraw the tables, verdicts and charts of a written result from "
                        "its raw windows (nothing is measured)")
    args = parser.parse_args(argv)
    if args.render:
        return render(Path(args.render))
    rounds = args.rounds or (2 if args.quick else 5)
    # --quick's rounds: 1.2 s windows keep make bench-quick under 5 minutes with
    # seven workloads (4:56-4:58 at 1.5 s).  Its saturation and Kafka steps stay
    # at 1.5 s (at 1.2 s, one run's Kafka step at 100,000/s reached 69,163/s).
    duration = args.duration or (1.2 if args.quick else 5.0)
    sat_duration = 1.5 if args.quick else 4.0
    # --quick has no time for them (each pair starts a sensor, ~10 s with its
    # windows, for each exec storm): its exec targets are reported from the
    # rounds and not judged (rounds_verdict).
    pairs = args.pairs if args.pairs is not None else (0 if args.quick else 16)
    # As long as the rounds' windows: 3 s pairs measured less than 5 s ones
    # (exec, 2.1-2.7 % against 3.4 %), a difference not understood.
    pair_duration = duration
    workloads = tuple(w for w in args.workloads.split(",") if w)
    name = "suite-quick" if args.quick else "suite"
    try:
        raw = run(rounds, duration, sat_duration, args.keep, workloads, not args.no_kafka,
                  args.interleave or ("round" if args.quick else "window"), pairs,
                  pair_duration, QUICK_SATURATION_START if args.quick else SATURATION_START)
    except st.AccountingError as exc:
        print(f"\nACCOUNTING DOES NOT CLOSE: {exc}\nNo rate is reported.", file=sys.stderr)
        return 2
    except (st.ArmError, loadgen.LoadgenError) as exc:
        print(f"\nthe measurement failed: {exc}", file=sys.stderr)
        return 2
    fig = figures(raw)
    verdict = verdicts(fig, raw)
    text = table(fig, verdict, raw)
    pngs = charts(raw, name)
    if pngs:
        text += "\n\nCharts: " + ", ".join(f"[{p.name}]({p.name})" for p in pngs) + "\n"
    print(text)
    path = write_result(name, {"figures": fig, "verdicts": verdict,
                               "raw": {k: v for k, v in raw.items() if k != "series"},
                               "series": raw["series"]}, text)
    print(f"\nwrote {path}", file=sys.stderr)
    return exit_status(verdict)


def exit_status(verdict: dict[str, dict[str, Any]]) -> int:
    """1 if a target failed or was not measured; targets not shown are only listed."""
    shown = {k: v for k, v in verdict.items() if v.get("result") not in NOT_SHOWN}
    for k, v in verdict.items():
        if k not in shown:
            print(f"{v['result']}: {k}", file=sys.stderr)
    return 0 if all(v["pass"] for v in shown.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
