"""The load generators (``loadgen.c``), built with the system's C compiler at bench time.

Python cannot make 100,000 file events or 300,000 read-only opens a second
on this machine; a small C program can, and it counts exactly what it did.
:func:`run` starts it and returns its counts; :func:`expected` turns them
into the events each observer should report.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).resolve().parent / "loadgen.c"
MODES = ("exec", "exec-long", "file", "open-ro", "tty", "mixed", "exec-long-shell")
CACHE = Path(os.environ.get("RINGSIDE_BENCH_CACHE", "/var/cache/ringside-bench"))


class LoadgenError(RuntimeError):
    pass


def build() -> Path:
    """The compiled generator, rebuilt when its source changes."""
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    binary = CACHE / f"loadgen-{digest}"
    if binary.exists():
        return binary
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise LoadgenError("no C compiler (apt-get install gcc)")
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=CACHE, delete=False) as tmp:
        pass
    proc = subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-Werror", "-o", tmp.name, str(SOURCE)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        os.unlink(tmp.name)
        raise LoadgenError(f"compiling {SOURCE} failed:\n{proc.stderr}")
    os.replace(tmp.name, binary)
    return binary


def command(binary: Path, mode: str, duration: float, rate: float | None = None,
            workdir: Path | None = None, **options: Any) -> list[str]:
    if mode not in MODES:
        raise LoadgenError(f"unknown load generator mode {mode!r}")
    cmd = [str(binary), mode, "--duration", f"{duration:g}"]
    if rate:
        cmd += ["--rate", f"{rate:g}"]
    if workdir is not None:
        cmd += ["--dir", str(workdir)]
    for key, value in options.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    return cmd


def prepare(workdir: Path) -> None:
    """The file the read-only open storm opens (created now, so its creation is no event)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "lg-ro").write_bytes(b"ro\n")


def run(binary: Path, mode: str, duration: float, rate: float | None = None,
        workdir: Path | None = None, **options: Any) -> dict[str, Any]:
    """Run the generator to its end; its counts, with 'ops_per_s' added."""
    cmd = command(binary, mode, duration, rate, workdir, **options)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120)
    if proc.returncode != 0:
        raise LoadgenError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    result: dict[str, Any] = json.loads(proc.stdout)
    result["ops_per_s"] = result["ops"] / (result["elapsed_ns"] / 1e9)
    return result


def expected(result: dict[str, Any]) -> dict[str, int]:
    """Events Ringside reports for the generator (its pid, or its parent's pid is its pid).

    The generator's own exec and exit are included (its fork is its parent's
    event).  tty.write is not: over-budget writes make no event; they are
    accounted for in bytes instead (see the benchmarks).
    """
    events = {
        "process.fork": result["forks"],
        "process.exec": result["execs"] + 1,
        "process.exit": result["reaped"] + 1,
        "file.create": result["creates"],
        "file.rename": result["renames"],
        "file.delete": result["deletes"],
        # posix_openpt() opens /dev/ptmx read-write: a file.modify (/dev/ptmx is
        # not under the default exclusions, which name /dev/pts/ and /dev/tty).
        "file.modify": result["ptmx_opens"],
    }
    return {k: v for k, v in events.items() if v}


def events_per_op(mode: str, renames: int = 1) -> float:
    """Events (ours) one op makes, for turning a target event rate into an op rate."""
    return {
        "exec": 3.0, "exec-long": 3.0, "file": 2.0 + renames, "open-ro": 0.0, "tty": 1.0,
        "mixed": 3.0 + 10 * (2.0 + renames) + 10.0, "exec-long-shell": 6.0,
    }[mode]
