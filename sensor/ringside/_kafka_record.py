"""An event ready for Kafka: what the publisher sends and the spool keeps.

The value is the event msgpack-encoded as :func:`ringside_schema.encode`
does it (a consumer decodes it with :func:`ringside_schema.decode`): a map
whose keys are the model's field names, nested models being maps too.

The packing is done by ``_fastpack.c`` (built by ``make setup``): 1.0 us a
file event here, against 2.3 for msgpack's own packer, which has to call
the Python hook for each of an event's four nested models.  Without the
build, msgpack's packer does it, to the same bytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import msgpack
from ringside_schema import SCHEMA_VERSION, EventBase, codec

from ._native import FASTPACK

Pack = Callable[[Any], bytes]


def packer(native: bool = True) -> tuple[Pack, str]:
    """The function that packs an event's fields, and which it is ("C" or "Python")."""
    module = FASTPACK.load_extension() if native else None
    if module is not None:
        module.configure(codec.MODEL_TYPES, codec.model_fields)
        return module.pack, "C"
    return msgpack.Packer(default=codec.model_fields, use_bin_type=True).pack, "Python"


class Record(NamedTuple):
    """One event as Kafka will carry it."""

    event: str  # "process.exec": topic category before the dot, and a header
    key: bytes  # the process's entity id: one process, one partition, in order
    value: bytes  # msgpack of the event
    ts_ms: int  # wall-clock ms of the event (the Kafka record timestamp)
    ktime_ns: int  # kernel boot-time ns of the event: ack latency is measured from it
    schema: int = SCHEMA_VERSION  # of the value's layout; a header


def record_key(event: EventBase) -> bytes:
    """The process's entity id; host id and pid where the sensor could not make one."""
    process = event.process
    return (process.entity_id or f"{event.host.id}:{process.pid}").encode()


class Encoder:
    """Turns events into :class:`Record` s.

    Keeps the offset between the boot-time and wall clocks, taken again every
    ``resync_s`` seconds (the wall clock can be stepped).
    """

    def __init__(self, resync_s: float = 10.0, native: bool = True) -> None:
        self._pack, self.packing = packer(native)
        self._resync_s = resync_s
        self._offset_ns = 0
        self._next_resync = 0.0
        self._resync()

    def _resync(self) -> None:
        self._offset_ns = (time.clock_gettime_ns(time.CLOCK_REALTIME)
                           - time.clock_gettime_ns(time.CLOCK_BOOTTIME))
        self._next_resync = time.monotonic() + self._resync_s

    def records(self, events: Sequence[EventBase]) -> tuple[list[Record], int]:
        """Records of a batch of events, and the bytes of their values.

        The sensor's hot path: kept flat, and the size is summed here rather
        than in a second pass.
        """
        if time.monotonic() >= self._next_resync:
            self._resync()
        offset, pack, new = self._offset_ns, self._pack, _new_record
        out = []
        nbytes = 0
        for event in events:
            fields = event.__dict__
            process = fields["process"]
            key = process.entity_id or f"{fields['host'].id}:{process.pid}"
            ktime = fields["ktime_ns"]
            value = pack(fields)
            nbytes += len(value)
            out.append(new(Record, (fields["event"], key.encode(), value,
                                    (ktime + offset) // 1_000_000, ktime, SCHEMA_VERSION)))
        return out, nbytes


# Builds a Record from a tuple without NamedTuple's argument parsing.
_new_record = tuple.__new__
