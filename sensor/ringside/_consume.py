"""``ringside consume``: read the sensor's topics, print NDJSON, report losses.

Each message value is decoded into the same models the sensor built
(:func:`ringside_schema.decode`, validated) and printed as one JSON line on
stdout.  What is not an event of ours (another producer's message, a
corrupt value, an unknown schema) is reported on stderr with its topic,
partition and offset, counted, and skipped: it never stops the consumer.

Losses and duplicates: every event carries ``(host.id, sensor.instance,
sensor.cpu, sensor.seq)``, the sequence counting the events one sensor run
built on one CPU.  The consumer keeps, per (host, instance, cpu), the
sequence numbers it has seen as a short list of ranges:

* a number seen before is a duplicate (a sensor resent an event whose
  acknowledgement it never got): dropped and counted;
* a hole between numbers seen is a lost event, or one still on its way
  (one sensor's events are spread over partitions by process, and the
  partitions are read side by side).  A hole still open ``gap_grace``
  seconds after it was first seen is reported as a gap as it goes; every
  hole still open at the end is in the summary, per host.

Reports on stderr are JSON objects, one a line: ``{"skipped": ...}``,
``{"gap": ...}``, ``{"gap_filled": ...}`` and, at the end, ``{"summary": ...}``.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from ringside_schema import SCHEMA_VERSION, MessageFormatError, decode

from ._errors import PublishError
from ._kafka import describe
from ._kafka_config import CATEGORIES, HEADER_SCHEMA, KafkaConnection
from ._sinks import to_json

log = logging.getLogger(__name__)


class SeqSet:
    """Sequence numbers seen, as sorted, disjoint, non-adjacent ranges ``[lo, hi]``."""

    def __init__(self) -> None:
        self.los: list[int] = []
        self.his: list[int] = []

    def add(self, seq: int) -> bool:
        """Record ``seq``; False if it was already there."""
        los, his = self.los, self.his
        i = bisect.bisect_right(los, seq) - 1  # the range starting at or before seq
        if i >= 0 and seq <= his[i]:
            return False
        joins_left = i >= 0 and his[i] == seq - 1
        joins_right = i + 1 < len(los) and los[i + 1] == seq + 1
        if joins_left and joins_right:
            his[i] = his[i + 1]
            del los[i + 1], his[i + 1]
        elif joins_left:
            his[i] = seq
        elif joins_right:
            los[i + 1] = seq
        else:
            los.insert(i + 1, seq)
            his.insert(i + 1, seq)
        return True

    def holes(self) -> list[tuple[int, int]]:
        """Missing ranges ``[lo, hi]`` between the lowest and highest number seen."""
        return [(self.his[i] + 1, self.los[i + 1] - 1) for i in range(len(self.los) - 1)]

    def __len__(self) -> int:
        return sum(hi - lo + 1 for lo, hi in zip(self.los, self.his, strict=True))


Stream = tuple[str, str, int]  # host id, sensor instance, cpu


@dataclass
class ConsumeConfig:
    connection: KafkaConnection
    topic_prefix: str = "ringside."
    categories: tuple[str, ...] = CATEGORIES
    from_beginning: bool = False
    group: str | None = None  # a consumer group commits offsets; without one, nothing is committed
    max_events: int | None = None
    idle_timeout: float | None = None  # stop when no message came for this long
    gap_grace: float = 5.0  # a hole open this long is reported as a gap


@dataclass
class ConsumeStats:
    messages: int = 0
    events: int = 0
    duplicates: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # by reason
    by_type: Counter[str] = field(default_factory=Counter)


class Checker:
    """Decodes messages, drops duplicates, finds gaps: everything but the Kafka client."""

    def __init__(self, out: IO[bytes], report: Callable[[dict[str, Any]], None],
                 gap_grace: float = 5.0) -> None:
        self.out = out
        self.report = report
        self.gap_grace = gap_grace
        self.stats = ConsumeStats()
        self.seqs: dict[Stream, SeqSet] = {}
        self.hostnames: dict[str, str] = {}
        self._seen_holes: dict[tuple[Stream, int, int], float] = {}  # hole -> first seen
        self._reported: set[tuple[Stream, int, int]] = set()

    def message(self, topic: str, partition: int, offset: int, value: bytes | None,
                headers: Any = ()) -> bool:
        """Handle one message; True if it was a new event (printed)."""
        self.stats.messages += 1
        if value is None:
            self._skip(topic, partition, offset, "empty", "a message without a value")
            return False
        try:
            event = decode(value)
        except MessageFormatError as exc:
            detail = exc.detail
            version = _header(headers, HEADER_SCHEMA)
            if version is not None and version != str(SCHEMA_VERSION).encode():
                detail += (f" (written with schema version {version.decode(errors='replace')};"
                           f" this consumer reads version {SCHEMA_VERSION})")
            elif version is None:
                detail += " (no ringside-schema header: not from a Ringside sensor?)"
            self._skip(topic, partition, offset, exc.reason, detail)
            return False
        sensor = event.sensor
        stream = (event.host.id, sensor.instance, sensor.cpu)
        seqs = self.seqs.get(stream)
        if seqs is None:
            seqs = self.seqs[stream] = SeqSet()
            self.hostnames[event.host.id] = event.host.hostname
        if not seqs.add(sensor.seq):
            self.stats.duplicates += 1
            return False
        self.stats.events += 1
        self.stats.by_type[event.event] += 1
        self.out.write(to_json(event))
        return True

    def _skip(self, topic: str, partition: int, offset: int, reason: str, detail: str) -> None:
        self.stats.skipped[reason] += 1
        self.report({"skipped": {"topic": topic, "partition": partition, "offset": offset,
                                 "reason": reason, "detail": detail}})

    def check_gaps(self, now: float | None = None) -> None:
        """Report holes open for ``gap_grace`` seconds, and reported holes since filled."""
        now = time.monotonic() if now is None else now
        current: set[tuple[Stream, int, int]] = set()
        for stream, seqs in self.seqs.items():
            for lo, hi in seqs.holes():
                hole = (stream, lo, hi)
                current.add(hole)
                first = self._seen_holes.setdefault(hole, now)
                if hole not in self._reported and now - first >= self.gap_grace:
                    self._reported.add(hole)
                    self.report({"gap": self._describe(stream, lo, hi)})
        for hole in list(self._seen_holes):
            if hole not in current:
                del self._seen_holes[hole]
                if hole in self._reported:
                    # Filled (or narrowed: the rest is a new hole, reported in its turn).
                    self._reported.discard(hole)
                    self.report({"gap_filled": self._describe(*hole)})

    def _describe(self, stream: Stream, lo: int, hi: int) -> dict[str, Any]:
        host, instance, cpu = stream
        return {"host": host, "hostname": self.hostnames.get(host), "instance": instance,
                "cpu": cpu, "first_missing": lo, "last_missing": hi, "missing": hi - lo + 1}

    def summary(self) -> dict[str, Any]:
        gaps: dict[str, dict[str, Any]] = {}
        for stream, seqs in self.seqs.items():
            holes = seqs.holes()
            if not holes:
                continue
            host, instance, cpu = stream
            entry = gaps.setdefault(host, {"hostname": self.hostnames.get(host), "missing": 0,
                                           "ranges": []})
            for lo, hi in holes:
                entry["missing"] += hi - lo + 1
                entry["ranges"].append({"instance": instance, "cpu": cpu, "first": lo,
                                        "last": hi})
        s = self.stats
        return {"messages": s.messages, "events": s.events, "duplicates": s.duplicates,
                "skipped": dict(s.skipped), "by_type": dict(s.by_type),
                "missing": sum(g["missing"] for g in gaps.values()), "gaps": gaps,
                "streams": len(self.seqs)}


def _header(headers: Any, name: str) -> bytes | None:
    for key, value in headers or ():
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


async def consume(config: ConsumeConfig, out: IO[bytes] | None = None,
                  err: IO[str] | None = None, stop: asyncio.Event | None = None
                  ) -> dict[str, Any]:
    """Run until ``max_events``, ``idle_timeout`` or ``stop``; returns the summary."""
    out = out if out is not None else sys.stdout.buffer
    err = err if err is not None else sys.stderr

    def report(obj: dict[str, Any]) -> None:
        err.write(json.dumps(obj) + "\n")
        err.flush()

    checker = Checker(out, report, config.gap_grace)
    topics = [config.topic_prefix + c for c in config.categories]
    consumer = AIOKafkaConsumer(
        *topics,
        **config.connection.client_kwargs(),
        group_id=config.group,
        enable_auto_commit=config.group is not None,
        auto_offset_reset="earliest" if config.from_beginning else "latest",
        # A topic the sensor creates after we start is picked up within seconds.
        metadata_max_age_ms=5000,
    )
    try:
        await consumer.start()
    except (KafkaError, OSError) as exc:
        await consumer.stop()
        raise PublishError(f"cannot connect to Kafka at {config.connection.bootstrap}: "
                           f"{describe(exc)}") from exc
    last_message = time.monotonic()
    last_check = last_message
    try:
        while stop is None or not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            now = time.monotonic()
            for tp, messages in batches.items():
                for m in messages:
                    checker.message(tp.topic, tp.partition, m.offset, m.value, m.headers)
                    if config.max_events is not None and checker.stats.events >= \
                            config.max_events:
                        return _finish(checker, report, out)
            if batches:
                last_message = now
                out.flush()
            elif config.idle_timeout is not None and now - last_message >= config.idle_timeout:
                break
            if now - last_check >= min(1.0, config.gap_grace):
                checker.check_gaps(now)
                last_check = now
    finally:
        await consumer.stop()
    return _finish(checker, report, out)


def _finish(checker: Checker, report: Callable[[dict[str, Any]], None], out: IO[bytes]
            ) -> dict[str, Any]:
    out.flush()
    summary = checker.summary()
    report({"summary": summary})
    return summary
