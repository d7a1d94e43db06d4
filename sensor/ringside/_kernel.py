"""What the running kernel offers: read from /sys and /proc, no BPF needed.

Used to pick the tier the sensor runs in, and by ``ringside doctor``.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

from ._btf import VMLINUX_BTF

SECURITYFS = Path("/sys/kernel/security")
TRACEFS_CANDIDATES = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))


def lockdown_mode() -> str | None:
    """``none``, ``integrity`` or ``confidentiality``; None when it cannot be read."""
    try:
        text = (SECURITYFS / "lockdown").read_text()
    except OSError:
        return None
    match = re.search(r"\[(\w+)\]", text)
    return match.group(1) if match else None


def tracefs_path() -> Path | None:
    for path in TRACEFS_CANDIDATES:
        if (path / "events").is_dir():
            return path
    return None


def tracepoint_format(category: str, name: str) -> str | None:
    root = tracefs_path()
    if root is None:
        return None
    try:
        return (root / "events" / category / name / "format").read_text()
    except OSError:
        return None


def tracepoint_has_field(category: str, name: str, field: str) -> bool:
    fmt = tracepoint_format(category, name)
    return fmt is not None and re.search(rf"field:[^;]*\b{re.escape(field)};", fmt) is not None


def cgroup2_root() -> Path | None:
    """Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or .../unified on hybrid hosts)."""
    try:
        mounts = Path("/proc/self/mounts").read_text()
    except OSError:
        return None
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[2] == "cgroup2":
            return Path(parts[1])
    return None


def cgroup_id(path: str) -> int:
    """The id bpf_get_current_cgroup_id() reports for a v2 cgroup path: its inode number."""
    from ._errors import ConfigError

    root = cgroup2_root()
    if root is None:
        raise ConfigError("no cgroup v2 hierarchy is mounted: cannot exclude by cgroup")
    target = root / path.lstrip("/")
    try:
        return target.stat().st_ino
    except OSError as exc:
        raise ConfigError(f"cgroup {path!r} not found under {root}: {exc.strerror}") from exc


def possible_cpus() -> int:
    """Count of possible CPUs, the bound of bpf_get_smp_processor_id()."""
    try:
        text = Path("/sys/devices/system/cpu/possible").read_text().strip()
    except OSError:
        return os.cpu_count() or 1
    highest = 0
    for part in text.split(","):
        highest = max(highest, int(part.split("-")[-1]))
    return highest + 1


def kernel_headers() -> tuple[Path | None, str]:
    """Where bcc will look for headers, and what it will find there."""
    build = Path("/lib/modules") / platform.release() / "build"
    if not build.exists():
        return None, "missing: bcc cannot compile (run `make setup`)"
    target = build.resolve()
    version = re.search(r"linux-headers-([^/]+)", str(target))
    if version and not version.group(1).startswith(platform.release().split("-")[0]):
        return target, "not the running kernel's: fine, struct offsets come from BTF"
    return target, "matching"


@dataclass(frozen=True)
class KernelFacts:
    release: str
    btf: bool
    lockdown: str | None
    tracefs: Path | None
    exit_has_group_dead: bool

    @property
    def kernel_reads_allowed(self) -> bool:
        # lockdown=confidentiality removes bpf_probe_read_kernel (LOCKDOWN_BPF_READ_KERNEL).
        return self.lockdown != "confidentiality"

    @property
    def best_tier(self) -> str:
        return "full" if self.btf and self.kernel_reads_allowed else "reduced"


def kernel_facts() -> KernelFacts:
    return KernelFacts(
        release=platform.release(),
        btf=VMLINUX_BTF.exists(),
        lockdown=lockdown_mode(),
        tracefs=tracefs_path(),
        exit_has_group_dead=tracepoint_has_field("sched", "sched_process_exit", "group_dead"),
    )
