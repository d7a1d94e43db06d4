"""``ringside doctor``: what this kernel offers the sensor, checked by trying it."""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import asdict, dataclass
from typing import Any

from ._btf import VMLINUX_BTF, Btf
from ._errors import RingsideError
from ._kernel import kernel_facts, kernel_headers
from ._native import FASTDECODE, FASTPACK, CPart

# Tiny programs, one per capability; each is compiled and loaded by bcc.
_PROBES = {
    "tracepoint": "TRACEPOINT_PROBE(sched, sched_process_exec) { return 0; }",
    "raw_tracepoint": "RAW_TRACEPOINT_PROBE(sched_process_fork) { return 0; }",
    "ring_buffer": (
        "BPF_RINGBUF_OUTPUT(rb, 1);\n"
        "TRACEPOINT_PROBE(sched, sched_process_exec) {"
        " u64 v = 1; rb.ringbuf_output(&v, sizeof(v), 0); return 0; }"
    ),
    "kernel_reads": (
        "TRACEPOINT_PROBE(sched, sched_process_exec) {"
        " u64 t = bpf_get_current_task(), v = 0;"
        " bpf_probe_read_kernel(&v, sizeof(v), (void *)t); return v == 1; }"
    ),
    "kprobe": "int kprobe__do_sys_openat2(struct pt_regs *ctx) { return 0; }",
    "fentry": "KFUNC_PROBE(do_sys_openat2) { return 0; }",
}


@dataclass
class Report:
    kernel: str
    btf: str
    lockdown: str
    tracefs: str
    headers: str
    program_types: dict[str, str]
    tier: str
    tier_reason: str
    ring_walk: str
    kafka_packing: str
    decoding: str


def _ring_walk() -> str:
    from . import _ringwalk

    path = _ringwalk.library_path()
    if _ringwalk.load() is not None:
        return f"C ({path.name})"
    return f"Python: {path.name} is not built (make setup builds it)"


def _extension(part: CPart) -> str:
    if part.load_extension() is not None:
        return f"C ({part.path.name})"
    return f"Python: {part.path.name} is not built (make setup builds it)"


def _try_load(text: str) -> str:
    """"ok", or why bcc could not compile, load or attach the program."""
    try:
        from bcc import BPF
    except ImportError:
        return "unknown: bcc is not installed"
    sink = io.StringIO()
    # bcc prints compiler and verifier output on fd 2; the reason we report is enough.
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        with contextlib.redirect_stderr(sink):
            bpf = BPF(text=text)
            bpf.cleanup()
        return "ok"
    except Exception as exc:  # noqa: BLE001 - bcc raises bare Exception; we report it
        msg = str(exc).split("\n")[0]
        if "super-user" in msg:
            # bcc's wording for any EPERM, even as root: the kernel refused the program type.
            return "no (the kernel refused it: EPERM)"
        return f"no ({msg[:120]})"
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def diagnose() -> Report:
    facts = kernel_facts()
    if facts.btf:
        try:
            Btf.from_kernel().member("task_struct", "real_parent")
            btf = f"yes ({VMLINUX_BTF}); task_struct offsets readable"
        except RingsideError as exc:
            btf = f"present but unusable: {exc}"
    else:
        btf = "no: the full tier needs CONFIG_DEBUG_INFO_BTF"
    path, headers_note = kernel_headers()
    programs = {name: _try_load(text) for name, text in _PROBES.items()}
    reads_ok = programs["kernel_reads"] == "ok"
    if facts.btf and facts.kernel_reads_allowed and reads_ok:
        tier, reason = "full", "kernel reads allowed and BTF present"
    else:
        why = []
        if not facts.btf:
            why.append("no BTF")
        if not facts.kernel_reads_allowed or not reads_ok:
            why.append(f"kernel reads denied (lockdown={facts.lockdown})")
        tier, reason = "reduced", "; ".join(why)
    return Report(
        kernel=facts.release,
        btf=btf,
        lockdown=facts.lockdown or "unknown (securityfs not mounted)",
        tracefs=str(facts.tracefs) if facts.tracefs else "not mounted",
        headers=f"{path} ({headers_note})" if path else headers_note,
        program_types=programs,
        tier=tier,
        tier_reason=reason,
        ring_walk=_ring_walk(),
        kafka_packing=_extension(FASTPACK),
        decoding=_extension(FASTDECODE),
    )


def render(report: Report) -> str:
    lines = [
        f"kernel          {report.kernel}",
        f"BTF             {report.btf}",
        f"lockdown        {report.lockdown}",
        f"tracefs         {report.tracefs}",
        f"bcc headers     {report.headers}",
        "program types:",
    ]
    for name, status in report.program_types.items():
        lines.append(f"  {name:<15}{status}")
    lines.append(f"tier            {report.tier} ({report.tier_reason})")
    lines.append(f"ring walk       {report.ring_walk}")
    lines.append(f"decoding        {report.decoding}")
    lines.append(f"kafka packing   {report.kafka_packing}")
    return "\n".join(lines)


def as_dict(report: Report) -> dict[str, Any]:
    return asdict(report)
