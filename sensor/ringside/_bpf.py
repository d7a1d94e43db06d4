"""Compiling, loading and attaching the BPF programs with bcc.

This is the only module that imports bcc.  All programs are compiled as one
bcc module (``common.bpf.h`` followed by each enabled ``<area>.bpf.c``), so
they share one ring buffer, one per-CPU sequence and one set of counters.
Tracepoint programs attach as they load (bcc's auto-attach of
``TRACEPOINT_PROBE`` / ``RAW_TRACEPOINT_PROBE``).
"""

from __future__ import annotations

import ctypes
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ringside_schema import wire

from ._btf import Btf
from ._errors import BpfLoadError, ConfigError, KernelSupportError
from ._kernel import KernelFacts, kernel_facts, possible_cpus
from ._memory import release_compiler_memory

log = logging.getLogger(__name__)

BPF_DIR = Path(os.environ.get("RINGSIDE_BPF_DIR") or Path(__file__).resolve().parents[2] / "bpf")
AREAS = ("process", "file", "tty")
# Areas the sensor loads for a stage that asks for them (Stage.bpf_areas), never
# chosen by users: "cgroup" sends cgroup mkdir/rmdir records for container metadata.
INTERNAL_AREAS = ("cgroup",)

# Kernel struct members the full tier reads: (struct, member path, bytes read).
# The size guards against a kernel that changed a member's type under us.
KERNEL_MEMBERS: list[tuple[str, str, int]] = [
    ("task_struct", "pid", 4),
    ("task_struct", "tgid", 4),
    ("task_struct", "real_parent", 8),
    ("task_struct", "group_leader", 8),
    ("task_struct", "start_boottime", 8),
    ("task_struct", "cred", 8),
    ("task_struct", "fs", 8),
    ("task_struct", "mm", 8),
    ("task_struct", "signal", 8),
    ("task_struct", "files", 8),
    ("task_struct", "exit_code", 4),
    ("cred", "euid", 4),
    ("cred", "egid", 4),
    ("fs_struct", "root", 16),
    ("fs_struct", "pwd", 16),
    ("path", "mnt", 8),
    ("path", "dentry", 8),
    ("dentry", "d_parent", 8),
    ("dentry", "d_name.len", 4),
    ("dentry", "d_name.name", 8),
    ("mount", "mnt", 32),
    ("mount", "mnt_parent", 8),
    ("mount", "mnt_mountpoint", 8),
    ("vfsmount", "mnt_root", 8),
    ("mm_struct", "arg_start", 8),
    ("mm_struct", "arg_end", 8),
    ("mm_struct", "exe_file", 8),
    ("linux_binprm", "filename", 8),
    ("file", "f_path", 16),
    ("file", "f_mode", 4),
    ("file", "f_inode", 8),
    ("file", "private_data", 8),
    ("inode", "i_mode", 2),
    ("inode", "i_rdev", 4),
    ("tty_file_private", "tty", 8),
    ("signal_struct", "tty", 8),
    ("signal_struct", "live", 4),
    ("tty_struct", "name", 64),
    ("tty_struct", "winsize.ws_row", 2),
    ("tty_struct", "winsize.ws_col", 2),
    ("files_struct", "fdt", 8),
    ("fdtable", "max_fds", 4),
    ("fdtable", "fd", 8),
]
# Present only with CONFIG_AUDIT; without them loginuid and session id are unset.
AUDIT_MEMBERS: list[tuple[str, str, int]] = [
    ("task_struct", "loginuid", 4),
    ("task_struct", "sessionid", 4),
]

# A process's first files: the fd table and array embedded in files_struct,
# used until it opens more than the array holds (NR_OPEN_DEFAULT).  Knowing
# them saves a read per descriptor looked up; without them it is read as any table.
FD_ARRAY_MEMBERS: list[tuple[str, str]] = [
    ("files_struct", "fdtab"),
    ("files_struct", "fd_array"),
]


PREFIX_MAX = 256  # RS_PREFIX_MAX: an LPM trie key holds at most 256 bytes
# struct rs_config flags (bpf/events.h)
CFG_FILE_FAILED = 1 << 0
CFG_EXCLUDE_COMM = 1 << 1
CFG_EXCLUDE_CGROUP = 1 << 2
CFG_EXCLUDE_PREFIX = 1 << 3
# map rs_wakeup (bpf/events.h): how records wake the ring's reader
WAKEUP_WHEN_EMPTY = 0
WAKEUP_NEVER = 1


def offset_macro(struct_name: str, member: str) -> str:
    return f"RS_OFF_{struct_name}__{member.replace('.', '__')}"


def btf_offset_flags(btf: Btf) -> list[str]:
    """``-D`` flags with the offset of every member the full tier reads."""
    flags = []
    for struct_name, member, size in KERNEL_MEMBERS:
        m = btf.member(struct_name, member)
        if m.size != size or m.bitfield:
            raise KernelSupportError(
                f"{struct_name}.{member} is {m.size} bytes in this kernel, expected {size}"
            )
        flags.append(f"-D{offset_macro(struct_name, member)}={m.offset}")
    try:
        audit = [btf.member(s, m) for s, m, _ in AUDIT_MEMBERS]
    except KernelSupportError:
        flags.append("-DRS_HAVE_LOGINUID=0")
    else:
        for (struct_name, name, _), found in zip(AUDIT_MEMBERS, audit, strict=True):
            flags.append(f"-D{offset_macro(struct_name, name)}={found.offset}")
        flags.append("-DRS_HAVE_LOGINUID=1")
    try:
        fdtab, fd_array = (btf.member(s, m) for s, m in FD_ARRAY_MEMBERS)
    except KernelSupportError:
        flags.append("-DRS_HAVE_FD_ARRAY=0")
    else:
        flags += [f"-D{offset_macro('files_struct', 'fdtab')}={fdtab.offset}",
                  f"-D{offset_macro('files_struct', 'fd_array')}={fd_array.offset}",
                  f"-DRS_FD_ARRAY_LEN={fd_array.size // 8}",
                  "-DRS_HAVE_FD_ARRAY=1"]
    return flags


# Areas that read struct file or tty_struct and so cannot run without kernel reads.
FULL_TIER_ONLY = {"tty": "terminal output needs kernel reads to tell a terminal from a pipe"}


@dataclass
class Exclusions:
    """What file and terminal events leave out, in the kernel (see common.bpf.h)."""

    path_prefixes: tuple[str, ...] = ()
    comms: tuple[str, ...] = ()
    cgroup_ids: tuple[int, ...] = ()


@dataclass
class LoadOptions:
    tier: str = "auto"  # auto | full | reduced
    areas: tuple[str, ...] = ("process",)
    require_all_areas: bool = True  # False: leave out, with a warning, areas the tier cannot run
    ring_size: int = 8 << 20  # bytes, a power of two multiple of the page size
    self_tgid: int = 0  # events of this process are not reported; 0 reports everything
    report_failed_file_ops: bool = False
    tty_budget: int = 0  # terminal bytes captured per process per second; 0 = no limit
    exclusions: Exclusions = field(default_factory=Exclusions)
    extra_cflags: list[str] = field(default_factory=list)


@dataclass
class KernelCounters:
    """Sums over CPUs of the kernel-side counters."""

    sent: dict[int, int]
    drops: dict[tuple[int, str], int]
    seq_by_cpu: list[int]
    # Terminal bytes: captured, over_cap, over_budget (Programs.tty_bytes; empty without tty).
    tty_bytes: dict[str, int] = field(default_factory=dict)

    @property
    def dropped(self) -> int:
        return sum(self.drops.values())


def choose_tier(requested: str, facts: KernelFacts) -> str:
    if requested not in ("auto", "full", "reduced"):
        raise ConfigError(f"unknown tier {requested!r}: use auto, full or reduced")
    if requested == "auto":
        return facts.best_tier
    if requested == "full" and facts.best_tier != "full":
        why = "no BTF" if not facts.btf else f"lockdown={facts.lockdown}"
        raise KernelSupportError(f"the full tier cannot run here ({why}); use --tier reduced")
    return requested


def program_text(areas: tuple[str, ...]) -> str:
    """common.bpf.h and each area's program as one translation unit.

    Concatenated rather than #included: bcc rewrites map calls such as
    ``rs_events.ringbuf_output()`` only in the main file.
    """
    parts = []
    for name in ("common.bpf.h", *(f"{a}.bpf.c" for a in areas)):
        path = BPF_DIR / name
        try:
            parts.append(f'#line 1 "{path}"\n{path.read_text()}')
        except OSError as exc:
            raise BpfLoadError(f"cannot read BPF source {path}: {exc.strerror}") from exc
    return "\n".join(parts)


class Programs:
    """The loaded and attached BPF programs, and their maps."""

    def __init__(self, options: LoadOptions) -> None:
        for area in options.areas:
            if area not in AREAS and area not in INTERNAL_AREAS:
                raise ConfigError(f"unknown event area {area!r}: choose from {', '.join(AREAS)}")
        size = options.ring_size
        if size < 4096 or size & (size - 1):
            raise ConfigError(f"ring size {size} is not a power of two of at least 4096 bytes")
        self.options = options
        self.facts = kernel_facts()
        self.tier = choose_tier(options.tier, self.facts)
        if self.tier == "reduced":
            for area in options.areas:
                if area not in FULL_TIER_ONLY:
                    continue
                why = f"event area {area!r} cannot run in the reduced tier: {FULL_TIER_ONLY[area]}"
                if options.require_all_areas:
                    raise ConfigError(why)
                log.warning("%s; left out", why)
            options.areas = tuple(a for a in options.areas if a not in FULL_TIER_ONLY)
        self.compile_seconds = 0.0
        self._bpf: Any = None
        # What bcc attached at load, to attach again after a detach (pause).
        self._tracepoints: list[bytes] = []
        self._raw_tracepoints: list[bytes] = []

    def cflags(self) -> list[str]:
        flags = [
            f"-I{BPF_DIR}",
            f"-DRS_NR_CPUS={possible_cpus()}",
            f"-DRS_RINGBUF_PAGES={self.options.ring_size // 4096}",
            f"-DRS_HAVE_EXIT_GROUP_DEAD={int(self.facts.exit_has_group_dead)}",
        ]
        if self.tier == "reduced":
            flags.append("-DRS_REDUCED=1")
        else:
            flags += btf_offset_flags(Btf.from_kernel())
        return flags + self.options.extra_cflags

    def load(self) -> None:
        if self.facts.tracefs is None:
            raise KernelSupportError(
                "tracefs is not mounted: mount -t tracefs nodev /sys/kernel/tracing"
            )
        try:
            from bcc import BPF
        except ImportError as exc:
            raise KernelSupportError(
                "bcc's Python module is missing: apt-get install python3-bpfcc "
                "(and use a venv made with --system-site-packages)"
            ) from exc
        text = program_text(self.options.areas)
        cflags = self.cflags()
        started = time.monotonic()
        try:
            # bcc wants the text as bytes (str gives a DeprecationWarning) and cflags as str.
            self._bpf = BPF(text=text.encode(), cflags=cflags)
        except Exception as exc:  # bcc raises bare Exception for compile and load failures
            reason = str(exc).split("\n", 1)[0][:300]
            raise BpfLoadError(
                f"BPF programs ({self.tier} tier, areas {','.join(self.options.areas)}) "
                f"did not load: {reason}; the compiler or verifier output is above"
            ) from exc
        self.compile_seconds = time.monotonic() - started
        log.info("loaded %s tier BPF programs in %.2fs", self.tier, self.compile_seconds)
        self._tracepoints = list(self._bpf.tracepoint_fds)
        self._raw_tracepoints = list(self._bpf.raw_tracepoint_fds)
        self.set_exclusions(self.options.exclusions)  # writes the config too
        if "file" in self.options.areas:
            self._install_tail_call(BPF, b"file__emit", b"rs_file_tail")
        release_compiler_memory()

    def _install_tail_call(self, bpf_cls: Any, func: bytes, table: bytes) -> None:
        try:
            fn = self.bpf.load_func(func, bpf_cls.TRACEPOINT)
            self.bpf[table][ctypes.c_int(0)] = ctypes.c_int(fn.fd)
        except Exception as exc:  # bcc raises bare Exception
            raise BpfLoadError(f"could not load {func.decode()}: {exc}") from exc

    @property
    def bpf(self) -> Any:
        if self._bpf is None:
            raise RuntimeError("BPF programs are not loaded")
        return self._bpf

    def write_config(self) -> None:
        """struct rs_config from the options; takes effect at once, no recompiling."""
        opts = self.options
        table = self.bpf[b"rs_config"]
        cfg = table.Leaf()
        cfg.self_tgid = opts.self_tgid
        excl = opts.exclusions
        cfg.flags = (
            (CFG_FILE_FAILED if opts.report_failed_file_ops else 0)
            | (CFG_EXCLUDE_COMM if excl.comms else 0)
            | (CFG_EXCLUDE_CGROUP if excl.cgroup_ids else 0)
            | (CFG_EXCLUDE_PREFIX if excl.path_prefixes else 0)
        )
        cfg.tty_budget = opts.tty_budget
        table[ctypes.c_int(0)] = cfg

    def set_exclusions(self, exclusions: Exclusions) -> None:
        """Replace the kernel's exclusion maps (see filter__* in common.bpf.h).

        Everything is checked before anything changes; then the maps are
        filled, and only then the config flags that make the programs look.
        """
        prefixes = [p.encode() for p in exclusions.path_prefixes]
        comms = [c.encode() for c in exclusions.comms]
        for raw in prefixes:
            if not raw or len(raw) > PREFIX_MAX:
                raise ConfigError(f"excluded path prefix {raw!r} must be 1 to {PREFIX_MAX} bytes")
        for raw in comms:
            if not raw or len(raw) > 15:
                raise ConfigError(f"excluded comm {raw!r} must be 1 to 15 bytes")
        bpf = self.bpf
        prefix_map = bpf[b"rs_exclude_prefix"]
        prefix_map.clear()
        for raw in prefixes:
            key = prefix_map.Key()
            key.prefixlen = len(raw) * 8
            key.data = raw  # a ctypes char array takes bytes (and zero-fills the rest)
            prefix_map[key] = ctypes.c_uint8(1)
        comm_map = bpf[b"rs_exclude_comm"]
        comm_map.clear()
        for raw in comms:
            key = comm_map.Key()
            key.comm = raw
            comm_map[key] = ctypes.c_uint8(1)
        cgroup_map = bpf[b"rs_exclude_cgroup"]
        cgroup_map.clear()
        for cgid in exclusions.cgroup_ids:
            cgroup_map[ctypes.c_uint64(cgid)] = ctypes.c_uint8(1)
        self.options.exclusions = exclusions
        self.write_config()

    def set_wakeups(self, on: bool) -> None:
        """Whether records wake a reader waiting on the ring's epoll.

        On (the kernel's rule): a record that lands in a fully read ring
        wakes the reader.  Off: no record does; for a reader that reads on a
        timer, to which a wakeup is only a cost in the program that sends it.
        """
        mode = WAKEUP_WHEN_EMPTY if on else WAKEUP_NEVER
        self.bpf[b"rs_wakeup"][ctypes.c_int(0)] = ctypes.c_uint32(mode)

    @property
    def ring_fd(self) -> int:
        return int(self.bpf[b"rs_events"].map_fd)

    @property
    def ring_size(self) -> int:
        return self.options.ring_size

    def tty_bytes(self) -> dict[str, int]:
        """Terminal output bytes captured, cut at the cap, and skipped over budget."""
        if "tty" not in self.options.areas:
            return {}
        table = self.bpf[b"rs_tty_bytes"]
        return {name: int(sum(table[ctypes.c_int(i)]))
                for i, name in enumerate(("captured", "over_cap", "over_budget"))}

    def counters(self) -> KernelCounters:
        bpf = self.bpf
        sent_table = bpf[b"rs_sent"]
        drop_table = bpf[b"rs_drops"]
        sent = {}
        for t in range(wire.EVENT_TYPE_MAX):
            n = sum(sent_table[ctypes.c_int(t)])
            if n:
                sent[t] = n
        drops = {}
        nreasons = len(wire.DROP_REASONS)
        for t in range(wire.EVENT_TYPE_MAX):
            for r, reason in enumerate(wire.DROP_REASONS):
                n = sum(drop_table[ctypes.c_int(t * nreasons + r)])
                if n:
                    drops[(t, reason)] = n
        seq = [int(v) for v in bpf[b"rs_seq"][ctypes.c_int(0)]]
        return KernelCounters(sent=sent, drops=drops, seq_by_cpu=seq, tty_bytes=self.tty_bytes())

    def detach(self) -> None:
        """Stop every program from firing; the maps (and what the ring holds) stay."""
        bpf = self._bpf
        if bpf is None:
            return
        for tp in list(bpf.tracepoint_fds):
            bpf.detach_tracepoint(tp)
        for tp in list(bpf.raw_tracepoint_fds):
            bpf.detach_raw_tracepoint(tp)

    @property
    def attached(self) -> bool:
        """Whether every program attached at load is attached now."""
        bpf = self._bpf
        return bpf is not None and all(tp in bpf.tracepoint_fds for tp in self._tracepoints) \
            and all(tp in bpf.raw_tracepoint_fds for tp in self._raw_tracepoints)

    def attach(self) -> None:
        """Attach again what :meth:`detach` took off.

        The programs stayed loaded and their maps kept their contents, so
        this takes milliseconds (no compiling or verifying).  bcc named each
        program after its tracepoint (``TRACEPOINT_PROBE(cat, name)`` is
        ``tracepoint__cat__name``), which gives the program for each.
        """
        bpf = self.bpf
        try:
            for tp in self._tracepoints:
                if tp not in bpf.tracepoint_fds:
                    bpf.attach_tracepoint(tp=tp, fn_name=b"tracepoint__" + tp.replace(b":", b"__"))
            for tp in self._raw_tracepoints:
                if tp not in bpf.raw_tracepoint_fds:
                    bpf.attach_raw_tracepoint(tp=tp, fn_name=b"raw_tracepoint__" + tp)
        except Exception as exc:  # bcc raises bare Exception
            raise BpfLoadError(f"could not attach the BPF programs again: {exc}") from exc

    def close(self) -> None:
        if self._bpf is not None:
            bpf, self._bpf = self._bpf, None
            bpf.cleanup()
