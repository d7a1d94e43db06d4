"""benchmarks/read_interval: its figures are medians per storm and interval, losses summed;
and the turns the benchmarks' candidates take."""

from __future__ import annotations

from typing import Any

from benchmarks import read_interval
from benchmarks._common import rotated


def win(mode: str, ms: float, r: int, us_per_op: float, lost: int = 0) -> dict[str, Any]:
    return {"mode": mode, "interval_ms": ms, "round": r, "ops": 1000, "ops_per_s": 900.0 + r,
            "sensor_cpu_pct": us_per_op / 10, "sensor_us_per_op": us_per_op,
            "sensor_us_per_event": us_per_op / 3, "latency_ms_p50": ms / 2,
            "latency_ms_p99": None if r == 0 else ms, "generated": 3000, "delivered": 3000 - lost,
            "lost": lost}


def test_figures_group_by_storm_and_interval_in_run_order() -> None:
    windows = [win("exec", ms, r, us, lost)
               for r, (a, b) in enumerate([(120.0, 60.0), (90.0, 80.0), (100.0, 70.0)])
               for ms, us, lost in ((10, a, 0), (100, b, r))]
    rows = read_interval.figures(windows)
    assert [(row["mode"], row["interval_ms"]) for row in rows] == [("exec", 10), ("exec", 100)]
    ten, hundred = rows
    assert ten["sensor_us_per_op"] == {"median": 100.0, "min": 90.0, "max": 120.0, "n": 3}
    assert hundred["sensor_us_per_op"]["median"] == 70.0
    assert hundred["lost"] == 0 + 1 + 2 and hundred["generated"] == 9000
    # A window without a latency figure is left out of the median, not counted as 0.
    assert hundred["latency_ms_p99"] == {"median": 100, "min": 100, "max": 100, "n": 2}
    md = read_interval.table(rows)
    assert "| exec | 10 ms | 100.0" in md and "| 3 / 9,000 |" in md


def test_candidates_take_turns_and_the_first_rotates() -> None:
    arms = ("a", "b", "c")
    assert [rotated(arms, k) for k in range(4)] == [
        ["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]
