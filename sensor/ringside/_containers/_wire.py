"""The cgroup auxiliary record (``struct rs_aux_cgroup`` in ``bpf/events.h``).

::

    rs_aux_cgroup   hdr 32s, id u64, root s32, level s32, op u32, pad u32, rs_varlen
                    field: PATH (full tier only)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ringside_schema import WireContext, wire

AUX_CGROUP = wire.CStruct(
    "rs_aux_cgroup",
    [("hdr", "32s"), ("id", "Q"), ("root", "i"), ("level", "i"), ("op", "I"), ("pad", "I"),
     ("vl", "8s")],
)
_OFF, _FIXED = AUX_CGROUP.part("id", "op")
CGROUP_OP_MKDIR = 1
CGROUP_OP_RMDIR = 2


@dataclass(slots=True)
class CgroupChange:
    """A v2 cgroup was made or removed; ``path`` is None in the reduced tier."""

    id: int
    root: int
    level: int
    op: int
    path: str | None


def decode_cgroup(buf: Any, off: int, hdr: wire.Header, ctx: WireContext) -> CgroupChange:
    cid, root, level, op = _FIXED.unpack_from(buf, off + _OFF)
    fields = wire.parse_varlen(buf, off + AUX_CGROUP.offsets["vl"], off + hdr.size)
    path, flags = fields.get(wire.VL_PATH, (None, 0))
    return CgroupChange(
        id=cid, root=root, level=level, op=op,
        # A cut path would name the wrong cgroup: drop it and resolve the id instead.
        path=wire.text(path) if path is not None and not flags & wire.VL_F_TRUNCATED else None,
    )
