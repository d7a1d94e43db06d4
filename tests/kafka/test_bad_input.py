"""``ringside consume`` against messages that are not ours, corrupt, repeated or missing.

Each bad message is reported with its topic, partition and offset and
skipped; the consumer goes on and prints the good ones after it.  A
repeated event is dropped and counted; a hole in a sequence is reported as
it goes and in the summary.
"""

from __future__ import annotations

import asyncio

import msgpack
import pytest
from aiokafka import AIOKafkaProducer
from ringside_schema import encode

from tests.kafka.broker import Broker
from tests.kafka.conftest import consume
from tests.kafka.events import exec_event

pytestmark = pytest.mark.kafka

HEADERS = [("ringside-schema", b"1"), ("ringside-event", b"process.exec")]


def test_bad_messages_are_reported_and_skipped(broker: Broker, prefix: str) -> None:
    topic = prefix + "process"
    messages: list[tuple[bytes | None, list[tuple[str, bytes]]]] = [
        (encode(exec_event(1)), HEADERS),                                  # 0 good
        (b"\xc1 this is not msgpack", []),                                 # 1 not msgpack
        (msgpack.packb([1, 2, 3]), []),                                    # 2 not a map
        (msgpack.packb({"event": "process.exec", "host": 5}), HEADERS),    # 3 invalid fields
        (None, []),                                                        # 4 no value
        (msgpack.packb({"event": "disk.format"}), [("ringside-schema", b"7")]),  # 5 unknown
        (encode(exec_event(2)), HEADERS),                                  # 6 good
        (encode(exec_event(2)), HEADERS),                                  # 7 duplicate
        (encode(exec_event(4)), HEADERS),                                  # 8 good; 3 is lost
    ]

    async def produce() -> list[int]:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        try:
            offsets = []
            for value, headers in messages:
                md = await producer.send_and_wait(topic, value, key=b"k", partition=0,
                                                  headers=headers)
                offsets.append(md.offset)
            return offsets
        finally:
            await producer.stop()

    offsets = asyncio.run(produce())
    assert offsets == list(range(9))

    result = consume(broker.bootstrap, prefix, "--events", "process", "--gap-grace", "0.5",
                     timeout=4)
    assert result.returncode == 0, result.stderr
    # The good ones, each once, in order, around and after the bad ones.
    assert [e["sensor"]["seq"] for e in result.events] == [1, 2, 4]
    assert result.events[0] == orjson_roundtrip(exec_event(1))

    skipped = {s["offset"]: s for s in result.of("skipped")}
    assert sorted(skipped) == [1, 2, 3, 4, 5]
    assert all(s["topic"] == topic and s["partition"] == 0 for s in skipped.values())
    assert skipped[1]["reason"] == "msgpack"
    assert skipped[2]["reason"] == "shape"
    assert skipped[3]["reason"] == "invalid" and "Field required" in skipped[3]["detail"]
    assert skipped[4]["reason"] == "empty"
    assert skipped[5]["reason"] == "invalid"
    assert "schema version 7" in skipped[5]["detail"]
    assert "not from a Ringside sensor" in skipped[1]["detail"]

    (gap,) = result.of("gap")  # reported as it went, before the summary
    assert (gap["first_missing"], gap["last_missing"], gap["missing"]) == (3, 3, 1)
    assert gap["cpu"] == 0 and gap["hostname"] == "test-host"
    kinds = [next(iter(r)) for r in result.reports]
    assert kinds.index("gap") < kinds.index("summary")

    s = result.summary
    assert s["messages"] == 9 and s["events"] == 3 and s["duplicates"] == 1
    assert s["skipped"] == {"msgpack": 1, "shape": 1, "invalid": 2, "empty": 1}
    assert s["missing"] == 1
    host_gaps = s["gaps"]["0123456789abcdef0123456789abcdef"]
    assert host_gaps["missing"] == 1
    assert host_gaps["ranges"] == [{"instance": "f" * 32, "cpu": 0, "first": 3, "last": 3}]


def orjson_roundtrip(event: object) -> object:
    import orjson
    from ringside._sinks import to_json

    return orjson.loads(to_json(event))  # type: ignore[arg-type]
