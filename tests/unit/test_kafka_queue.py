"""The publisher's queue: memory takes events while it has room, the spool the overflow,
and the sender takes them back in the order they were written.

No broker here: these tests drive the sink's queue directly (the sender's
side is :meth:`KafkaSink._next_chunk`); the Kafka tier runs the whole
publisher against a real broker.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ringside._kafka import KafkaSink
from ringside._kafka_config import KafkaConfig, KafkaConnection

from tests.kafka.events import exec_event


def take_all_acknowledged(sink: KafkaSink) -> list[int]:
    """Indexes of every chunk the sender would take now, each acknowledged at once."""
    order: list[int] = []

    async def drain() -> None:
        while (chunk := await sink._next_chunk()) is not None:
            order.extend(chunk.indexes)
            chunk.submitting = False
            sink._check_done(chunk)

    asyncio.run(drain())
    return order


def test_a_burst_spools_only_its_overflow_and_is_sent_in_order(tmp_path: Path) -> None:
    sink = KafkaSink(KafkaConfig(connection=KafkaConnection(bootstrap="127.0.0.1:9"),
                                 spool_dir=str(tmp_path), memory_bytes=1, linger_ms=0,
                                 spool_fsync="never"))
    sink._spool.open()  # what start() does, without a sender: no broker here
    seq = iter(range(10_000))

    def write(n: int) -> None:
        asyncio.run(sink.write([exec_event(next(seq)) for _ in range(n)]))

    write(10)  # 0-9: memory (it had room)
    write(10)  # 10-19: memory is full: the spool
    assert (sink.spooled, sink._mem_records) == (10, 10)
    first = asyncio.run(sink._next_chunk())  # the sender takes 0-9 ...
    assert first is not None and list(first.indexes) == list(range(10))
    first.submitting = False
    sink._check_done(first)  # ... and the broker acknowledges them: memory has room
    write(10)  # 20-29: memory again, not behind the spooled stretch
    write(5)  # 30-34: memory is full again: the spool
    write(0)
    assert sink.spooled == 15 and sink._mem_records == 10
    assert take_all_acknowledged(sink) == list(range(10, 35))
    assert sink.replayed == 15 and sink.unacknowledged() == 0
    sink._spool.close()
