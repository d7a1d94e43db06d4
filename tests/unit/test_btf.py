"""The BTF reader: on a blob built here (exact answers), and on the running kernel's."""

from __future__ import annotations

import struct

import pytest
from ringside._btf import VMLINUX_BTF, Btf
from ringside._errors import KernelSupportError


def _blob() -> bytes:
    """BTF for: struct inner { int a; int b; };
                struct outer { long x; struct { int y; struct inner in; }; unsigned z:3; }"""
    strings = b"\0int\0long\0inner\0a\0b\0outer\0x\0y\0in\0z\0"
    off = {s: strings.index(s.encode() + b"\0") for s in
           ["int", "long", "inner", "a", "b", "outer", "x", "y", "in", "z"]}
    types = b""

    def t(name: int, kind: int, vlen: int, size: int, kflag: int = 0) -> bytes:
        return struct.pack("<III", name, (kflag << 31) | (kind << 24) | vlen, size)

    types += t(off["int"], 1, 0, 4) + struct.pack("<I", 32)          # 1: int
    types += t(off["long"], 1, 0, 8) + struct.pack("<I", 64)         # 2: long
    types += t(off["inner"], 4, 2, 8) + struct.pack(                 # 3: struct inner
        "<IIIIII", off["a"], 1, 0, off["b"], 1, 32)
    types += t(0, 4, 2, 12) + struct.pack(                           # 4: anonymous struct
        "<IIIIII", off["y"], 1, 0, off["in"], 3, 32)
    types += t(off["outer"], 4, 3, 24, kflag=1) + struct.pack(       # 5: struct outer
        "<IIIIIIIII", off["x"], 2, 0, 0, 4, 64, off["z"], 1, (3 << 24) | 160)
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings))
    return hdr + types + strings


def test_offsets_through_anonymous_members_and_nested_structs() -> None:
    btf = Btf(_blob())
    assert btf.member("outer", "x").offset == 0
    assert btf.member("outer", "y").offset == 8
    assert btf.member("outer", "in").offset == 12
    assert btf.member("outer", "in.b").offset == 16
    assert btf.member("outer", "in").size == 8
    assert btf.member("inner", "b").size == 4
    assert btf.member("outer", "z").bitfield is True


def test_clear_errors() -> None:
    btf = Btf(_blob())
    with pytest.raises(KernelSupportError, match=r"no member in\.c"):
        btf.member("outer", "in.c")
    with pytest.raises(KernelSupportError, match="not in the kernel's BTF"):
        btf.member("nosuch", "x")
    with pytest.raises(KernelSupportError, match="not an embedded struct"):
        btf.member("outer", "x.y")
    with pytest.raises(KernelSupportError, match="not a BTF blob"):
        Btf(b"\0" * 64)


@pytest.mark.skipif(not VMLINUX_BTF.exists(), reason="this kernel has no BTF")
def test_running_kernel_has_every_member_the_full_tier_reads() -> None:
    from ringside._bpf import btf_offset_flags

    flags = btf_offset_flags(Btf.from_kernel())
    assert any(f.startswith("-DRS_OFF_task_struct__real_parent=") for f in flags)
    assert all(f.startswith("-D") for f in flags)
