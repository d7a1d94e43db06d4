"""The ``ringside`` command.

    ringside run       attach to the kernel and write events (NDJSON on stdout by default,
                       or to Kafka with --kafka)
    ringside consume   read the events back from Kafka as NDJSON, reporting losses
    ringside doctor    what this kernel offers, and which tier the sensor will run in
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ._argtypes import non_negative_int, number, positive_float, positive_int
from ._bpf import AREAS, Exclusions
from ._errors import ConfigError, RingsideError
from ._kernel import cgroup_id
from ._sched import DEFAULT_POLICY, POLICIES

if TYPE_CHECKING:
    from ._sensor import Sensor, SensorConfig

log = logging.getLogger("ringside")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def _areas(text: str) -> tuple[str, ...]:
    areas = tuple(a.strip() for a in text.split(",") if a.strip())
    unknown = [a for a in areas if a not in AREAS]
    if unknown or not areas:
        named = ", ".join(unknown) or "(none)"
        raise argparse.ArgumentTypeError(
            f"unknown event area(s) {named}: choose from {', '.join(AREAS)}"
        )
    return areas


# Paths whose writes are constant noise on any host (a shell opens /dev/null for
# writing all the time); `--exclude-path` replaces the list.
DEFAULT_EXCLUDED_PATHS = ("/proc/", "/sys/", "/dev/null", "/dev/pts/", "/dev/tty")


def _ring_mib(text: str) -> int:
    mib = int(positive_int(text))
    if mib & (mib - 1):
        raise argparse.ArgumentTypeError(f"ring size {mib} MiB is not a power of two")
    return mib << 20


_milliseconds = number(float, positive=False, unit="ms")
READ_INTERVAL_MAX_MS = 1000.0


def _read_interval(text: str) -> float:
    """--read-interval: milliseconds on the command line, seconds in SensorConfig."""
    ms = _milliseconds(text)
    if ms > READ_INTERVAL_MAX_MS:
        raise argparse.ArgumentTypeError(f"{ms:g} ms is over the {READ_INTERVAL_MAX_MS:g} ms "
                                         "a read may wait")
    return ms / 1000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ringside", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log-level", default="warning",
                        choices=["debug", "info", "warning", "error"],
                        help="diagnostics on stderr (default: warning)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="attach to the kernel and write events")
    run.add_argument("--events", type=_areas, default=None, metavar="AREAS",
                     help=f"comma-separated event areas: {','.join(AREAS)} (default: every "
                     "area this kernel's tier can run)")
    run.add_argument("--tier", choices=["auto", "full", "reduced"], default="auto",
                     help="full reads kernel memory; reduced does not (lockdown=confidentiality)."
                     " Default: the best this kernel allows")
    run.add_argument("--ring-size", type=_ring_mib, default=16 << 20, metavar="MIB",
                     help="ring buffer size in MiB, a power of two (default: 16)")
    run.add_argument("--read-interval", type=_read_interval, default=0.025, metavar="MS",
                     help="while records flow, read the ring this often; each read costs CPU "
                     "however few records it finds, and each adds up to this much latency (0: "
                     f"read on every wakeup; at most {READ_INTERVAL_MAX_MS:g}; default: 25)")
    run.add_argument("--include-self", action="store_true",
                     help="also report the sensor's own activity")
    run.add_argument("--max-events", type=positive_int, metavar="N",
                     help="stop after delivering N events")
    run.add_argument("--duration", type=positive_float, metavar="SECONDS",
                     help="stop after this many seconds")
    run.add_argument("--output", default=None, metavar="PATH",
                     help="NDJSON destination, - for stdout (default: stdout, or none with "
                     "--kafka)")
    filters = run.add_argument_group(
        "exclusions", "file and terminal events left out in the kernel (process events never are)")
    filters.add_argument("--exclude-path", action="append", default=None, metavar="PREFIX",
                         help="leave out file events under this path prefix; repeatable "
                         f"(default: {' '.join(DEFAULT_EXCLUDED_PATHS)})")
    filters.add_argument("--exclude-comm", action="append", default=[], metavar="COMM",
                         help="leave out file and tty events of processes with this name")
    filters.add_argument("--exclude-cgroup", action="append", default=[], metavar="PATH",
                         help="leave out file and tty events of this cgroup (v2 path, e.g. "
                         "/system.slice/backup.service) and everything below it")
    run.add_argument("--report-failed", action="store_true",
                     help="also report file operations that failed (result < 0)")
    run.add_argument("--tty-budget", type=non_negative_int, default=1 << 20, metavar="BYTES",
                     help="terminal output captured per process per second; 0 = no limit "
                     "(default: 1048576)")
    run.add_argument("--no-stats", action="store_true",
                     help="do not print the counters on stderr at exit")
    run.add_argument("--metrics-port", type=non_negative_int, default=None, metavar="PORT",
                     help="serve the counters as Prometheus metrics on http://ADDRESS:PORT/metrics"
                     " (0: any free port, logged at info level)")
    run.add_argument("--metrics-address", default="127.0.0.1", metavar="ADDRESS",
                     help="address the metrics endpoint listens on (default: 127.0.0.1)")
    run.add_argument("--pause-signals", action="store_true",
                     help="SIGUSR1 pauses the sensor (its BPF programs are detached and nothing "
                     "is recorded), SIGUSR2 resumes it; each is logged and counted. Off by "
                     "default: a sensor that can be paused can be blinded without a trace of "
                     "its exit")
    run.add_argument("--cpu-policy", choices=sorted(POLICIES), default=DEFAULT_POLICY,
                     help="batch: the sensor keeps its fair share of CPU but does not preempt "
                     "running work when it wakes; normal: an ordinary task (default: "
                     f"{DEFAULT_POLICY})")

    from ._kafka_cli import add_consume_parser, add_run_options

    add_run_options(run)
    add_consume_parser(sub)
    from ._containers._cli import add_run_options as add_container_options

    add_container_options(run)

    doctor = sub.add_parser("doctor", help="what this kernel offers the sensor")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def sensor_config_from_args(args: argparse.Namespace) -> SensorConfig:
    """The SensorConfig that ``ringside run``'s flags describe."""
    from ._sensor import SensorConfig

    return SensorConfig(
        tier=args.tier,
        areas=args.events or AREAS,
        require_all_areas=args.events is not None,
        ring_size=args.ring_size,
        read_interval=args.read_interval,
        include_self=args.include_self,
        exclusions=Exclusions(
            path_prefixes=tuple(args.exclude_path if args.exclude_path is not None
                                else DEFAULT_EXCLUDED_PATHS),
            comms=tuple(args.exclude_comm),
            cgroup_ids=tuple(cgroup_id(path) for path in args.exclude_cgroup),
        ),
        report_failed_file_ops=args.report_failed,
        tty_budget=args.tty_budget,
    )


def _pause_handler(sensor: Sensor, name: str, action: Callable[[], bool]) -> Callable[[], None]:
    """A signal handler for --pause-signals; what it did is logged by the sensor."""
    def handle() -> None:
        try:
            if not action():
                state = sensor.state
                log.warning("%s: the sensor is %s%s; nothing done", name, state,
                            " already" if state in ("paused", "running") else "")
        except RingsideError as exc:
            log.error("%s: %s", name, exc)
    return handle


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    from ._kafka_cli import kafka_config_from_args
    from ._sched import set_cpu_policy
    from ._sensor import Sensor
    from ._sinks import NdjsonSink, Sink

    kafka = kafka_config_from_args(args)
    output = args.output if args.output is not None or kafka is not None else "-"
    try:
        out = (None if output is None else sys.stdout.buffer if output == "-"
               else open(output, "ab"))
    except OSError as exc:
        raise ConfigError(f"cannot open --output {output}: {exc.strerror}") from exc
    # Before anything starts: bcc's compile at start-up is the sensor's
    # heaviest work, and threads started later inherit the policy.
    log.info("cpu policy: %s", set_cpu_policy(args.cpu_policy))
    config = sensor_config_from_args(args)
    sinks: list[Sink] = [] if out is None else [NdjsonSink(out)]
    if kafka is not None:
        from ._kafka import KafkaSink

        sinks.append(KafkaSink(kafka))
    from ._containers._cli import enricher_from_args

    enricher = enricher_from_args(args)
    sensor = Sensor(config, sinks=sinks, stages=[enricher] if enricher else [],
                    max_events=args.max_events)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.pause_signals:
        loop.add_signal_handler(signal.SIGUSR1, _pause_handler(sensor, "SIGUSR1", sensor.pause))
        loop.add_signal_handler(signal.SIGUSR2, _pause_handler(sensor, "SIGUSR2", sensor.resume))
    from ._memory import tune_gc_for_streaming
    from ._metrics import MetricsServer

    metrics = (MetricsServer(sensor.counters, args.metrics_port, args.metrics_address)
               if args.metrics_port is not None else None)
    try:
        async with sensor:
            if metrics is not None:
                await metrics.start()
            tune_gc_for_streaming()
            log.info("running; Ctrl-C to stop")
            waiters = [asyncio.create_task(stop.wait()),
                       asyncio.create_task(sensor.finished.wait())]
            _, pending = await asyncio.wait(waiters, timeout=args.duration,
                                               return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            if metrics is not None:
                await metrics.stop()
    finally:
        if metrics is not None:
            await metrics.stop()
        if out is not None and out is not sys.stdout.buffer:
            out.close()
    return sensor.counters()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="ringside: %(levelname)s %(message)s")
    try:
        if args.command == "doctor":
            from ._doctor import as_dict, diagnose, render

            report = diagnose()
            print(json.dumps(as_dict(report), indent=2) if args.json else render(report))
            return EXIT_OK
        if args.command == "consume":
            from ._kafka_cli import consume_command

            return consume_command(args)
        if args.command == "run":
            import uvloop

            counters = uvloop.run(_run(args))
            if not args.no_stats:
                print(json.dumps({"counters": counters}), file=sys.stderr)
            return EXIT_OK
    except ConfigError as exc:
        print(f"ringside: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RingsideError as exc:
        print(f"ringside: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_OK
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE
