"""The sensor: BPF programs, the ring reader and the pipeline behind it.

::

    kernel ring ──(epoll wakeup)──> reader: copy records out, release the ring
        │                               │ put_nowait (full: counted drop, by type)
        │ ring full: kernel drop,       ▼
        │ counted by type          queue of raw batches (bounded)
        │                               │
        │                               ▼
        │                          pump task: decode + process table, stages
        │                          (e.g. container metadata), then every sink
        ▼
    per-CPU sequence numbers make every loss visible downstream too

The reader runs as a callback on the event loop and never waits: it only
copies, so the ring is released as fast as records come.  The kernel wakes
it when records come to an idle ring; while they flow, it reads on a
timer.  The queue holds the raw records (a tenth of the memory of decoded
events), and the pump decodes each batch just before it serializes it,
while its objects are still in the CPU's caches: decoding a whole 1 MiB
batch first and serializing it afterwards measured twice as slow per event
here.
Everything that may wait (a runtime socket, a broker, a slow stdout) is in
the pump, behind the bounded queue.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ringside_schema import EventBase, Host, WireContext, wire

from ._bpf import AREAS, Exclusions, KernelCounters, LoadOptions, Programs
from ._decode import BatchDecoder
from ._errors import ConfigError
from ._proctable import ProcessTable
from ._ring import Batch, RingReader
from ._sinks import Sink
from ._stats import Stats, event_name

log = logging.getLogger(__name__)


@dataclass
class SensorConfig:
    """How the sensor runs.  Every field has a default fit for one host."""

    tier: str = "auto"  # auto | full | reduced
    areas: tuple[str, ...] = AREAS
    # False: an area the tier cannot run (tty in the reduced tier) is left out
    # with a warning; True: that is an error.
    require_all_areas: bool = False
    # bytes: the ring absorbs bursts while user space catches up, or waits for a CPU
    # (16 MiB: ~0.5 s of a 100,000 events/s storm; 8 MiB overflowed on a busy 2-core host)
    ring_size: int = 16 << 20
    include_self: bool = False  # report the sensor's own activity (it feeds back on itself)
    exclusions: Exclusions = field(default_factory=Exclusions)  # file and tty events only
    report_failed_file_ops: bool = False
    tty_budget: int = 1 << 20  # terminal bytes captured per process per second; 0: no limit
    queue_batches: int = 256  # raw batches between the reader and the pump (64 MiB at most)
    max_batch_bytes: int = 256 << 10  # ring bytes copied out per read
    # s between reads while records flow, and from a wakeup to the first read
    # (ringside run --read-interval).  Each read costs a few hundred us of CPU
    # however few records it finds (measured on a 2-CPU VM, whose idle CPU
    # loses the sensor's caches within 10 ms), so the interval sets a floor
    # under the sensor's CPU on any host with a steady trickle of events: at
    # 50 execs/s, 4.3 % of a core reading every 10 ms, 2.2 % every 25 ms,
    # 0.9 % every 100 ms (benchmarks/read_interval.py).  Read at once on
    # every wakeup it costs more still.  The price is up to this much latency.
    read_interval: float = 0.025
    extra_cflags: list[str] = field(default_factory=list)

    def validate(self) -> None:
        unknown = set(self.areas) - set(AREAS)
        if unknown:
            raise ConfigError(f"unknown event area(s) {sorted(unknown)}: choose from {AREAS}")
        if self.queue_batches < 1:
            raise ConfigError("queue_batches must be at least 1")
        if not 0 <= self.read_interval <= 1:
            raise ConfigError("read_interval must be between 0 and 1 second")
        if self.tty_budget < 0:
            raise ConfigError("tty_budget must not be negative")


# Where rs_header.type sits in a record.
_HDR_TYPE = wire.HEADER.offsets["type"]


class Stage(Protocol):
    """A step between the reader and the sinks (container metadata, filters).

    A stage (or sink) may also define ``counters() -> dict``: the sensor
    reports them under ``components.<name>`` with its own counters.

    A stage may also take kernel records of its own: ``bpf_areas`` (internal
    areas the sensor then loads, e.g. ``("cgroup",)``) and ``aux_handlers()
    -> {event type: (name, decoder, handler)}``.  Each handler gets its
    decoded records on the reader, in ring order, before any later event
    reaches the stage; it must be quick and must not wait.
    """

    name: str

    async def start(self) -> None: ...

    async def process(self, events: list[EventBase]) -> list[EventBase]: ...

    async def stop(self) -> None: ...


def read_host() -> Host:
    def first_line(path: str, default: str) -> str:
        try:
            return Path(path).read_text().strip() or default
        except OSError:
            return default

    return Host(
        hostname=socket.gethostname(),
        id=first_line("/etc/machine-id", "unknown"),
        boot_id=first_line("/proc/sys/kernel/random/boot_id", "unknown"),
    )


class Sensor:
    """Loads the programs, reads the ring, and feeds the stages and sinks.

    Use as ``async with Sensor(config, sinks) as sensor: ...``, or call
    :meth:`start` and :meth:`stop` (safe to call twice).
    """

    def __init__(self, config: SensorConfig | None = None, sinks: Sequence[Sink] = (),
                 stages: Sequence[Stage] = (), max_events: int | None = None) -> None:
        self.config = config or SensorConfig()
        self.config.validate()
        self.sinks = list(sinks)
        self.stages = list(stages)
        self.max_events = max_events
        self.stats = Stats()
        self.instance = uuid.uuid4().hex
        self.finished = asyncio.Event()  # set when max_events were delivered
        self.startup_seconds = 0.0
        self.programs: Programs | None = None
        self.tier: str | None = None
        self._reader: RingReader | None = None
        self._ctx: WireContext | None = None
        self._table: ProcessTable | None = None
        self._decoder: BatchDecoder | None = None
        self._final_counters: KernelCounters | None = None  # read just before unloading
        self._queue: asyncio.Queue[Batch | None] | None = None
        self._pump: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._armed = False
        self._drain_handle: asyncio.TimerHandle | None = None
        self._quiet_handle: asyncio.TimerHandle | None = None
        self._delivered = 0
        self._stopped = False
        self._started = False
        self._paused_at: float | None = None  # monotonic time of the pause in force

    # ---- lifecycle ----

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        began = time.monotonic()
        cfg = self.config
        self._loop = asyncio.get_running_loop()
        areas = cfg.areas + tuple(dict.fromkeys(
            a for stage in self.stages for a in getattr(stage, "bpf_areas", ())
            if a not in cfg.areas))
        programs = Programs(LoadOptions(
            tier=cfg.tier,
            areas=areas,
            require_all_areas=cfg.require_all_areas,
            ring_size=cfg.ring_size,
            self_tgid=0 if cfg.include_self else os.getpid(),
            report_failed_file_ops=cfg.report_failed_file_ops,
            tty_budget=cfg.tty_budget,
            exclusions=cfg.exclusions,
            extra_cflags=cfg.extra_cflags,
        ))
        # Compiling takes a second or two of CPU; nothing else runs yet.
        programs.load()
        self.programs = programs
        self.tier = programs.tier
        self._ctx = WireContext(read_host(), self.instance, tier=programs.tier)  # type: ignore[arg-type]
        self._table = ProcessTable(self._ctx, reduced=programs.tier == "reduced")
        self._ctx.resolve_dir = self._table.resolve_dir
        aux_handlers = {}
        for stage in self.stages:
            hook = getattr(stage, "aux_handlers", None)
            if callable(hook):
                aux_handlers.update(hook())
        self._decoder = BatchDecoder(self._ctx, self._table, self.stats, aux_handlers)
        if self._decoder.decoding != "C":
            log.warning("the C decoder (_fastdecode.c) is not built (make setup builds it); "
                        "decoding file and process events in Python, which costs more CPU "
                        "per event")
        self._reader = RingReader(programs.ring_fd, programs.ring_size)
        if self._reader.walk != "c":
            log.warning("the ring's C header walk is not built (make setup builds it); "
                        "reading the ring in Python, which costs more CPU per event")
        self._queue = asyncio.Queue(maxsize=cfg.queue_batches)
        for stage in self.stages:
            await stage.start()
        for sink in self.sinks:
            await sink.start()
        self._pump = asyncio.create_task(self._run_pump(), name="ringside-pump")
        self._arm()
        self.startup_seconds = time.monotonic() - began
        log.info("sensor %s running (%s tier, areas %s, ring walk in %s) after %.2fs",
                 self.instance, self.tier, ",".join(cfg.areas), self._reader.walk,
                 self.startup_seconds)

    async def stop(self) -> None:
        """Drain what the kernel already recorded, deliver it, then unload."""
        if self._stopped or not self._started:
            return
        self._stopped = True
        self._end_pause()
        self._disarm()
        if self.programs is not None:
            self.programs.detach()
        if self._reader is not None and self._queue is not None:
            # What the kernel recorded before the detach still goes out: wait
            # for room in the queue rather than drop at the end.
            while (batch := self._reader.poll(self.config.max_batch_bytes)) is not None:
                self._count_read(batch)
                await self._queue.put(batch)
        if self._queue is not None and self._pump is not None:
            await self._queue.put(None)
            await self._pump
        for sink in self.sinks:
            try:
                await sink.stop()
            except Exception:
                log.exception("sink %s failed to stop", sink.name)
        for stage in self.stages:
            await stage.stop()
        self._final_counters = self.programs.counters() if self.programs else None
        if self._reader is not None:
            self._reader.close()
        if self.programs is not None:
            self.programs.close()

    # ---- pausing ----

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    @property
    def state(self) -> str:
        """``not started``, ``starting``, ``running``, ``paused`` or ``stopped``."""
        if not self._started:
            return "not started"
        if self._stopped:
            return "stopped"
        if self.programs is None:
            return "starting"
        return "paused" if self.paused else "running"

    def pause(self) -> bool:
        """Detach the BPF programs: nothing is recorded until :meth:`resume`.

        The sensor keeps running: what the ring already holds is read and
        delivered, and the process table is kept.  Processes that start and
        end while paused are unknown to it, so the first events of one that
        outlives the pause take its details from /proc.  Returns False if
        there was nothing to pause (not running, stopped, or paused already).
        """
        if self.programs is None or self._stopped or self._paused_at is not None:
            return False
        self.programs.detach()
        self._paused_at = time.monotonic()
        self.stats.pauses += 1
        log.warning("paused: the BPF programs are detached and nothing is recorded "
                    "until the sensor is resumed")
        return True

    def resume(self) -> bool:
        """Attach the programs again after :meth:`pause`; False if not paused."""
        if self.programs is None or self._stopped or self._paused_at is None:
            return False
        self.programs.attach()
        paused = self._end_pause()
        log.warning("resumed after %.1fs paused: the BPF programs are attached again", paused)
        return True

    def _end_pause(self) -> float:
        """Close the pause in force, if any, into the counters; its length in s."""
        if self._paused_at is None:
            return 0.0
        paused = time.monotonic() - self._paused_at
        self._paused_at = None
        self.stats.paused_seconds += paused
        return paused

    async def __aenter__(self) -> Sensor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- the reader ----
    #
    # Quiet, the reader waits on the ring's epoll and the kernel wakes it
    # when a record lands in the empty ring.  While records flow, it reads
    # every read_interval and the programs send no wakeups
    # (Programs.set_wakeups): each one costs a self-interrupt in the program
    # that sends it, for a reader that is coming anyway.
    #
    # Going quiet, wakeups are turned on before the reader is armed, and a
    # record reserved before that makes the ring readable at once.  A
    # program that looked at the switch just before it turned, and reserved
    # its record just after the arming, sends no wakeup: the quiet check
    # (every QUIET_CHECK_S while armed) finds such a record.

    QUIET_CHECK_S = 1.0

    def _arm(self) -> None:
        assert self._loop is not None and self._reader is not None
        assert self.programs is not None
        if not self._armed and not self._stopped:
            self.programs.set_wakeups(True)
            self._loop.add_reader(self._reader.fd, self._on_readable)
            self._armed = True
            self._quiet_handle = self._loop.call_later(self.QUIET_CHECK_S, self._check_quiet)

    def _disarm(self) -> None:
        if self._armed and self._loop is not None and self._reader is not None:
            self._loop.remove_reader(self._reader.fd)
            self._armed = False
        for handle in (self._drain_handle, self._quiet_handle):
            if handle is not None:
                handle.cancel()
        self._drain_handle = self._quiet_handle = None

    def _on_readable(self) -> None:
        self.stats.ring_wakeups += 1
        self._start_reading()

    def _start_reading(self) -> None:
        # Records came while we were idle.  Let more gather before reading:
        # the kernel wakes a reader only once it has caught up, so no further
        # wakeup comes until we read, and none is needed while we read on a timer.
        self._disarm()
        assert self._loop is not None and self.programs is not None
        self.programs.set_wakeups(False)
        self._drain_handle = self._loop.call_later(self.config.read_interval, self._drain)

    def _check_quiet(self) -> None:
        """While armed: records the ring holds with no wakeup sent for them are read."""
        assert self._loop is not None and self._reader is not None
        self._quiet_handle = None
        if not self._armed:
            return
        pending = self._reader.pending_bytes()
        if pending:
            log.debug("the ring holds %d bytes that sent no wakeup; reading them", pending)
            self.stats.ring_quiet_reads += 1
            self._start_reading()
        else:
            self._quiet_handle = self._loop.call_later(self.QUIET_CHECK_S, self._check_quiet)

    def _drain(self) -> None:
        """Empty the ring into the queue; then read again in a moment, or wait on epoll.

        Everything the ring holds moves to the queue in one turn (the queue
        is the larger buffer, and the only one whose overflow the pump can
        work off): copying one batch per turn, behind a pump that takes
        tens of ms a batch, let a burst outgrow the ring.
        """
        self._drain_handle = None
        if self._stopped:
            return
        assert self._loop is not None and self._reader is not None and self._queue is not None
        read = 0
        while (batch := self._reader.poll(self.config.max_batch_bytes)) is not None:
            read += 1
            self._count_read(batch)
            try:
                self._queue.put_nowait(batch)
            except asyncio.QueueFull:
                self._count_dropped(batch)
        if read:
            # Records are flowing: read again in a moment.
            self._drain_handle = self._loop.call_later(self.config.read_interval, self._drain)
        else:
            self._arm()  # quiet: wait for the kernel's wakeup

    def _count_read(self, batch: Batch) -> None:
        self.stats.ring_records += len(batch)
        self.stats.ring_bytes += len(batch.data)

    def _count_dropped(self, batch: Batch) -> None:
        """A batch the full queue could not take: counted by event type, from the headers."""
        data = batch.data
        for off in batch.offsets:
            etype = int.from_bytes(data[off + _HDR_TYPE : off + _HDR_TYPE + 2], "little")
            self.stats.user_drops[("queue", event_name(etype))] += 1

    # ---- the pump ----

    async def _run_pump(self) -> None:
        assert self._queue is not None and self._decoder is not None
        queue = self._queue
        while True:
            raw = await queue.get()
            if raw is None:
                return
            # Let the reader run between batches (a get from a non-empty queue
            # does not yield), even while the queue is full.
            await asyncio.sleep(0)
            batch = self._decoder.decode(raw)
            if not batch:
                continue  # auxiliary records only
            try:
                for stage in self.stages:
                    batch = await stage.process(batch)
                for sink in self.sinks:
                    await sink.write(batch)
                    self.stats.delivered.update([(sink.name, ev.event) for ev in batch])
            except (BrokenPipeError, ConnectionResetError):
                log.info("output closed by its reader; stopping")
                for ev in batch:
                    self.stats.user_drops[("sink", ev.event)] += 1
                self.finished.set()
                continue
            except Exception:
                log.exception("a stage or sink failed; %d events dropped", len(batch))
                self.stats.internal_errors += 1
                for ev in batch:
                    self.stats.user_drops[("sink", ev.event)] += 1
                continue
            self._delivered += len(batch)
            if self.max_events is not None and self._delivered >= self.max_events:
                self.finished.set()

    # ---- counters ----

    def _paused_seconds(self) -> float:
        now = time.monotonic() - self._paused_at if self._paused_at is not None else 0.0
        return self.stats.paused_seconds + now

    def counters(self) -> dict[str, Any]:
        """Kernel and user-space counters, as one dict."""
        kernel: KernelCounters | None
        if self.programs is not None and not self._stopped:
            kernel = self.programs.counters()
        else:
            kernel = self._final_counters
        extra: dict[str, Any] = {
            "sensor": {"instance": self.instance, "tier": self.tier,
                       "startup_seconds": round(self.startup_seconds, 3),
                       "ring_walk": self._reader.walk if self._reader is not None else None},
            "queue_depth": self._queue.qsize() if self._queue is not None else 0,
            "paused": {"now": self._paused_at is not None, "pauses": self.stats.pauses,
                       "seconds": round(self._paused_seconds(), 3)},
        }
        # Stages and sinks with counters of their own (Kafka delivery, metadata
        # cache) report them under their name.
        parts: list[Stage | Sink] = [*self.stages, *self.sinks]
        for part in parts:
            part_counters = getattr(part, "counters", None)
            if callable(part_counters):
                extra.setdefault("components", {})[part.name] = part_counters()
        if self._table is not None:
            extra["process_table"] = {"size": len(self._table),
                                      "evicted": self._table.evicted,
                                      "proc_reads": self._table.proc_reads}
        return self.stats.snapshot(kernel, extra)
