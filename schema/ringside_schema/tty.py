"""Terminal output (``tty.write``) and its decoder.

Byte schema of ``struct rs_tty_write_event`` (``bpf/events.h``)::

      0 rs_header   32 bytes
     32 rs_process  80 bytes
    112 len u32      116 skipped u32    120 rows u16    122 cols u16    124 pad u32
    128 rs_varlen    then fields TTY_NAME, TTY_OUT (at most 8 KiB)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from . import wire as w
from ._common import EventBase, Process, WireContext, _Model, build
from .process import event_values, note_truncated, process_block, tty_name


class TtyInfo(_Model):
    name: str | None = Field(description="the terminal, as named under /dev, e.g. pts/3")
    rows: int | None = Field(description="window size in rows, when the terminal has one")
    cols: int | None


class TtyWrite(EventBase):
    """Bytes a process wrote to a terminal."""

    event: Literal["tty.write"]
    tty: TtyInfo
    data: str = Field(
        description="the bytes captured, as UTF-8; bytes that are not UTF-8 appear as \\xNN"
    )
    length: int = Field(description="bytes the write passed to the terminal")
    skipped: int = Field(description="of those, bytes not captured (over the 8 KiB cap)")


TTY = w.CStruct(
    "rs_tty_write_event",
    [("hdr", "32s"), ("proc", "80s"), ("len", "I"), ("skipped", "I"), ("rows", "H"),
     ("cols", "H"), ("pad", "I"), ("vl", "8s")],
)
_FIXED_OFF, _FIXED = TTY.part("len", "cols")


@w.decoder(w.EVENT_TTY_WRITE)
def decode_tty_write(buf: Any, off: int, hdr: w.Header, ctx: WireContext) -> TtyWrite:
    proc = process_block(buf, off + w.HEADER.size, ctx)
    length, skipped, rows, cols = _FIXED.unpack_from(buf, off + _FIXED_OFF)
    fields = w.parse_varlen(buf, off + TTY.offsets["vl"], off + hdr.size)
    values = event_values("tty.write", hdr, ctx)
    name = tty_name(w.text(fields[w.VL_TTY_NAME][0])) if w.VL_TTY_NAME in fields else None
    proc["tty"] = name
    values["process"] = build(Process, proc)
    data, flags = fields.get(w.VL_TTY_OUT, (b"", 0))
    if flags & w.VL_F_TRUNCATED or skipped:
        note_truncated(values, "data")
    values["tty"] = build(TtyInfo, {
        "name": name,
        "rows": rows or None,
        "cols": cols or None,
    })
    values["data"] = w.text(data)
    values["length"] = length
    values["skipped"] = skipped
    return build(TtyWrite, values)
