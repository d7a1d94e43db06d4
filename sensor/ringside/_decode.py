"""Turning a batch of ring records into events: the reader's synchronous half.

Every record is decoded, or rejected with a counted (and rate-limited,
logged) error; nothing a record contains can raise out of here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel
from ringside_schema import EventBase, WireContext, WireFormatError, _common, file, process, wire

from ._aux import AUX_DECODERS
from ._native import FASTDECODE
from ._proctable import ProcessTable
from ._ring import Batch
from ._stats import Stats

log = logging.getLogger(__name__)

# Decode errors are logged at most this often; every one is counted.
LOG_EVERY = 10.0

# A stage's own auxiliary record: (counter name, decoder, handler of the decoded record).
AuxHandler = tuple[str, wire.Decoder, Callable[[Any], None]]


# The Python decoders _fastdecode.c stands in for, by event type.
PROCESS_DECODERS: dict[int, tuple[str, type[BaseModel], wire.Decoder]] = {
    wire.EVENT_PROCESS_FORK: ("process.fork", process.ProcessFork, process.decode_fork),
    wire.EVENT_PROCESS_EXEC: ("process.exec", process.ProcessExec, process.decode_exec),
    wire.EVENT_PROCESS_EXIT: ("process.exit", process.ProcessExit, process.decode_exit),
}
NATIVE_TYPES = (*file.FILE_EVENTS, *PROCESS_DECODERS)


def native_decoder() -> wire.Decoder | None:
    """``_fastdecode.c``'s decoder of file and process events, or None when it is not built.

    It decodes what storms are made of in C (a file storm's batch: 3.2 against
    6.5 us an event here) and hands every other record to the Python decoder
    of its type; the layout and tables it works with are Python's own, given
    here.
    """
    module = FASTDECODE.load_extension()
    if module is None:
        return None
    module.configure(native_config())
    return module.decode  # type: ignore[no-any-return]


def native_config(fallbacks: Mapping[int, wire.Decoder] | None = None) -> dict[str, Any]:
    """What ``_fastdecode.c`` agrees with Python on; ``fallbacks`` decode what it declines."""
    names = {name: op for op, name in file.SYSCALLS.items()}
    models: dict[int, tuple[str, type[BaseModel]]] = dict(file.FILE_EVENTS)
    models.update({t: (name, model) for t, (name, model, _) in PROCESS_DECODERS.items()})
    classes: list[type[BaseModel]] = [_common.Process, file.FileInfo, _common.Sensor,
                                      process.ForkChild]
    classes += [model for _, model in models.values()]
    python: dict[int, wire.Decoder] = {t: file.decode_file for t in file.FILE_EVENTS}
    python.update({t: decode for t, (_, _, decode) in PROCESS_DECODERS.items()})
    return {
        "fallbacks": dict(fallbacks) if fallbacks is not None else python,
        "build_process_block": process.build_process_block,
        "process_cache_max": process.PROCESS_CACHE_MAX,
        "process_size": wire.PROCESS.size,
        "event_models": models,
        "syscalls": dict(file.SYSCALLS),
        "dir_ops": {names[n] for n in file._DIRECTORY_OPS},
        "symlink_ops": {names[n] for n in file._SYMLINK_OPS},
        "mknod_ops": {names["mknod"], names["mknodat"]},
        "open_ops": {names[n] for n in file._OPEN_OPS},
        "mode_types": dict(file._MODE_TYPES),
        "unlinkat_op": names["unlinkat"],
        "at_removedir": file.AT_REMOVEDIR,
        "Process": _common.Process,
        "FileInfo": file.FileInfo,
        "Sensor": _common.Sensor,
        "ForkChild": process.ForkChild,
        "fields_sets": {cls: _common._FIELDS_SET.setdefault(cls, set(cls.model_fields))
                        for cls in classes},
        "proc_off": file.FILE.offsets["proc"],
        "fixed_off": file.FILE.offsets["op"],
        "vl_off": file.FILE.offsets["vl"],
        "fork_fixed_off": process.FORK.offsets["child_start_ns"],
        "fork_vl_off": process.FORK.offsets["vl"],
        "exec_vl_off": process.EXEC.offsets["vl"],
        "exit_fixed_off": process.EXIT.offsets["exit_code"],
        "exit_vl_off": process.EXIT.offsets["vl"],
        "vl_hdr_size": wire.VARLEN.size,
        "vl_field_size": wire.VL_FIELD.size,
        "vl_type_max": wire.VL_TYPE_MAX,
        "vl_path": wire.VL_PATH,
        "vl_path_new": wire.VL_PATH_NEW,
        "vl_link_target": wire.VL_LINK_TARGET,
        "vl_argv": wire.VL_ARGV,
        "vl_exe": wire.VL_EXE,
        "vl_filename": wire.VL_FILENAME,
        "vl_cwd": wire.VL_CWD,
        "vl_tty_name": wire.VL_TTY_NAME,
        "vl_f_truncated": wire.VL_F_TRUNCATED,
        "hdr_f_reduced": wire.HDR_F_REDUCED,
        "ev_create": wire.EVENT_FILE_CREATE,
        "ev_rename": wire.EVENT_FILE_RENAME,
        "ev_link": wire.EVENT_FILE_LINK,
        "ev_chmod": wire.EVENT_FILE_CHMOD,
        "ev_chown": wire.EVENT_FILE_CHOWN,
        "ev_fork": wire.EVENT_PROCESS_FORK,
        "ev_exec": wire.EVENT_PROCESS_EXEC,
        "ev_exit": wire.EVENT_PROCESS_EXIT,
    }


class BatchDecoder:
    def __init__(self, ctx: WireContext, table: ProcessTable, stats: Stats,
                 aux_handlers: Mapping[int, AuxHandler] | None = None,
                 native: bool = True) -> None:
        self._ctx = ctx
        self._table = table
        self._stats = stats
        self._decoders: dict[int, wire.Decoder] = {**wire.DECODERS, **AUX_DECODERS}
        fast = native_decoder() if native else None
        self.decoding = "C" if fast is not None else "Python"
        if fast is not None:
            self._decoders.update(dict.fromkeys(NATIVE_TYPES, fast))
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
