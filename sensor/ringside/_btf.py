"""Read struct member offsets from the kernel's own BTF.

bcc compiles against whatever kernel headers it finds, and on a host whose
headers do not match the running kernel a ``task->real_parent`` compiled from
them reads the wrong bytes.  The kernel describes its own layout in
``/sys/kernel/btf/vmlinux``; we read the handful of offsets the programs need
from there at start-up and hand them to the compiler as ``-D`` flags.  This is
CO-RE done by hand, without libbpf.

Only the parts of the BTF format needed for that are decoded (see the kernel's
``Documentation/bpf/btf.rst``)::

    header   u16 magic (0xeB9F)  u8 version  u8 flags  u32 hdr_len
             u32 type_off  u32 type_len  u32 str_off  u32 str_len
    type     u32 name_off  u32 info  u32 size_or_type   (then a kind-specific tail)
             info: bits 0-15 vlen, bits 24-28 kind, bit 31 kind_flag
    member   u32 name_off  u32 type  u32 offset   (struct and union tails)
             offset: bit offset, or with kind_flag bits 0-23 bit offset
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from ._errors import KernelSupportError

VMLINUX_BTF = Path("/sys/kernel/btf/vmlinux")

_MAGIC = 0xEB9F
_HEADER = struct.Struct("<HBBIIIII")
_TYPE = struct.Struct("<III")
_MEMBER = struct.Struct("<III")

# BTF kinds (include/uapi/linux/btf.h); never renumbered upstream.
_INT, _PTR, _ARRAY, _STRUCT, _UNION, _ENUM, _FWD, _TYPEDEF = 1, 2, 3, 4, 5, 6, 7, 8
_VOLATILE, _CONST, _RESTRICT, _FUNC, _FUNC_PROTO, _VAR, _DATASEC = 9, 10, 11, 12, 13, 14, 15
_FLOAT, _DECL_TAG, _TYPE_TAG, _ENUM64 = 16, 17, 18, 19

# Bytes that follow the 12-byte common type record, by kind: (fixed, per vlen item).
_TAIL = {
    _INT: (4, 0),
    _ARRAY: (12, 0),
    _STRUCT: (0, 12),
    _UNION: (0, 12),
    _ENUM: (0, 8),
    _FUNC_PROTO: (0, 8),
    _VAR: (4, 0),
    _DATASEC: (0, 12),
    _DECL_TAG: (4, 0),
    _ENUM64: (0, 12),
}
_MODIFIERS = {_TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG}


@dataclass(frozen=True)
class Member:
    """Where a member sits inside its outermost struct."""

    offset: int  # bytes from the start of the struct the lookup started at
    size: int  # bytes, after following typedefs and qualifiers
    bitfield: bool


class Btf:
    """An index over one BTF blob: struct and union names, and their members."""

    def __init__(self, blob: bytes) -> None:
        if len(blob) < _HEADER.size:
            raise KernelSupportError("BTF blob is shorter than its header")
        magic, _version, _flags, hdr_len, type_off, type_len, str_off, str_len = (
            _HEADER.unpack_from(blob, 0)
        )
        if magic != _MAGIC:
            raise KernelSupportError(f"not a BTF blob (magic {magic:#x})")
        self._blob = blob
        self._types_start = hdr_len + type_off
        self._types_end = self._types_start + type_len
        self._str_start = hdr_len + str_off
        self._str_end = self._str_start + str_len
        # Type ids start at 1 (0 is void); _pos[i] is the blob offset of type i.
        self._pos: list[int] = [0]
        self._by_name: dict[str, list[int]] = {}
        self._index()

    @classmethod
    def from_kernel(cls, path: Path = VMLINUX_BTF) -> Btf:
        try:
            return cls(path.read_bytes())
        except OSError as exc:
            raise KernelSupportError(
                f"cannot read kernel BTF at {path}: {exc.strerror}; this kernel was "
                "built without CONFIG_DEBUG_INFO_BTF, so struct offsets are unknown"
            ) from exc

    def _index(self) -> None:
        blob, pos, end = self._blob, self._types_start, self._types_end
        unpack = _TYPE.unpack_from
        while pos < end:
            name_off, info, _ = unpack(blob, pos)
            kind = (info >> 24) & 0x1F
            vlen = info & 0xFFFF
            self._pos.append(pos)
            if kind in (_STRUCT, _UNION) and name_off:
                self._by_name.setdefault(self._str(name_off), []).append(len(self._pos) - 1)
            fixed, per = _TAIL.get(kind, (0, 0))
            pos += _TYPE.size + fixed + per * vlen

    def _str(self, off: int) -> str:
        start = self._str_start + off
        end = self._blob.index(b"\0", start, self._str_end)
        return self._blob[start:end].decode()

    def _type(self, type_id: int) -> tuple[int, int, int, int, int]:
        """(kind, vlen, kind_flag, name_off, size_or_type) of a type id."""
        pos = self._pos[type_id]
        name_off, info, size_or_type = _TYPE.unpack_from(self._blob, pos)
        return (info >> 24) & 0x1F, info & 0xFFFF, info >> 31, name_off, size_or_type

    def _resolve(self, type_id: int) -> int:
        """Follow typedefs and qualifiers to the underlying type id."""
        for _ in range(64):
            kind, _, _, _, target = self._type(type_id)
            if kind not in _MODIFIERS:
                return type_id
            type_id = target
        raise KernelSupportError("BTF modifier chain is too long")

    def _size(self, type_id: int) -> int:
        type_id = self._resolve(type_id)
        kind, _, _, _, size_or_type = self._type(type_id)
        if kind in (_INT, _STRUCT, _UNION, _ENUM, _ENUM64, _FLOAT):
            return size_or_type
        if kind == _PTR:
            return 8
        if kind == _ARRAY:
            elem, _index_type, nelems = struct.unpack_from(
                "<III", self._blob, self._pos[type_id] + _TYPE.size
            )
            return self._size(elem) * int(nelems)
        raise KernelSupportError(f"BTF type {type_id} (kind {kind}) has no size")

    def _members(self, type_id: int) -> list[tuple[str, int, int, bool]]:
        """(name, member type id, bit offset, is bitfield) of a struct or union."""
        kind, vlen, kind_flag, _, _ = self._type(type_id)
        if kind not in (_STRUCT, _UNION):
            raise KernelSupportError(f"BTF type {type_id} is not a struct or union")
        out = []
        base = self._pos[type_id] + _TYPE.size
        for i in range(vlen):
            name_off, mtype, offset = _MEMBER.unpack_from(self._blob, base + i * _MEMBER.size)
            if kind_flag:
                bitfield = (offset >> 24) != 0
                offset &= 0xFFFFFF
            else:
                bitfield = False
            out.append((self._str(name_off) if name_off else "", mtype, offset, bitfield))
        return out

    def _find_member(self, type_id: int, name: str) -> tuple[int, int, bool] | None:
        """(bit offset, type id, bitfield) of ``name``, looking into anonymous members."""
        for mname, mtype, bit_off, bitfield in self._members(type_id):
            if mname == name:
                return bit_off, mtype, bitfield
            if not mname:
                inner = self._resolve(mtype)
                if self._type(inner)[0] in (_STRUCT, _UNION):
                    found = self._find_member(inner, name)
                    if found is not None:
                        return bit_off + found[0], found[1], found[2]
        return None

    def has_struct(self, name: str) -> bool:
        return name in self._by_name

    def member(self, struct_name: str, path: str) -> Member:
        """Offset of a dotted member path, e.g. ``member("task_struct", "loginuid.val")``.

        Every step but the last must be an embedded struct or union (not a
        pointer): the offsets add up inside one object.
        """
        ids = self._by_name.get(struct_name)
        if not ids:
            raise KernelSupportError(f"struct {struct_name} is not in the kernel's BTF")
        # A name can have several entries (a full definition and empty
        # forward-like duplicates); take the first with members.
        type_id = next((i for i in ids if self._type(i)[1] > 0), ids[0])
        bit_off, bitfield = 0, False
        parts = path.split(".")
        for depth, part in enumerate(parts):
            found = self._find_member(type_id, part)
            if found is None:
                missing = ".".join(parts[: depth + 1])
                raise KernelSupportError(f"{struct_name} has no member {missing}")
            step_off, mtype, bitfield = found
            bit_off += step_off
            type_id = self._resolve(mtype)
            if depth < len(parts) - 1 and self._type(type_id)[0] not in (_STRUCT, _UNION):
                raise KernelSupportError(
                    f"{struct_name}.{'.'.join(parts[: depth + 1])} is not an embedded struct"
                )
        if bit_off % 8 and not bitfield:
            raise KernelSupportError(f"{struct_name}.{path} is not byte-aligned")
        return Member(offset=bit_off // 8, size=self._size(type_id), bitfield=bitfield)
