"""Turning a batch of ring records into events: the reader's synchronous half.

Every record is decoded, or rejected with a counted (and rate-limited,
logged) error; nothing a record contains can raise out of here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from ringside_schema import EventBase, WireContext, WireFormatError, wire

from ._aux import AUX_DECODERS
from ._proctable import ProcessTable
from ._ring import Batch
from ._stats import Stats

log = logging.getLogger(__name__)

# Decode errors are logged at most this often; every one is counted.
LOG_EVERY = 10.0

# A stage's own auxiliary record: (counter name, decoder, handler of the decoded record).
AuxHandler = tuple[str, wire.Decoder, Callable[[Any], None]]


class BatchDecoder:
    def __init__(self, ctx: WireContext, table: ProcessTable, stats: Stats,
                 aux_handlers: Mapping[int, AuxHandler] | None = None) -> None:
        self._ctx = ctx
        self._table = table
        self._stats = stats
        self._decoders: dict[int, wire.Decoder] = {**wire.DECODERS, **AUX_DECODERS}
        # Auxiliary records, by type: (counter, handler).  They feed the process
        # table or a stage (Stage.aux_handlers) and are not events.
        self._handlers: dict[int, tuple[str, Callable[[Any], None]]] = {
            wire.EVENT_AUX_EXEC_ARGS: ("aux.exec_args", table.on_exec_args),
            wire.EVENT_AUX_CWD: ("aux.cwd", table.on_cwd),
        }
        for etype, (name, decode, handle) in (aux_handlers or {}).items():
            self._decoders[etype] = decode
            self._handlers[etype] = (f"aux.{name}", handle)
        self._last_log = 0.0

    def decode(self, batch: Batch) -> list[EventBase]:
        # Runs for every record: the attribute lookups are done once per batch.
        ctx, stats = self._ctx, self._stats
        decoders, handlers = self._decoders, self._handlers
        decoded, note_seq = stats.decoded, stats.note_seq
        unpack_header, new_header = wire.HEADER.unpack_from, wire.new_header
        version, header_size = wire.WIRE_VERSION, wire.HEADER.size
        apply = self._table.apply
        data = batch.data
        events: list[EventBase] = []
        append = events.append
        for off, length in zip(batch.offsets, batch.lengths, strict=True):
            try:
                # wire.parse_header, inline: it runs for every record.
                if length < header_size:
                    wire.parse_header(data, off, length)  # raises the error
                hdr = new_header(unpack_header(data, off))
                if hdr.version != version or hdr.size != length:
                    wire.check_header(hdr, length)  # raises the error
                fn = decoders.get(hdr.type)
                if fn is None:
                    raise WireFormatError("type", f"unknown event type {hdr.type}")
                ev = fn(data, off, hdr, ctx)
            except WireFormatError as exc:
                stats.decode_errors[exc.reason] += 1
                self._log_error(exc)
                continue
            except Exception as exc:  # noqa: BLE001 - a decoder bug must not stop the reader
                stats.decode_errors["malformed"] += 1
                self._log_error(exc)
                continue
            try:
                handler = handlers.get(hdr.type)
                if handler is not None:
                    decoded[handler[0]] += 1
                    handler[1](ev)
                    continue
                decoded[ev.event] += 1
                note_seq(hdr.cpu, hdr.seq)
                apply(ev)
            except Exception:
                stats.internal_errors += 1
                log.exception("process table failed on a record of type %d", hdr.type)
                continue
            append(ev)
        return events

    def _log_error(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_log >= LOG_EVERY:
            self._last_log = now
            log.warning("undecodable ring record (%s); %d so far", exc,
                        sum(self._stats.decode_errors.values()))
