"""The Kafka pieces that need no broker: encoding, sequence bookkeeping, the
consumer's checks, settings, latency percentiles.  (The broker itself is
never imitated: everything that talks to Kafka is tested against the real
one in the other files here.)"""

from __future__ import annotations

import random
import time
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ringside import ConfigError
from ringside._consume import Checker, SeqSet
from ringside._kafka import LatencyHistogram, describe
from ringside._kafka_config import KafkaConfig, KafkaConnection
from ringside._kafka_record import Encoder, record_key
from ringside_schema import decode, encode

from tests.kafka.events import exec_event


@given(st.sets(st.integers(1, 300), min_size=1), st.randoms())
def test_seqset_finds_duplicates_and_holes(seqs: set[int], rnd: random.Random) -> None:
    order = list(seqs) * 2  # every number twice
    rnd.shuffle(order)
    s = SeqSet()
    new = [s.add(x) for x in order]
    assert sum(new) == len(seqs)  # the second sighting of each is a duplicate
    lo, hi = min(seqs), max(seqs)
    missing = {x for x in range(lo, hi + 1) if x not in seqs}
    assert {x for a, b in s.holes() for x in range(a, b + 1)} == missing
    assert len(s) == len(seqs)
    assert all(a <= b for a, b in s.holes())


class Reports:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def __call__(self, obj: dict[str, Any]) -> None:
        self.items.append(obj)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [r[kind] for r in self.items if kind in r]


class Sink:
    def __init__(self) -> None:
        self.data = b""

    def write(self, b: bytes) -> None:
        self.data += b

    def flush(self) -> None:
        pass


def test_checker_reports_a_gap_only_after_the_grace_and_its_late_filling() -> None:
    out, reports = Sink(), Reports()
    c = Checker(out, reports, gap_grace=5)  # type: ignore[arg-type]
    for seq in (1, 2, 4, 5):
        assert c.message("t", 0, seq, encode(exec_event(seq)))
    c.check_gaps(now=100.0)
    assert reports.of("gap") == []  # 3 may still be on its way in another partition
    c.check_gaps(now=104.0)
    assert reports.of("gap") == []
    c.check_gaps(now=105.5)
    (gap,) = reports.of("gap")
    assert (gap["first_missing"], gap["missing"]) == (3, 1)
    c.check_gaps(now=200.0)
    assert len(reports.of("gap")) == 1  # reported once
    assert c.summary()["missing"] == 1
    # It arrives after all: the report is withdrawn, the summary clean.
    assert c.message("t", 1, 9, encode(exec_event(3)))
    c.check_gaps(now=201.0)
    assert reports.of("gap_filled")[0]["first_missing"] == 3
    assert c.summary()["missing"] == 0 and c.summary()["gaps"] == {}
    assert out.data.count(b"\n") == 5


def test_checker_drops_duplicates_per_host_instance_and_cpu() -> None:
    out, reports = Sink(), Reports()
    c = Checker(out, reports)  # type: ignore[arg-type]
    assert c.message("t", 0, 0, encode(exec_event(1)))
    assert not c.message("t", 0, 1, encode(exec_event(1)))  # the same event again
    assert c.message("t", 0, 2, encode(exec_event(1, cpu=1)))  # another CPU's sequence
    assert c.message("t", 0, 3, encode(exec_event(1, instance="e" * 32)))  # another run's
    s = c.summary()
    assert (s["events"], s["duplicates"], s["streams"]) == (3, 1, 3)
    assert reports.items == []


def test_encoder_values_decode_to_the_same_event() -> None:
    enc = Encoder()
    events = [exec_event(i, pid=100 + i % 3) for i in range(20)]
    records, nbytes = enc.records(events)
    assert nbytes == sum(len(rec.value) for rec in records)
    for event, rec in zip(events, records, strict=True):
        assert decode(rec.value) == event
        assert msgpack.unpackb(rec.value) == msgpack.unpackb(encode(event))
        assert rec.key == f"entity-{event.process.pid}".encode() == record_key(event)
        assert rec.event == "process.exec" and rec.ktime_ns == event.ktime_ns
        # The record timestamp is the event's wall-clock time, in ms.
        now_ms = time.time() * 1000
        boot_ms = time.clock_gettime_ns(time.CLOCK_BOOTTIME) / 1e6
        assert abs(rec.ts_ms - (now_ms - boot_ms + event.ktime_ns / 1e6)) < 1000


def test_key_without_an_entity_id_is_host_and_pid() -> None:
    event = exec_event(1, pid=77)
    object.__setattr__(event.process, "entity_id", None)  # as the reduced tier may leave it
    assert record_key(event) == f"{event.host.id}:77".encode()


@pytest.mark.parametrize(("change", "message"), [
    ({"compression": "brotli"}, "--kafka-compression"),
    ({"spool_fsync": "sometimes"}, "--kafka-spool-fsync"),
    ({"topic_prefix": "a b"}, "--kafka-topic-prefix"),
    ({"partitions": 0}, "partitions must be positive"),
    ({"spool_max_bytes": 1 << 20}, "at least one segment"),
    ({"connection": KafkaConnection("localhost")}, "is not HOST:PORT"),
    ({"connection": KafkaConnection("h:1", sasl_mechanism="PLAIN", username="u",
                                    password="p")}, "in clear"),
    ({"connection": KafkaConnection("h:1", sasl_mechanism="OAUTH")}, "choose from"),
    ({"connection": KafkaConnection("h:1", key_file="/etc/hostname", tls=True)},
     "--kafka-key needs --kafka-cert"),
])
def test_bad_settings_name_the_option(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        KafkaConfig(**change).validate()


def test_latency_percentiles_are_within_the_bucket_resolution() -> None:
    rnd = random.Random(7)
    samples = [rnd.randint(1, 5 * 10**9) for _ in range(50_000)]
    h = LatencyHistogram()
    h.add_many(samples)
    samples.sort()
    for q in (0.5, 0.9, 0.99):
        true = samples[int(q * len(samples)) - 1]
        got = h.percentile_ns(q)
        assert got is not None and true <= got <= true * 1.07
    assert h.summary()["max"] == round(samples[-1] / 1e6, 3)
    h.reset()
    assert h.summary() == {"p50": None, "p99": None, "max": None, "samples": 0}


def test_describe_names_the_error_once() -> None:
    from aiokafka.errors import KafkaConnectionError

    assert describe(KafkaConnectionError("no route")) == "KafkaConnectionError: no route"
    assert describe(OSError(111, "refused")) == "ConnectionRefusedError: [Errno 111] refused"
