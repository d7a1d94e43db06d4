"""Counters of everything the sensor did, dropped or could not decode.

Kernel-side counters live in BPF maps and are read on demand; user-space
counters are plain integers updated on the event loop's thread.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ringside_schema import wire

from ._bpf import KernelCounters

EVENT_NAMES = {
    wire.EVENT_PROCESS_FORK: "process.fork",
    wire.EVENT_PROCESS_EXEC: "process.exec",
    wire.EVENT_PROCESS_EXIT: "process.exit",
    wire.EVENT_FILE_CREATE: "file.create",
    wire.EVENT_FILE_MODIFY: "file.modify",
    wire.EVENT_FILE_DELETE: "file.delete",
    wire.EVENT_FILE_RENAME: "file.rename",
    wire.EVENT_FILE_CHMOD: "file.chmod",
    wire.EVENT_FILE_CHOWN: "file.chown",
    wire.EVENT_FILE_LINK: "file.link",
    wire.EVENT_TTY_WRITE: "tty.write",
    wire.EVENT_AUX_EXEC_ARGS: "aux.exec_args",
    wire.EVENT_AUX_CWD: "aux.cwd",
    wire.EVENT_AUX_CGROUP: "aux.cgroup",
}


def event_name(event_type: int) -> str:
    return EVENT_NAMES.get(event_type, f"type{event_type}")


class Stats:
    def __init__(self) -> None:
        self.ring_records = 0
        self.ring_bytes = 0
        self.ring_wakeups = 0  # times the kernel woke the idle reader
        self.ring_quiet_reads = 0  # times the quiet check found records that woke nobody
        self.decoded: Counter[str] = Counter()  # events by name, aux records included
        self.decode_errors: Counter[str] = Counter()  # by WireFormatError.reason
        self.internal_errors = 0  # a bug in a stage after decoding; the event is dropped
        self.user_drops: Counter[tuple[str, str]] = Counter()  # (stage, event name)
        self.delivered: Counter[tuple[str, str]] = Counter()  # (sink, event name)
        self.seq_gaps = 0  # events missing from the per-CPU sequences, as seen by the reader
        self.pauses = 0  # Sensor.pause() calls that detached the programs
        self.paused_seconds = 0.0  # time spent paused, ended pauses only
        self._last_seq: dict[int, int] = {}

    def note_seq(self, cpu: int, seq: int) -> None:
        last = self._last_seq.get(cpu)
        if last is not None and seq > last + 1:
            self.seq_gaps += seq - last - 1
        if last is None or seq > last:
            self._last_seq[cpu] = seq

    def snapshot(self, kernel: KernelCounters | None, extra: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
        """All counters as one JSON-ready dict (printed on exit, served as metrics)."""
        out: dict[str, Any] = {
            "ring": {"records": self.ring_records, "bytes": self.ring_bytes,
                     "wakeups": self.ring_wakeups, "quiet_check_reads": self.ring_quiet_reads},
            "decoded": dict(self.decoded),
            "decode_errors": dict(self.decode_errors),
            "internal_errors": self.internal_errors,
            "user_drops": {f"{stage}/{name}": n for (stage, name), n in self.user_drops.items()},
            "delivered": {f"{sink}/{name}": n for (sink, name), n in self.delivered.items()},
            "seq_gaps": self.seq_gaps,
        }
        if kernel is not None:
            out["kernel"] = {
                "sent": {event_name(t): n for t, n in kernel.sent.items()},
                "drops": {f"{event_name(t)}/{reason}": n
                          for (t, reason), n in kernel.drops.items()},
                "dropped": kernel.dropped,
            }
            if kernel.tty_bytes:
                out["kernel"]["tty_bytes"] = dict(kernel.tty_bytes)
        if extra:
            out.update(extra)
        return out
