"""The reduced tier would load under lockdown=confidentiality.

That lockdown level removes bpf_probe_read_kernel (and the old
bpf_probe_read) from what tracing programs may call, so a program that calls
them does not load.  This machine runs lockdown=integrity, so the test reads
the loaded programs' instructions instead: no reduced-tier program may call
a kernel-read helper.  The full tier is the control: its programs must.
"""

from __future__ import annotations

import struct

import pytest

from tests.harness import SensorThread

pytestmark = pytest.mark.kernel

# include/uapi/linux/bpf.h: helper ids lockdown=confidentiality denies to tracing programs
KERNEL_READS = {4: "probe_read", 45: "probe_read_str", 113: "probe_read_kernel",
                115: "probe_read_kernel_str"}
BPF_CALL = 0x85  # BPF_JMP | BPF_CALL


def helper_calls(bpf: object, name: bytes) -> set[int]:
    insns = bpf.dump_func(name)  # type: ignore[attr-defined]
    calls = set()
    for off in range(0, len(insns), 8):
        code, regs, _off, imm = struct.unpack_from("<BBhi", insns, off)
        if code == BPF_CALL and regs >> 4 == 0:  # src_reg 0: a helper, not a BPF-to-BPF call
            calls.add(imm)
    return calls


def programs_of(sensor: SensorThread) -> tuple[object, list[bytes]]:
    assert sensor.sensor is not None and sensor.sensor.programs is not None
    bpf = sensor.sensor.programs.bpf
    return bpf, list(bpf.funcs)


def test_reduced_tier_programs_never_read_kernel_memory(reduced_sensor: SensorThread) -> None:
    bpf, names = programs_of(reduced_sensor)
    assert len(names) > 10  # every area's programs are there
    offenders = {name.decode(): sorted(KERNEL_READS[h] for h in helper_calls(bpf, name)
                                       if h in KERNEL_READS)
                 for name in names}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_full_tier_programs_do_read_kernel_memory(full_sensor: SensorThread) -> None:
    bpf, names = programs_of(full_sensor)
    readers = [n for n in names if helper_calls(bpf, n) & set(KERNEL_READS)]
    assert b"raw_tracepoint__sched_process_exec" in readers
