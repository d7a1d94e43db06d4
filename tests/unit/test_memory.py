"""Which library mappings the sensor may drop after compiling: a wrong answer crashes it."""

from __future__ import annotations

from ringside._memory import clean_mappings

SMAPS = """\
7f0000000000-7f0000100000 r--p 00000000 fe:00 123   /usr/lib/x86_64-linux-gnu/libLLVM-14.so.1
Size:               1024 kB
Rss:                 900 kB
Anonymous:             0 kB
7f0000100000-7f0000900000 r-xp 00100000 fe:00 123   /usr/lib/x86_64-linux-gnu/libLLVM-14.so.1
Size:               8192 kB
Anonymous:             0 kB
7f0000900000-7f0000a00000 r--p 00900000 fe:00 123   /usr/lib/x86_64-linux-gnu/libLLVM-14.so.1
Size:               1024 kB
Anonymous:           640 kB
7f0000a00000-7f0000a10000 rw-p 00a00000 fe:00 123   /usr/lib/x86_64-linux-gnu/libLLVM-14.so.1
Size:                 64 kB
Anonymous:             0 kB
7f0000b00000-7f0000c00000 r-xp 00000000 fe:00 456   /usr/lib/x86_64-linux-gnu/libc.so.6
Size:               1024 kB
Anonymous:             0 kB
7f0000c00000-7f0000d00000 r--p 00000000 00:00 0
Size:               1024 kB
Anonymous:          1024 kB
"""


def test_only_clean_read_only_mappings_of_the_compiler_are_dropped() -> None:
    found = clean_mappings(SMAPS, ("libLLVM", "libclang"))
    assert [(hex(s), hex(e)) for s, e, _ in found] == [
        ("0x7f0000000000", "0x7f0000100000"),  # read-only constants, unmodified
        ("0x7f0000100000", "0x7f0000900000"),  # code
        # not the RELRO segment (relocated: anonymous pages), not the writable data,
        # not another library, not an anonymous mapping
    ]


def test_nothing_to_drop_in_an_empty_or_foreign_smaps() -> None:
    assert clean_mappings("", ("libLLVM",)) == []
    assert clean_mappings(SMAPS, ("libnothing",)) == []
