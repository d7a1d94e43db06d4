"""Reading the kernel's ring-buffer records (``bpf/events.h``).

Must be kept in sync with ``bpf/events.h``.  Every C struct has one
:class:`CStruct` here, declared field by field in C order; the same
declaration drives decoding and the layout test
(``tests/unit/test_wire_layout.py``), which compiles the header and checks
every size and offset against it.

Every record is::

    rs_header                32 bytes   ts_ns u64, seq u64, size u32, type u16,
                                        cpu u16, version u16, flags u16, pad u32
    fixed part               per type   e.g. rs_process (80 bytes) + exec fields
    rs_varlen                 8 bytes   count u32, size u32
    rs_vl_field + data       count x    type u16, flags u16, size u32, data[size]

The tail is packed (no alignment between fields).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import WireFormatError

if TYPE_CHECKING:
    from ._common import WireContext

WIRE_VERSION = 1  # RS_WIRE_VERSION


# Every mirrored C struct, by C name: what the layout test compares.
C_STRUCTS: dict[str, CStruct] = {}


class CStruct:
    """A C struct mirrored field by field, little-endian, no implicit padding.

    ``fields`` lists ``(name, struct format)`` in C order; holes in the C
    struct are explicit ``pad`` members on both sides.
    """

    def __init__(self, c_name: str, fields: list[tuple[str, str]]) -> None:
        if c_name in C_STRUCTS:
            raise RuntimeError(f"struct {c_name} is mirrored twice")
        C_STRUCTS[c_name] = self
        self.c_name = c_name
        self.fields = fields
        self.struct = struct.Struct("<" + "".join(fmt for _, fmt in fields))
        self.size = self.struct.size
        self.offsets: dict[str, int] = {}
        off = 0
        for name, fmt in fields:
            self.offsets[name] = off
            off += struct.calcsize("<" + fmt)
        self.unpack_from = self.struct.unpack_from

    def part(self, first: str, last: str) -> tuple[int, struct.Struct]:
        """Offset and struct of the members ``first`` to ``last``, inclusive."""
        names = [name for name, _ in self.fields]
        i, j = names.index(first), names.index(last)
        fmt = "".join(fmt for _, fmt in self.fields[i : j + 1])
        return self.offsets[first], struct.Struct("<" + fmt)


# struct rs_header
HEADER = CStruct(
    "rs_header",
    [
        ("ts_ns", "Q"),
        ("seq", "Q"),
        ("size", "I"),
        ("type", "H"),
        ("cpu", "H"),
        ("version", "H"),
        ("flags", "H"),
        ("pad", "I"),
    ],
)
HDR_F_REDUCED = 1 << 0

# struct rs_process
PROCESS = CStruct(
    "rs_process",
    [
        ("start_ns", "Q"),
        ("parent_start_ns", "Q"),
        ("cgroup_id", "Q"),
        ("pid", "I"),
        ("tid", "I"),
        ("ppid", "I"),
        ("uid", "I"),
        ("gid", "I"),
        ("euid", "I"),
        ("egid", "I"),
        ("loginuid", "I"),
        ("sessionid", "I"),
        ("flags", "I"),
        ("comm", "16s"),
    ],
)
PROC_F_CREDS = 1 << 0
PROC_F_PARENT = 1 << 1
PROC_F_START = 1 << 2
PROC_F_PSTART = 1 << 3

# struct rs_varlen and struct rs_vl_field
VARLEN = CStruct("rs_varlen", [("count", "I"), ("size", "I")])
VL_FIELD = CStruct("rs_vl_field", [("type", "H"), ("flags", "H"), ("size", "I")])

# enum rs_event_type; never renumbered
EVENT_PROCESS_FORK = 1
EVENT_PROCESS_EXEC = 2
EVENT_PROCESS_EXIT = 3
EVENT_FILE_CREATE = 16
EVENT_FILE_MODIFY = 17
EVENT_FILE_DELETE = 18
EVENT_FILE_RENAME = 19
EVENT_FILE_CHMOD = 20
EVENT_FILE_CHOWN = 21
EVENT_FILE_LINK = 22
EVENT_TTY_WRITE = 32
EVENT_AUX_EXEC_ARGS = 48
EVENT_AUX_CWD = 49
EVENT_AUX_CGROUP = 50
EVENT_TYPE_MAX = 64

# enum rs_drop_reason
DROP_REASONS = ("ringbuf_full", "no_scratch")

# enum rs_vl_type
VL_ARGV = 1
VL_EXE = 2
VL_FILENAME = 3
VL_CWD = 4
VL_TTY_NAME = 5
VL_PATH = 6
VL_PATH_NEW = 7
VL_LINK_TARGET = 8
VL_TTY_OUT = 9
VL_DIR = 10
VL_DIR_NEW = 11
VL_TYPE_MAX = 11

VL_F_TRUNCATED = 1 << 0
VL_F_RELATIVE = 1 << 1

UNSET_ID = 0xFFFFFFFF  # loginuid / sessionid not set


class Header(NamedTuple):
    """A record's ``rs_header``, member for member (``pad`` included)."""

    ts_ns: int
    seq: int
    size: int
    type: int
    cpu: int
    version: int
    flags: int
    pad: int


# A Header straight from the unpacked tuple (no argument parsing): the
# batch decoder makes one per record.
new_header = partial(tuple.__new__, Header)


VarFields = dict[int, tuple[bytes, int]]  # vl type -> (data, RS_VL_F_* flags)


def parse_header(buf: Any, off: int, length: int) -> Header:
    """The common header of the record at ``buf[off:off + length]``."""
    if length < HEADER.size:
        raise WireFormatError("short", f"record of {length} bytes has no room for a header")
    hdr = new_header(HEADER.unpack_from(buf, off))
    check_header(hdr, length)
    return hdr


def check_header(hdr: Header, length: int) -> None:
    """Raise :class:`WireFormatError` unless the header fits a record of ``length`` bytes."""
    if hdr.version != WIRE_VERSION:
        raise WireFormatError("version", f"wire version {hdr.version}, expected {WIRE_VERSION}")
    if hdr.size != length:
        raise WireFormatError("size", f"header says {hdr.size} bytes, ring record has {length}")


def parse_varlen(buf: Any, off: int, end: int) -> VarFields:
    """The variable-length tail starting at ``off`` (a ``struct rs_varlen``).

    Every size is checked against the record's end; a later field of the
    same type replaces an earlier one.
    """
    if off + VARLEN.size > end:
        raise WireFormatError("short", "record ends before its variable-length header")
    count, total = VARLEN.unpack_from(buf, off)
    off += VARLEN.size
    if off + total != end:
        raise WireFormatError(
            "varlen", f"tail says {total} bytes, record has {end - off} after the fixed part"
        )
    fields: VarFields = {}
    unpack = VL_FIELD.unpack_from
    for _ in range(count):
        if off + VL_FIELD.size > end:
            raise WireFormatError("varlen", "field header runs past the end of the record")
        vtype, vflags, vsize = unpack(buf, off)
        off += VL_FIELD.size
        if off + vsize > end:
            raise WireFormatError("varlen", f"field {vtype} of {vsize} bytes runs past the end")
        if not 0 < vtype <= VL_TYPE_MAX:
            raise WireFormatError("varlen", f"unknown field type {vtype}")
        # A slice of bytes is bytes; of a memoryview or mmap, it is copied out.
        data = buf[off : off + vsize]
        fields[vtype] = (data if type(data) is bytes else bytes(data), vflags)
        off += vsize
    if off != end:
        raise WireFormatError("varlen", f"{end - off} bytes left after {count} fields")
    return fields


def text(raw: bytes) -> str:
    """Kernel strings are bytes; names that are not UTF-8 keep their bytes as escapes."""
    return raw.decode("utf-8", "backslashreplace")


def comm(raw: bytes) -> str:
    return text(raw.split(b"\0", 1)[0])


Decoder = Callable[[Any, int, Header, "WireContext"], Any]

# event type -> decoder; filled by the modules that define the models.
DECODERS: dict[int, Decoder] = {}


def decoder(event_type: int) -> Callable[[Decoder], Decoder]:
    def register(fn: Decoder) -> Decoder:
        if event_type in DECODERS:
            raise RuntimeError(f"two decoders for event type {event_type}")
        DECODERS[event_type] = fn
        return fn

    return register


def decode_record(buf: Any, off: int, length: int, ctx: WireContext,
                  decoders: dict[int, Decoder] | None = None) -> Any:
    """Decode one record; raise :class:`WireFormatError` if it is malformed."""
    hdr = parse_header(buf, off, length)
    fn = (DECODERS if decoders is None else decoders).get(hdr.type)
    if fn is None:
        raise WireFormatError("type", f"unknown event type {hdr.type}")
    try:
        return fn(buf, off, hdr, ctx)
    except WireFormatError:
        raise
    except (struct.error, ValueError, IndexError, KeyError) as exc:
        # A decoder bug or a record shape nobody planned for: still a counted error.
        raise WireFormatError("malformed", f"type {hdr.type}: {exc}") from exc
