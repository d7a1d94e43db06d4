"""Shared by the benchmarks: where results go and what machine made them.

Every benchmark writes ``benchmarks/results/<name>.json`` (its figures, the
command that produced them and the machine) and prints a Markdown table.
Figures that compare two things are measured side by side in one run: this
machine has 2 shared cores, and absolute times drift between runs.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    def first(path: str) -> str:
        try:
            return Path(path).read_text().strip()
        except OSError:
            return "unknown"

    cpu = "unknown"
    for line in first("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in first("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True,
                              cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command that ran, as one would type it again.

    Under ``python -m benchmarks.x``, ``sys.argv[0]`` is the module's file
    path; the file cannot be run by path (it imports ``benchmarks``), so the
    ``-m`` form is given instead.
    """
    argv = list(sys.argv if argv is None else argv)
    head = Path(argv[0]) if argv else Path()
    if head.suffix == ".py" and head.resolve().parent == Path(__file__).resolve().parent:
        argv[0:1] = ["-m", f"benchmarks.{head.stem}"]
    return " ".join([Path(sys.executable).name, *argv])


def write_result(name: str, figures: dict[str, Any], table: str) -> Path:
    """Save figures as JSON (with machine and command) and the table as Markdown."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": name,
        "command": command_line(),
        "commit": git_commit(),
        "machine": machine(),
        "figures": figures,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(table + "\n")
    return path


def report(name: str, title: str, figures: dict[str, Any], table: str, write: bool) -> None:
    """Print a benchmark's table; with ``write``, save it and its figures (write_result)."""
    print(table)
    if write:
        path = write_result(name, figures, f"# {title}\n\n{table}")
        print(f"written: {path}")


def rewrite_result(path: Path, record: dict[str, Any], figures: dict[str, Any],
                   verdicts: dict[str, Any], table: str) -> int:
    """Put recomputed figures and verdicts back in a result file (``--render``).

    The raw measurements stay as they were; the JSON notes the command that
    re-rendered it, the Markdown table is replaced.  The exit status, as for a
    run: 0 when every verdict passes, else 1.
    """
    record["figures"].update({"figures": figures, "verdicts": verdicts})
    record["rendered"] = command_line()
    path.write_text(json.dumps(record, indent=2) + "\n")
    path.with_suffix(".md").write_text(table + "\n")
    print(table)
    return 0 if all(v["pass"] for v in verdicts.values()) else 1


# One-sided 95 % quantiles of Student's t by degrees of freedom (beyond: 1.70,
# which overstates the bound slightly up to 30 and by < 4 % past it).
T95 = {1: 6.314, 2: 2.920, 3: 2.353, 4: 2.132, 5: 2.015, 6: 1.943, 7: 1.895, 8: 1.860,
       9: 1.833, 10: 1.812, 11: 1.796, 12: 1.782, 13: 1.771, 14: 1.761, 15: 1.753,
       16: 1.746, 17: 1.740, 18: 1.734, 19: 1.729, 20: 1.725}


def upper95(slowdown: float, se: float, n: int) -> float:
    """One-sided 95 % upper bound of a mean slowdown over ``n`` pairs."""
    return slowdown + T95.get(n - 1, 1.70) * se


def lower95(slowdown: float, se: float, n: int) -> float:
    """One-sided 95 % lower bound of a mean slowdown over ``n`` pairs."""
    return slowdown - T95.get(n - 1, 1.70) * se


def rotated(items: Sequence[T], k: int) -> list[T]:
    """``items`` starting at the ``k``-th (modulo their number): the order of round ``k``
    when candidates take turns and the first one rotates between rounds."""
    k %= len(items)
    return [*items[k:], *items[:k]]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)
