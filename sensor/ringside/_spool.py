"""The on-disk spool: where events wait while Kafka cannot take them.

A directory of append-only segment files, bounded in bytes.  The publisher
appends to it when the broker is down or slow, reads it back in order when
the broker returns, and tells it which records the broker acknowledged;
a segment whose every record was acknowledged is deleted.

Every record has a global index, increasing in the order the sensor saw
the events (the publisher assigns them; indexes continue across restarts).
Segments hold increasing indexes and are named by their first, so reading
the segments in name order, and each from its start, is reading the events
in the order they happened.

Byte schema of a segment file ``<first index, 20 digits>.seg``::

    magic      8 bytes   b"RSSPOOL1"
    frame*               one per record:
      length   u32       of the body
      crc      u32       CRC-32 of the body
      body               index u64, ktime_ns u64, ts_ms i64, schema u16,
                         key length u16, event name length u8,
                         event name, key, value (msgpack)

All integers little-endian.  ``acked.json`` holds what the broker already
acknowledged: every index below ``below``, and the ``ranges`` (``[lo, hi)``)
above it; reopening the spool skips those records.

Durability (the fsync policy): ``always`` fsyncs every append before it
returns (each write waits for the disk); ``interval`` (the default) has a
thread fsync what was appended at most ``fsync_interval`` seconds ago, and
a segment when it is closed; ``never`` leaves it to the kernel.  Every
policy fsyncs everything at :meth:`Spool.close`.  So a crash of the machine
loses at most the last ``fsync_interval`` seconds of spooled events (with
``interval``); a crash of the sensor alone loses nothing the spool holds
(the kernel has it).  ``acked.json`` is rewritten at most twice a second
and at close: after a crash, records acknowledged in the last half second
are sent again (a consumer recognises them: see ``ringside consume``).

A torn frame at the end of a segment (a crash during a write) or a frame
whose CRC does not match is reported and counted; the segment is read up
to it and the rest of that segment is skipped.
"""

from __future__ import annotations

import bisect
import fcntl
import json
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import ConfigError
from ._kafka_record import Record

log = logging.getLogger(__name__)

MAGIC = b"RSSPOOL1"
FRAME = struct.Struct("<II")  # body length, crc32 of the body
BODY = struct.Struct("<QQqHHB")  # index, ktime_ns, ts_ms, schema, key length, name length
MAX_FRAME = 16 << 20  # a length above this is corruption, not an event
FSYNC_POLICIES = ("always", "interval", "never")


@dataclass
class _Segment:
    path: Path
    first: int  # index of its first record
    last: int = -1  # index of its last record (-1: none yet)
    size: int = 0  # bytes on disk
    records: int = 0
    fd: int = -1  # open for appending while it is the tail
    readable_end: int = 0  # bytes that hold whole, valid frames


@dataclass
class SpoolStats:
    appended: int = 0
    read: int = 0
    corrupt_frames: int = 0  # frames that failed their CRC or were torn
    skipped_bytes: int = 0  # bytes after a corrupt frame, not read
    fsyncs: int = 0
    fsync_max_ms: float = 0.0
    write_errors: int = 0
    deleted_segments: int = 0
    opened_records: int = 0  # unacknowledged records found at open


class Spool:
    """Append-only, bounded, in-order storage of records.  Not thread-safe:
    call it from one thread (the event loop's); only fsyncs run elsewhere."""

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int = 1 << 30,
                 segment_bytes: int = 16 << 20, fsync: str = "interval",
                 fsync_interval: float = 1.0) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ConfigError(f"spool fsync policy {fsync!r}: choose from {FSYNC_POLICIES}")
        if max_bytes < segment_bytes:
            raise ConfigError(f"spool size {max_bytes} is below one segment ({segment_bytes})")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self.fsync_interval = fsync_interval
        self.stats = SpoolStats()
        self._segments: list[_Segment] = []
        self._firsts: list[int] = []  # first index of each segment, for bisect
        self._bytes = 0
        self._unread = 0
        self._read_seg = 0  # position of the reader: segment number and offset in it
        self._read_off = len(MAGIC)
        self._acked_below = 0
        self._acked_ranges: list[tuple[int, int]] = []
        self._acks_saved = 0.0
        self._acks_dirty = False
        self._next_index = 0
        self._lock_fd = -1
        self._dirfd = -1
        self._opened = False
        self._closed = False
        # fsync thread: fds with unsynced appends, fds to close after a last fsync
        self._sync_lock = threading.Lock()
        self._sync_wake = threading.Condition(self._sync_lock)
        self._dirty: set[int] = set()
        self._to_close: list[int] = []
        self._dir_dirty = False
        self._sync_thread: threading.Thread | None = None
        self._sync_stop = False

    # ---- opening ----

    def open(self) -> None:
        """Lock the directory, and find what an earlier run left (torn tails are cut)."""
        if self._opened:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.directory / "spool.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = -1
            raise ConfigError(f"spool {self.directory} is in use by another sensor") from None
        self._dirfd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        self._opened = True
        self._load_acks()
        for path in sorted(self.directory.glob("*.seg")):
            try:
                first = int(path.stem)
            except ValueError:
                log.warning("spool: ignoring %s (not a segment name)", path)
                continue
            seg = self._scan(path, first)
            if seg is None:
                continue
            if seg.records == 0 or seg.last < self._acked_below:
                path.unlink()  # nothing left to send in it
                self.stats.deleted_segments += 1
                continue
            self._segments.append(seg)
            self._firsts.append(seg.first)
            self._bytes += seg.size
            self._next_index = max(self._next_index, seg.last + 1)
        # Indexes go on after everything the file says was acknowledged: a new
        # record must not take an index that reads as acknowledged.
        self._next_index = max(self._next_index, self._acked_below,
                               *(hi for _lo, hi in self._acked_ranges))
        self._unread = self._count_unacked()
        self.stats.opened_records = self._unread
        if self._unread:
            log.info("spool %s: %d records from an earlier run to replay", self.directory,
                     self._unread)
        if self.fsync == "interval":
            self._sync_thread = threading.Thread(target=self._sync_loop, daemon=True,
                                                 name="ringside-spool-fsync")
            self._sync_thread.start()

    def _load_acks(self) -> None:
        path = self.directory / "acked.json"
        try:
            state = json.loads(path.read_text())
            self._acked_below = int(state["below"])
            self._acked_ranges = [(int(lo), int(hi)) for lo, hi in state.get("ranges", [])]
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError) as exc:
            # Unreadable: replay everything (duplicates are recognisable; losses are not).
            log.warning("spool: %s is unreadable (%s); replaying every record", path, exc)

    def _scan(self, path: Path, first: int) -> _Segment | None:
        """Walk a segment's frames; cut it after the last whole, valid one."""
        seg = _Segment(path, first)
        data = path.read_bytes()
        seg.size = len(data)
        if data[: len(MAGIC)] != MAGIC and len(data) >= len(MAGIC):
            # Kept for a person to look at, out of the way of the spool.
            path.rename(path.with_suffix(".corrupt"))
            log.warning("spool: %s is not a spool segment; renamed to .corrupt", path)
            self.stats.corrupt_frames += 1
            self.stats.skipped_bytes += len(data)
            return None
        off = len(MAGIC)
        for index, _rec, end in _frames(data, off, len(data)):
            seg.last = index
            seg.records += 1
            off = end
        seg.readable_end = off
        if off < len(data):
            self.stats.corrupt_frames += 1
            self.stats.skipped_bytes += len(data) - off
            log.warning("spool: %s has a torn or corrupt frame at byte %d; its %d bytes "
                        "from there are skipped", path, off, len(data) - off)
            # Cut it, so that appends (there are none to an old segment) and
            # the size limit see what is really there.
            os.truncate(path, off)
            seg.size = off
        return seg

    def _count_unacked(self) -> int:
        total = 0
        for seg in self._segments:
            total += seg.records
            if seg.first < self._acked_below or self._acked_ranges:
                # Rare (a restart after a partial replay): count exactly.
                data = seg.path.read_bytes()
                total -= sum(1 for index, _r, _e in _frames(data, len(MAGIC), seg.readable_end)
                             if self.is_acked(index))
        return total

    def is_acked(self, index: int) -> bool:
        if index < self._acked_below:
            return True
        return any(lo <= index < hi for lo, hi in self._acked_ranges)

    # ---- state ----

    @property
    def next_index(self) -> int:
        """The index after the last record this spool holds or ever acknowledged."""
        return self._next_index

    @property
    def unread(self) -> int:
        """Records appended (or found at open) and not yet read."""
        return self._unread

    @property
    def size(self) -> int:
        return self._bytes

    @property
    def segments(self) -> int:
        return len(self._segments)

    def counters(self) -> dict[str, Any]:
        s = self.stats
        return {"bytes": self._bytes, "segments": len(self._segments), "unread": self._unread,
                "appended": s.appended, "read": s.read, "corrupt_frames": s.corrupt_frames,
                "skipped_bytes": s.skipped_bytes, "write_errors": s.write_errors,
                "fsyncs": s.fsyncs, "fsync_max_ms": round(s.fsync_max_ms, 3),
                "fsync": self.fsync}

    # ---- appending ----

    def append(self, records: Sequence[Record], indexes: Sequence[int]) -> int:
        """Append records with their indexes (increasing); returns how many were written.

        Records past the size limit are not written: the caller counts them
        as dropped.  A write error (a full disk) counts as the limit.
        """
        assert self._opened and not self._closed
        frames: list[bytes] = []
        nbytes = 0
        last = -1
        written = 0
        seg: _Segment | None = None
        for rec, index in zip(records, indexes, strict=True):
            frame = _frame(index, rec)
            if seg is None:
                seg = self._tail_for(index)
            new = seg is None or (seg.size + nbytes + len(frame) > self.segment_bytes
                                  and seg.size + nbytes > len(MAGIC))
            if self._bytes + nbytes + len(frame) + (len(MAGIC) if new else 0) > self.max_bytes:
                break
            if new:
                if frames:
                    assert seg is not None
                    if not self._write(seg, frames, nbytes, last):
                        return written
                    written += len(frames)
                    frames, nbytes = [], 0
                seg = self._new_segment(index)
            frames.append(frame)
            nbytes += len(frame)
            last = index
        if frames:
            assert seg is not None
            if not self._write(seg, frames, nbytes, last):
                return written
            written += len(frames)
        return written

    def _tail_for(self, index: int) -> _Segment | None:
        """The open tail segment, if ``index`` may follow its records there."""
        if not self._segments:
            return None
        tail = self._segments[-1]
        # A segment holds consecutive indexes: records that skip some (they
        # went through memory meanwhile) start a new one, so that a stretch
        # written later (a dump at stop) never falls inside a segment.
        if tail.fd < 0 or index != tail.last + 1 or tail.size >= self.segment_bytes:
            return None
        return tail

    def _new_segment(self, first: int) -> _Segment:
        self._close_tail()
        path = self.directory / f"{first:020d}.seg"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        os.write(fd, MAGIC)
        seg = _Segment(path, first, size=len(MAGIC), fd=fd, readable_end=len(MAGIC))
        pos = bisect.bisect(self._firsts, first)
        if pos > 0:
            assert self._segments[pos - 1].last < first, "spool segments must not overlap"
        if pos <= self._read_seg < len(self._segments):
            self._read_seg += 1  # it goes in before the reader's segment (a dump at stop)
        self._segments.insert(pos, seg)
        self._firsts.insert(pos, first)
        self._bytes += len(MAGIC)
        if self._sync_thread is not None:
            with self._sync_lock:
                self._dir_dirty = True
        return seg

    def _write(self, seg: _Segment, frames: list[bytes], nbytes: int, last: int) -> bool:
        data = b"".join(frames)
        try:
            written = os.write(seg.fd, data)
        except OSError as exc:
            written = -1
            log.error("spool: cannot write %s: %s", seg.path, exc)
        if written != len(data):
            # Cut back to the last whole frame; the caller drops the rest.
            self.stats.write_errors += 1
            try:
                os.ftruncate(seg.fd, seg.size)
            except OSError as exc:
                log.error("spool: cannot truncate %s: %s", seg.path, exc)
            return False
        seg.size += nbytes
        seg.readable_end = seg.size
        seg.records += len(frames)
        seg.last = last
        self._bytes += nbytes
        self._unread += len(frames)
        self.stats.appended += len(frames)
        if self.fsync == "always":
            self._fsync(seg.fd)
        elif self._sync_thread is not None:
            with self._sync_lock:
                self._dirty.add(seg.fd)
        return True

    def _close_tail(self) -> None:
        # The tail is the segment with an open fd (dumps may insert others after it).
        for seg in self._segments:
            if seg.fd >= 0:
                self._release_fd(seg.fd)
                seg.fd = -1

    def _release_fd(self, fd: int) -> None:
        """Close an appended-to fd; with the fsync thread, after its last fsync, there."""
        if self._sync_thread is None:
            os.close(fd)
            return
        # The fsync thread owns closing: an fd closed here while it is being
        # synced there could be reused for another file in between.
        with self._sync_lock:
            self._dirty.discard(fd)
            self._to_close.append(fd)
            self._sync_wake.notify()

    # ---- reading ----

    def segment_between(self, lo: int, hi: int) -> bool:
        """Whether a segment starts after index ``lo`` and before ``hi``."""
        pos = bisect.bisect_right(self._firsts, lo)
        return pos < len(self._firsts) and self._firsts[pos] < hi

    def next_unread(self) -> int | None:
        """No unread record has a lower index than this (None: nothing is unread).

        The index of the frame at the reader's position, which may be an
        acknowledged one that :meth:`read` will skip.
        """
        if not self._unread:
            return None
        seg_i, off = self._read_seg, self._read_off
        while seg_i < len(self._segments):
            seg = self._segments[seg_i]
            if off < seg.readable_end:
                if off == len(MAGIC):
                    return seg.first
                with open(seg.path, "rb") as f:
                    head = os.pread(f.fileno(), FRAME.size + BODY.size, off)
                return int(BODY.unpack_from(head, FRAME.size)[0])
            seg_i, off = seg_i + 1, len(MAGIC)
        return None

    def read(self, max_records: int, max_bytes: int = 1 << 20,
             below: int | None = None) -> list[tuple[int, Record]]:
        """The next unread records in order (acknowledged ones skipped).

        With ``below``, reading stops before the first record whose index is
        not below it (it stays unread).
        """
        out: list[tuple[int, Record]] = []
        budget = max_bytes
        while len(out) < max_records and budget > 0 and self._read_seg < len(self._segments):
            seg = self._segments[self._read_seg]
            if self._read_off >= seg.readable_end:
                if seg.fd >= 0:
                    break  # the open tail, read to its end: more may come
                self._read_seg += 1
                self._read_off = len(MAGIC)
                continue
            data = self._read_span(seg, budget)
            took = 0
            stop = False
            for index, rec, frame_end in _frames(data, 0, len(data)):
                if below is not None and index >= below:
                    stop = True
                    break
                took = frame_end
                if not self.is_acked(index):
                    out.append((index, rec))
                    budget -= len(rec.value) + len(rec.key)
                    if len(out) >= max_records or budget <= 0:
                        break
            if stop:
                self._read_off += took
                break
            if took == 0:
                # Every frame below readable_end was checked when written or
                # scanned: the disk changed under us.
                self.stats.corrupt_frames += 1
                self.stats.skipped_bytes += seg.readable_end - self._read_off
                log.error("spool: unreadable frame in %s at byte %d; skipping the rest of it",
                          seg.path, self._read_off)
                self._read_off = seg.readable_end
                continue
            self._read_off += took
        self._unread -= len(out)
        self.stats.read += len(out)
        return out

    def _read_span(self, seg: _Segment, budget: int) -> bytes:
        """About ``budget`` bytes of frames from the reader's position, one whole frame at least."""
        off, end = self._read_off, seg.readable_end
        with open(seg.path, "rb") as f:
            data = os.pread(f.fileno(), min(end - off, max(budget, FRAME.size)), off)
            if len(data) >= FRAME.size:
                whole = FRAME.size + FRAME.unpack_from(data)[0]
                if whole > len(data):
                    data = os.pread(f.fileno(), min(end - off, whole), off)
        return data

    # ---- acknowledgements ----

    def acknowledge(self, below: int, ranges: Sequence[tuple[int, int]] = (),
                    force_save: bool = False) -> None:
        """Everything under ``below`` and in ``ranges`` was acknowledged by the broker.

        Deletes the segments that are wholly read and acknowledged, and saves
        the state at most twice a second (at once with ``force_save``).
        """
        below = max(below, self._acked_below)
        kept = [(lo, hi) for lo, hi in ranges if hi > below]
        if below != self._acked_below or kept != self._acked_ranges:
            self._acks_dirty = True
        self._acked_below = below
        self._acked_ranges = kept
        while self._segments and self._segments[0].last < below:
            seg = self._segments[0]
            if self._read_seg == 0:
                if self._read_off < seg.readable_end:
                    break  # not read to its end yet
                self._read_off = len(MAGIC)
            else:
                self._read_seg -= 1
            self._segments.pop(0)
            self._firsts.pop(0)
            self._unlink(seg)
        now = time.monotonic()
        if self._acks_dirty and (force_save or now - self._acks_saved >= 0.5):
            self._save_acks()
            self._acks_saved = now

    def _save_acks(self) -> None:
        path = self.directory / "acked.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"below": self._acked_below,
                                   "ranges": [list(r) for r in self._acked_ranges]}))
        os.replace(tmp, path)
        self._acks_dirty = False

    def _unlink(self, seg: _Segment) -> None:
        if seg.fd >= 0:
            self._release_fd(seg.fd)
            seg.fd = -1
        try:
            seg.path.unlink()
        except FileNotFoundError:
            pass
        self._bytes -= seg.size
        self.stats.deleted_segments += 1

    # ---- fsync ----

    def _fsync(self, fd: int) -> None:
        began = time.monotonic()
        try:
            os.fsync(fd)
        except OSError as exc:
            log.error("spool: fsync failed: %s", exc)
            return
        took = (time.monotonic() - began) * 1000
        self.stats.fsyncs += 1
        self.stats.fsync_max_ms = max(self.stats.fsync_max_ms, took)

    def _sync_loop(self) -> None:
        """The ``interval`` policy's thread: fsync what was appended, close what was released."""
        while True:
            with self._sync_lock:
                self._sync_wake.wait(self.fsync_interval)
                dirty, self._dirty = self._dirty, set()
                to_close, self._to_close = self._to_close, []
                dir_dirty, self._dir_dirty = self._dir_dirty, False
                stop = self._sync_stop
            # Outside the lock: the loop thread takes it for every append, and
            # must not wait for a disk.  Fds are only closed here, so none of
            # these is closed (or reused) while it is synced.
            for fd in dirty:
                self._fsync(fd)
            for fd in to_close:
                self._fsync(fd)
                os.close(fd)
            if dir_dirty:
                self._fsync(self._dirfd)
            if stop:
                return

    # ---- closing ----

    def close(self) -> None:
        """fsync everything, save the acknowledgements, release the directory.  Idempotent."""
        if self._closed or not self._opened:
            return
        self._closed = True
        if self._sync_thread is not None:
            with self._sync_lock:
                self._sync_stop = True
                self._sync_wake.notify()
            self._sync_thread.join()
            self._sync_thread = None
        for seg in self._segments:
            if seg.fd >= 0:
                self._fsync(seg.fd)
                os.close(seg.fd)
                seg.fd = -1
        self._save_acks()
        self._fsync(self._dirfd)
        os.close(self._dirfd)
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)


def _frame(index: int, rec: Record) -> bytes:
    name = rec.event.encode()
    body = b"".join((BODY.pack(index, rec.ktime_ns, rec.ts_ms, rec.schema, len(rec.key),
                               len(name)), name, rec.key, rec.value))
    return FRAME.pack(len(body), zlib.crc32(body)) + body


def _frames(data: bytes, off: int, end: int) -> Iterator[tuple[int, Record, int]]:
    """(index, record, end offset) of each whole, valid frame from ``off``; stops at the first
    torn or corrupt one."""
    frame_size, body_size = FRAME.size, BODY.size
    unpack_frame, unpack_body = FRAME.unpack_from, BODY.unpack_from
    while off + frame_size <= end:
        length, crc = unpack_frame(data, off)
        start = off + frame_size
        stop = start + length
        if length < body_size or length > MAX_FRAME or stop > end:
            return
        body = data[start:stop]
        if zlib.crc32(body) != crc:
            return
        index, ktime, ts_ms, schema, key_len, name_len = unpack_body(body)
        p = body_size
        name = body[p : p + name_len].decode()
        p += name_len
        key = body[p : p + key_len]
        value = body[p + key_len :]
        yield index, Record(name, key, value, ts_ms, ktime, schema), stop
        off = stop
