"""The Kafka publisher: a sink that loses nothing while the broker is away.

::

    write(events) ── encode ──> memory queue ──┐      (or, when memory is full:)
        │   (never waits)                      │
        └──────────────────────────> spool ────┤
                                               ▼
    sender task: chunks in index order ──> per-partition batches ──> aiokafka ──> broker
                                               │                                   │
            acknowledged: watermark advances <─┴─────────── acks=all ─────────────┘
            failed: resent, oldest first

Every event gets an index, increasing in the order the sensor saw it.
:meth:`write` only encodes and appends: to the memory queue while it has
room, else to the spool.  It never waits for the broker, so the sensor's
pump (and the ring reader behind it) never waits either.  A sender task
takes the events in index order, from memory or the spool, whichever holds
the next one (a burst that overflows memory puts a stretch of events in the
spool; the events after it go to memory again as soon as it has room),
splits them into one Kafka batch per partition and hands those to
aiokafka's idempotent producer (``acks=all``).  An event counts as
delivered when the broker acknowledged its batch.

Keys and partitions: the key is the process's entity id, the partition
``murmur2(key) % partitions`` as in the Java client, so every event of one
process lands in one partition, in order, and other clients agree.  Values
are msgpack (``ringside_schema.encode``); headers carry the schema version
and the event name.

Faults: aiokafka retries a batch for as long as the broker is unreachable
(idempotence makes the retries safe).  A batch that fails anyway (the
producer gave up: no leader for too long, a fenced producer) is resent,
oldest first, after every batch in flight has settled, on a new producer if
the old one is broken.  Meanwhile new events pile up in memory, then in the
spool, and go out after the older ones.  Only a full spool drops events,
counted by type.

Stopping: :meth:`stop` waits up to ``stop_timeout`` for the broker to
acknowledge what is queued; what is still unacknowledged then is written to
the spool (in order, before anything spooled later), and the next start
replays the spool before anything new.  That is what "in order" means
across a restart: every event of the earlier run is sent before any of the
later run.  An event whose acknowledgement was lost (the broker wrote it,
then died before answering) is sent again; ``ringside consume`` recognises
the duplicate by host, sensor instance, CPU and sequence number.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2
from aiokafka.structs import TopicPartition
from ringside_schema import EventBase

from ._errors import PublishError, SpoolFullError
from ._kafka_config import HEADER_EVENT, HEADER_SCHEMA, KafkaConfig
from ._kafka_record import Encoder, Record
from ._sinks import Sink
from ._spool import Spool

log = logging.getLogger(__name__)

_LOG_EVERY = 10.0  # s between repeated warnings of one kind; every case is counted
_TOPIC_ALREADY_EXISTS = 36
_LATENCY_STRIDE = 4  # one record in this many is sampled for the latency percentiles


@dataclass(eq=False)
class _Chunk:
    """Records the sender took at once, in index order, until all are acknowledged."""

    indexes: Sequence[int]
    recs: list[Record]
    from_spool: bool  # still in the spool until acknowledged (else only in memory)
    nbytes: int
    pending: int = 0  # batches handed to the producer and not settled
    submitting: bool = True  # batches are still being handed over
    acked: int = 0
    done: bool = False

    def __post_init__(self) -> None:
        self.failed: list[int] = []  # positions whose batch failed: to resend
        self.ok: list[int] = []  # positions acknowledged (kept only until done)


class KafkaSink(Sink):
    """Publishes events to Kafka; see the module docstring.

    ``async with KafkaSink(config):`` or ``start()``/``stop()``; ``stop()`` is
    safe to call twice.  :meth:`counters` reports delivery like the sensor
    reports drops.
    """

    name = "kafka"

    def __init__(self, config: KafkaConfig) -> None:
        config.validate()
        self.config = config
        self._encoder = Encoder()
        self._spool = Spool(config.spool_dir, config.spool_max_bytes, config.spool_segment_bytes,
                            config.spool_fsync, config.spool_fsync_interval)
        # (index of the first, records, their size as _size counts it)
        self._memq: deque[tuple[int, list[Record], int]] = deque()
        self._mem_records = 0
        self._mem_bytes = 0  # memq plus chunks taken from it and not yet acknowledged
        self._next = 0  # index of the next event written
        self._taken = 0  # index after the last event the sender took
        self._inflight: deque[_Chunk] = deque()
        self._inflight_bytes = 0
        self._resend_needed = False
        self._producer: AIOKafkaProducer | None = None
        self._producer_broken = False
        self._sender: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()  # events written, or stopping
        self._settled = asyncio.Event()  # a batch was acknowledged or failed
        self._stopping = asyncio.Event()
        self._closing = False
        self._crashed = False  # the sender task died of a bug: everything is spooled
        self._started = False
        self._stopped = False
        self._headers: dict[tuple[str, int], list[tuple[str, bytes]]] = {}
        self._routes: dict[tuple[str, bytes], tuple[str, int]] = {}
        self._route_counts: dict[str, int] = {}  # partitions of each topic, when routed
        self._last_log: dict[str, float] = {}
        self.latency = LatencyHistogram()  # kernel timestamp to broker acknowledgement
        # counters
        self.connected = False
        self.received = 0
        self.sent = 0
        self.acknowledged = 0
        self.failed = 0
        self.resent = 0
        self.spooled = 0
        self.replayed = 0
        self.dropped: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.connects = 0

    # ---- lifecycle ----

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self.config.connection.ssl_context()  # bad TLS files fail here, not in a retry loop
        if self._encoder.packing != "C":
            log.warning("kafka: the C packer (_fastpack.c) is not built (make setup builds "
                        "it); packing events in Python, which costs more CPU per event")
        self._spool.open()
        self._next = self._taken = self._spool.next_index
        self._sender = asyncio.create_task(self._run_sender(), name="ringside-kafka-sender")
        if self._spool.unread:
            log.warning("kafka: %d events left in the spool by an earlier run will be sent first",
                        self._spool.unread)

    async def __aenter__(self) -> KafkaSink:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def flush(self) -> None:
        """Wait until every event written so far is acknowledged (however long that takes)."""
        await self.wait_acknowledged(None)

    async def wait_acknowledged(self, timeout: float | None) -> bool:
        """Wait until every event written so far is acknowledged; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.unacknowledged():
            if self._sender is None or self._sender.done():
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    def unacknowledged(self) -> int:
        """Events written and not yet acknowledged: in memory, in flight, or in the spool."""
        in_flight = sum(len(c.recs) - c.acked for c in self._inflight)
        return self._mem_records + in_flight + self._spool.unread

    async def stop(self) -> None:
        """Deliver what the broker will take within ``stop_timeout``; spool the rest."""
        if self._stopped or not self._started:
            return
        self._stopped = True
        if not await self.wait_acknowledged(self.config.stop_timeout):
            log.warning("kafka: %d events not acknowledged within %.0f s of stopping; they stay "
                        "in the spool %s for the next start", self.unacknowledged(),
                        self.config.stop_timeout, self.config.spool_dir)
        self._closing = True
        self._stopping.set()
        self._wake.set()
        if self._sender is not None:
            self._sender.cancel()
            try:
                await self._sender
            except asyncio.CancelledError:
                pass
        await self._close_producer(abandon=True)
        # The acknowledgement state before the dump: it must not claim the
        # dumped events (their chunks leave the in-flight list) acknowledged.
        acked = self._ack_state()
        self._dump_to_spool()
        self._spool.acknowledge(*acked, force_save=True)
        self._spool.close()

    # ---- writing (the pump's path: never waits) ----

    async def write(self, events: Sequence[EventBase]) -> None:
        if self._closing:
            raise PublishError("the Kafka publisher is stopped")
        recs, nbytes = self._encoder.records(events)
        self.received += len(recs)
        if self._mem_bytes >= self.config.memory_bytes or self._crashed:
            self._to_spool(recs)
        else:
            first = self._next
            self._next += len(recs)
            nbytes += _RECORD_OVERHEAD * len(recs)
            self._memq.append((first, recs, nbytes))
            self._mem_records += len(recs)
            self._mem_bytes += nbytes
        self._wake.set()

    def _to_spool(self, recs: list[Record]) -> None:
        first = self._next
        n = self._spool.append(recs, range(first, first + len(recs)))
        self._next += n
        self.spooled += n
        if n < len(recs):
            for rec in recs[n:]:
                self.dropped[rec.event] += 1
            self._warn("spool-full", "%s", SpoolFullError(
                f"the spool {self.config.spool_dir} is full "
                f"({self.config.spool_max_bytes >> 20} MiB): {sum(self.dropped.values())} events "
                "dropped so far (counted by type)"))

    # ---- the sender ----

    async def _run_sender(self) -> None:
        try:
            while not self._closing:
                if self._producer is None or self._producer_broken:
                    await self._connect()
                    continue
                if self._resend_needed:
                    await self._resend()
                    continue
                chunk = await self._next_chunk()
                if chunk is None:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                await self._send_chunk(chunk, range(len(chunk.recs)))
                chunk.submitting = False
                self._check_done(chunk)
                while self._inflight_bytes > self.config.in_flight_bytes and not self._closing:
                    self._settled.clear()
                    await self._settled.wait()
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug, not a broker fault (those are handled above).  Publishing
            # stops, loudly; from now on write() spools everything, and stop()
            # spools what memory holds: the next start sends it all.
            log.exception("kafka: the sender failed; events go to the spool for the next start")
            self.errors["sender_crash"] += 1
            self._crashed = True

    async def _connect(self) -> None:
        await self._close_producer(abandon=True)
        backoff = 0.5
        conn = self.config.connection
        while not self._closing:
            producer = AIOKafkaProducer(
                **conn.client_kwargs(),
                acks="all",
                enable_idempotence=True,
                compression_type=None if self.config.compression == "none"
                else self.config.compression,
                max_batch_size=self.config.max_batch_bytes,
                max_request_size=max(1 << 20, self.config.max_batch_bytes * 2),
                request_timeout_ms=self.config.request_timeout_ms,
                linger_ms=0,  # batches are built here, whole
            )
            try:
                await producer.start()
            except asyncio.CancelledError:
                await _quietly_stop(producer)  # an unclosed producer warns when collected
                raise
            except (KafkaError, OSError) as exc:
                self.errors[type(exc).__name__] += 1
                self.connected = False
                await _quietly_stop(producer)
                self._warn("connect", "kafka: cannot connect to %s (%s); events are kept "
                           "(%d unacknowledged), retrying", conn.bootstrap, describe(exc),
                           self.unacknowledged())
                await self._sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            self._producer = producer
            self._producer_broken = False
            self.connected = True
            self.connects += 1
            log.info("kafka: connected to %s (%s)", conn.bootstrap, conn.security_protocol)
            if self.config.create_topics:
                await self._create_topics()
                if not await self._await_leaders(producer):
                    log.warning("kafka: some partitions of %s have no leader yet; sending "
                                "anyway (refused batches are retried)",
                                ", ".join(self.config.topics()))
            log.info("kafka: publishing to %s", ", ".join(self.config.topics()))
            return

    async def _create_topics(self) -> None:
        admin = AIOKafkaAdminClient(**self.config.connection.client_kwargs(),
                                    request_timeout_ms=self.config.request_timeout_ms)
        try:
            await admin.start()
            response = await admin.create_topics([
                NewTopic(t, self.config.partitions, self.config.replication)
                for t in self.config.topics()])
            for topic, code, *rest in response.topic_errors:
                if code not in (0, _TOPIC_ALREADY_EXISTS):
                    self._warn(f"topic-{topic}", "kafka: cannot create topic %s (error %d %s); "
                               "relying on the broker to create it", topic, code, rest)
        except (KafkaError, OSError) as exc:
            self._warn("topics", "kafka: cannot create topics (%s); relying on the broker", exc)
        finally:
            await _quietly_close(admin)

    async def _await_leaders(self, producer: AIOKafkaProducer, timeout: float = 10.0) -> bool:
        """Wait (a little) until new topics have partition leaders: a batch sent before
        that is refused and retried, with a warning per partition.  False on timeout."""
        client = producer.client
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._closing:
            await client.force_metadata_update()
            cluster = client.cluster
            if all(cluster.partitions_for_topic(t) and all(
                    cluster.leader_for_partition(TopicPartition(t, p)) not in (None, -1)
                    for p in cluster.partitions_for_topic(t)) for t in self.config.topics()):
                return True
            await self._sleep(0.2)
        return False

    async def _next_chunk(self) -> _Chunk | None:
        """The oldest events not yet taken, from the spool or the memory queue.

        Each holds stretches of indexes (memory takes events while it has
        room, the spool the overflow), so the two are merged by index: a
        chunk comes from one of them and ends where the other's next event
        would come first.
        """
        limit = self.config.chunk_records
        while self._spool.unread:  # the spool first, while its next event is the older
            spool_next = self._spool.next_unread()
            if spool_next is None or (self._memq and self._memq[0][0] < spool_next):
                break
            below = self._memq[0][0] if self._memq else None
            pairs = self._spool.read(limit, self.config.max_batch_bytes * 4, below=below)
            if pairs:
                replay = [r for _, r in pairs]
                self.replayed += len(replay)
                return self._take(_Chunk([i for i, _ in pairs], replay, True, _size(replay)))
            if self._spool.next_unread() == spool_next:
                break  # nothing more to read yet (the open tail, read to its end)
        if not self._memq:
            return None
        if self._mem_records < limit and self.config.linger_ms > 0:
            # Let a few more gather into the same batches (a busy sensor
            # fills the chunk before this matters).
            await asyncio.sleep(self.config.linger_ms / 1000)
        recs: list[Record] = []
        nbytes = 0
        first = self._memq[0][0]
        # One stretch of consecutive indexes: the next one may be in the spool.
        while self._memq and len(recs) < limit and self._memq[0][0] == first + len(recs):
            start, batch, batch_bytes = self._memq[0]
            room = limit - len(recs)
            if len(batch) <= room:
                self._memq.popleft()
                recs += batch
                nbytes += batch_bytes
            else:
                head = batch[:room]
                taken = _size(head)
                recs += head
                nbytes += taken
                self._memq[0] = (start + room, batch[room:], batch_bytes - taken)
        self._mem_records -= len(recs)
        return self._take(_Chunk(range(first, first + len(recs)), recs, False, nbytes))

    def _take(self, chunk: _Chunk) -> _Chunk:
        self._taken = chunk.indexes[-1] + 1
        self._inflight.append(chunk)
        self._inflight_bytes += chunk.nbytes
        return chunk

    async def _send_chunk(self, chunk: _Chunk, positions: Sequence[int]) -> None:
        """Hand the records at ``positions`` of a chunk to the producer, one batch per partition."""
        producer = self._producer
        assert producer is not None
        recs = chunk.recs
        groups: dict[tuple[str, int], list[int]] = {}
        # (event, key) -> (topic, partition), valid while no topic's partition count
        # changes (a topic given more partitions sends keys elsewhere, as in Java).
        routes, counts = self._routes, self._route_counts
        cluster = producer.client.cluster
        for topic, n in counts.items():
            if len(cluster.partitions_for_topic(topic) or ()) != n:
                routes.clear()
                counts.clear()
                break
        try:
            for pos in positions:
                rec = recs[pos]
                route = routes.get((rec.event, rec.key))
                if route is None:
                    topic = self.config.topic(rec.event)
                    if topic not in counts:
                        counts[topic] = len(await producer.partitions_for(topic))
                    n = counts[topic]
                    if len(routes) >= 1 << 16:
                        routes.clear()  # bounded: keys are processes, and they come and go
                    route = routes[rec.event, rec.key] = (topic, _partition(rec.key, n))
                group = groups.get(route)
                if group is None:
                    groups[route] = [pos]
                else:
                    group.append(pos)
        except (KafkaError, OSError) as exc:
            self._batch_failed(chunk, list(positions), exc)
            return
        headers = self._headers
        for (topic, partition), members in groups.items():
            batch_positions: list[int] = []
            builder = producer.create_batch()
            for pos in members:
                rec = recs[pos]
                hdrs = headers.get((rec.event, rec.schema))
                if hdrs is None:
                    hdrs = headers[rec.event, rec.schema] = [
                        (HEADER_SCHEMA, str(rec.schema).encode()),
                        (HEADER_EVENT, rec.event.encode())]
                if builder.append(timestamp=rec.ts_ms, key=rec.key, value=rec.value,
                                  headers=hdrs) is None:
                    await self._submit(chunk, builder, topic, partition, batch_positions)
                    builder = producer.create_batch()
                    batch_positions = []
                    builder.append(timestamp=rec.ts_ms, key=rec.key, value=rec.value,
                                   headers=hdrs)
                batch_positions.append(pos)
            await self._submit(chunk, builder, topic, partition, batch_positions)

    async def _submit(self, chunk: _Chunk, builder: Any, topic: str, partition: int,
                      positions: list[int]) -> None:
        producer = self._producer
        assert producer is not None
        chunk.pending += 1
        self.sent += len(positions)
        try:
            future = await producer.send_batch(builder, topic, partition=partition)
        except (KafkaError, OSError) as exc:
            chunk.pending -= 1
            self._batch_failed(chunk, positions, exc)
            return
        future.add_done_callback(lambda fut: self._batch_settled(chunk, positions, fut))

    def _batch_settled(self, chunk: _Chunk, positions: list[int], fut: asyncio.Future[Any]
                       ) -> None:
        chunk.pending -= 1
        self._settled.set()
        exc = None if fut.cancelled() else fut.exception()
        if fut.cancelled() or exc is not None:
            self._batch_failed(chunk, positions, exc or PublishError("cancelled"))
            return
        n = len(positions)
        chunk.acked += n
        chunk.ok += positions
        self.acknowledged += n
        now = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        recs = chunk.recs
        self.latency.add_many(now - recs[p].ktime_ns for p in positions[::_LATENCY_STRIDE])
        self._check_done(chunk)

    def _batch_failed(self, chunk: _Chunk, positions: list[int], exc: BaseException) -> None:
        self.failed += len(positions)
        self.errors[type(exc).__name__] += 1
        chunk.failed += positions
        self._resend_needed = True
        self._warn("batch", "kafka: %d events not delivered (%s); they will be sent again",
                   len(positions), describe(exc))
        self._settled.set()
        self._wake.set()

    def _check_done(self, chunk: _Chunk) -> None:
        if chunk.submitting or chunk.pending or chunk.failed or chunk.done:
            return
        chunk.done = True
        chunk.ok = []
        self._inflight_bytes -= chunk.nbytes
        if not chunk.from_spool:
            self._mem_bytes -= chunk.nbytes
        while self._inflight and self._inflight[0].done:
            self._inflight.popleft()
        if chunk.from_spool or self._spool.segments:
            self._spool.acknowledge(*self._ack_state())
        self._settled.set()

    def _ack_state(self) -> tuple[int, list[tuple[int, int]]]:
        """(everything below is acknowledged, acknowledged ranges above that)."""
        if not self._inflight:
            return self._taken, []
        ranges: list[tuple[int, int]] = []
        for chunk in self._inflight:
            if chunk.done:
                lo, hi = chunk.indexes[0], chunk.indexes[-1] + 1
                if ranges and ranges[-1][1] == lo:
                    ranges[-1] = (ranges[-1][0], hi)
                else:
                    ranges.append((lo, hi))
        return self._inflight[0].indexes[0], ranges

    async def _resend(self) -> None:
        """Send failed batches again, oldest first, once nothing else is in flight."""
        while any(c.pending or c.submitting for c in self._inflight) and not self._closing:
            self._settled.clear()
            await self._settled.wait()
        if self._closing:
            return
        if self._producer_broken or _producer_dead(self._producer):
            log.warning("kafka: the producer is broken; connecting a new one")
            self._producer_broken = True
            return  # _run_sender connects, then comes back here (_resend_needed stays set)
        self._resend_needed = False
        await self._sleep(0.2)  # the producer already retried; do not spin on a refusing broker
        for chunk in list(self._inflight):
            if chunk.failed and not self._closing:
                positions, chunk.failed = sorted(set(chunk.failed)), []
                chunk.submitting = True
                self.resent += len(positions)
                await self._send_chunk(chunk, positions)
                chunk.submitting = False
                self._check_done(chunk)

    # ---- stopping ----

    async def _close_producer(self, abandon: bool) -> None:
        producer, self._producer = self._producer, None
        self.connected = False
        if producer is None:
            return
        if abandon:
            await _abandon_batches(producer, self.config.request_timeout_ms / 1000 + 5)
        await _quietly_stop(producer)

    def _dump_to_spool(self) -> None:
        """Write what only memory holds and the broker did not acknowledge to the spool.

        In index order, one run per stretch between the spool's segments
        (a segment holds consecutive indexes), so that the spool reads back
        in the order the events happened.
        """
        runs: list[tuple[list[Record], list[int]]] = []
        run: tuple[list[Record], list[int]] | None = None
        for chunk in self._inflight:
            if chunk.from_spool or chunk.done:
                continue
            acked = set(chunk.ok)
            for pos, (index, rec) in enumerate(zip(chunk.indexes, chunk.recs, strict=True)):
                if pos not in acked:
                    run = self._extend_run(runs, run, index, rec)
        for start, batch, _ in self._memq:
            for index, rec in enumerate(batch, start):
                run = self._extend_run(runs, run, index, rec)
        self._memq.clear()
        self._mem_records = 0
        self._inflight = deque(c for c in self._inflight if c.from_spool)
        for recs, indexes in runs:
            n = self._spool.append(recs, indexes)
            self.spooled += n
            for rec in recs[n:]:
                self.dropped[rec.event] += 1
            if n < len(recs):
                log.error("kafka: the spool is full: %d events dropped at stop", len(recs) - n)
        total = sum(len(r) for r, _ in runs)
        if total:
            log.warning("kafka: %d unacknowledged events written to the spool at stop", total)

    def _extend_run(self, runs: list[tuple[list[Record], list[int]]],
                    run: tuple[list[Record], list[int]] | None, index: int, rec: Record
                    ) -> tuple[list[Record], list[int]]:
        """Add a record to the current run, or start a new one where a spool segment is between."""
        if run is None or (run[1][-1] + 1 != index
                           and self._spool.segment_between(run[1][-1], index)):
            run = ([], [])
            runs.append(run)
        run[0].append(rec)
        run[1].append(index)
        return run

    # ---- counters ----

    def counters(self) -> dict[str, Any]:
        return {
            "connected": int(self.connected),
            "connects": self.connects,
            "received": self.received,
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "failed": self.failed,
            "resent": self.resent,
            "spooled": self.spooled,
            "replayed": self.replayed,
            "dropped": dict(self.dropped),
            "unacknowledged": self.unacknowledged(),
            "memory": {"queued": self._mem_records, "bytes": self._mem_bytes},
            "in_flight": {"chunks": len(self._inflight), "bytes": self._inflight_bytes},
            "spool": self._spool.counters(),
            "errors": dict(self.errors),
            "ack_latency_ms": self.latency.summary(),
        }

    # ---- helpers ----

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake early when stopping."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass

    def _warn(self, kind: str, msg: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last_log.get(kind, -_LOG_EVERY) >= _LOG_EVERY:
            self._last_log[kind] = now
            log.warning(msg, *args)


class LatencyHistogram:
    """Latencies in nanoseconds, in buckets 1/16 of a power of two wide (6 % resolution):
    constant memory and time per sample, percentiles over everything since the last reset."""

    def __init__(self) -> None:
        self.buckets: Counter[int] = Counter()
        self.count = 0
        self.max_ns = 0

    def add_many(self, samples: Iterable[int]) -> None:
        buckets = self.buckets
        for ns in samples:
            if ns < 16:
                key = max(ns, 0)
            else:
                shift = ns.bit_length() - 5
                key = 16 + (shift << 4) + (ns >> shift) - 16
            buckets[key] += 1
            self.count += 1
            if ns > self.max_ns:
                self.max_ns = ns

    @staticmethod
    def upper_ns(key: int) -> int:
        """The largest latency a bucket holds."""
        if key < 16:
            return key
        shift, mantissa = divmod(key - 16, 16)
        return ((mantissa + 17) << shift) - 1

    def percentile_ns(self, q: float) -> int | None:
        if not self.count:
            return None
        rank = q * self.count
        seen = 0
        for key in sorted(self.buckets):
            seen += self.buckets[key]
            if seen >= rank:
                return min(self.upper_ns(key), self.max_ns)
        return self.max_ns

    def summary(self) -> dict[str, float | int | None]:
        def ms(ns: int | None) -> float | None:
            return None if ns is None else round(ns / 1e6, 3)

        return {"p50": ms(self.percentile_ns(0.5)), "p99": ms(self.percentile_ns(0.99)),
                "max": ms(self.max_ns if self.count else None), "samples": self.count}

    def reset(self) -> None:
        self.buckets.clear()
        self.count = 0
        self.max_ns = 0


def _partition(key: bytes, partitions: int) -> int:
    """Java's default partitioner: murmur2 of the key, made positive, modulo the partitions."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def describe(exc: BaseException) -> str:
    """``Type: message``, without the type twice (aiokafka's messages start with it)."""
    text = str(exc)
    name = type(exc).__name__
    return text if text.startswith(name) else f"{name}: {text}" if text else name


# Memory held per record besides its value: the key, the tuple and its objects.
_RECORD_OVERHEAD = 150


def _size(recs: list[Record]) -> int:
    """The memory a list of records holds, as the memory bound counts it."""
    return sum(len(r.value) for r in recs) + _RECORD_OVERHEAD * len(recs)


def _producer_dead(producer: AIOKafkaProducer | None) -> bool:
    """aiokafka's sender task ends only on an error it cannot recover from (a fenced or
    out-of-sequence producer); then every later batch fails too."""
    sender = getattr(producer, "_sender", None)
    task = getattr(sender, "sender_task", None)
    return task is not None and task.done()


async def _abandon_batches(producer: AIOKafkaProducer, timeout: float) -> None:
    """Fail the batches aiokafka still holds, so that stopping it does not wait for a broker
    that is not there (an idempotent producer retries them forever); they are ours to spool.

    aiokafka has no public call for this.  Its sender task is stopped first (it finishes
    the requests on the wire, which fail fast with the broker gone, or after the request
    timeout), then the accumulator's fail_all, what the producer itself uses when its
    sender dies, resolves every batch.  Failing batches while a request still carries
    them corrupts aiokafka's bookkeeping (a KeyError when it re-queues them)."""
    sender = getattr(producer, "_sender", None)
    task = getattr(sender, "sender_task", None)
    if task is not None and not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=timeout)
    accumulator = getattr(producer, "_message_accumulator", None)
    fail_all = getattr(accumulator, "fail_all", None)
    if callable(fail_all):
        fail_all(PublishError("the publisher stopped before the broker acknowledged"))


async def _quietly_stop(producer: AIOKafkaProducer) -> None:
    try:
        await asyncio.wait_for(producer.stop(), 10)
    except (KafkaError, OSError, TimeoutError) as exc:
        log.debug("kafka: producer stop: %s", exc)


async def _quietly_close(admin: AIOKafkaAdminClient) -> None:
    try:
        await admin.close()
    except (KafkaError, OSError) as exc:
        log.debug("kafka: admin close: %s", exc)
