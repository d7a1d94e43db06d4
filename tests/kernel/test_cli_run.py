"""The ringside command itself, end to end: real programs, NDJSON on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ringside_schema

pytestmark = pytest.mark.kernel

RINGSIDE = [sys.executable, "-m", "ringside"]


@pytest.mark.parametrize(("flags", "policy"), [([], os.SCHED_BATCH),
                                               (["--cpu-policy", "normal"], os.SCHED_OTHER)])
def test_run_prints_valid_ndjson_and_counters(tmp_path: Path, flags: list[str],
                                              policy: int) -> None:
    proc = subprocess.Popen([*RINGSIDE, "--log-level", "info", "run", "--max-events", "3",
                             "--duration", "120", *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Wait until it is attached, then cause events.
    deadline = time.monotonic() + 60
    assert proc.stderr is not None
    while b"running" not in proc.stderr.readline():
        assert time.monotonic() < deadline and proc.poll() is None, "sensor did not start"
    # The CPU policy asked (batch by default), on every thread of the running sensor.
    tids = [int(t) for t in os.listdir(f"/proc/{proc.pid}/task")]
    assert {os.sched_getscheduler(t) for t in tids} == {policy}
    marker = tmp_path / "cli-marker"
    for _ in range(3):
        subprocess.run(["/bin/touch", str(marker)], check=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    events = [ringside_schema.validate(json.loads(line)) for line in out.splitlines()]
    assert len(events) >= 3
    counters = json.loads(err.decode().strip().splitlines()[-1])["counters"]
    assert counters["decode_errors"] == {} and counters["kernel"]["dropped"] == 0
    delivered = sum(n for key, n in counters["delivered"].items() if key.startswith("ndjson/"))
    assert delivered == len(events)


def test_doctor_reports_the_full_tier() -> None:
    out = subprocess.run([*RINGSIDE, "doctor", "--json"], capture_output=True, text=True,
                         check=True, timeout=120)
    report = json.loads(out.stdout)
    assert report["tier"] == "full"
    assert report["program_types"]["tracepoint"] == "ok"
    assert report["program_types"]["ring_buffer"] == "ok"
    assert report["program_types"]["kprobe"].startswith("no")  # this kernel has none
    # make setup built the C parts
    for part in ("ring_walk", "decoding", "kafka_packing"):
        assert report[part].startswith("C ("), report[part]


def test_an_area_the_tier_cannot_run_is_a_clear_error() -> None:
    out = subprocess.run([*RINGSIDE, "run", "--tier", "reduced", "--events", "process,tty"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "cannot run in the reduced tier" in out.stderr
    assert out.stdout == ""
