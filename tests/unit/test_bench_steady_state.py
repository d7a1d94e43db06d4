"""benchmarks/steady_state: the slowdown of paired windows, its error and bound; the table."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from benchmarks import _common, steady_state
from benchmarks._common import command_line, upper95


def pair(phase: str, mode: str, i: int, base: float, loaded: float,
         cpu: float) -> list[dict[str, Any]]:
    names = ("paused", "attached") if phase == "sensor" else ("stopped", "spinning")
    rows = [{"phase": phase, "mode": mode, "pair": i, "arm": names[0], "ops_per_s": base,
             "cpu_pct": 0.0},
            {"phase": phase, "mode": mode, "pair": i, "arm": names[1], "ops_per_s": loaded,
             "cpu_pct": cpu}]
    if phase == "sensor":
        rows[1].update(generated=300, delivered=300 - i, lost=i)
    return rows


def test_the_slowdown_is_the_mean_of_the_pairs_ratios() -> None:
    # Ratios 0.90, 1.00, 0.95: mean 0.95, standard deviation 0.05.
    windows = [w for i, (base, loaded) in enumerate([(1000, 900), (800, 800), (1000, 950)])
               for w in pair("sensor", "exec-long", i, base, loaded, cpu=8.0 + i)]
    windows += [w for i, (base, loaded) in enumerate([(1000, 990), (1000, 970)])
                for w in pair("spinner", "exec-long", i, base, loaded, cpu=9.0)]
    figs = steady_state.figures(windows)["exec-long"]
    sensor = figs["sensor"]
    assert sensor["pairs"] == 3
    assert sensor["slowdown"] == pytest.approx(0.05)
    assert sensor["se"] == pytest.approx(0.05 / math.sqrt(3))
    assert sensor["upper95"] == pytest.approx(0.05 + 2.920 * 0.05 / math.sqrt(3))
    assert sensor["cpu_pct"] == pytest.approx(9.0) and sensor["cpu_pct_base"] == 0.0
    assert figs["spinner"]["slowdown"] == pytest.approx(0.02)
    # Losses and the events generated are summed over the attached windows only.
    assert (figs["generated"], figs["delivered"], figs["lost"]) == (900, 897, 3)
    md = steady_state.table(steady_state.figures(windows), 1.0)
    assert "| exec-long | 3 | 5.0 % ± 2.9 | 13.4 % |" in md
    assert "2.0 % ± 1.0 at 9.0 %" in md and "| 3 / 900 |" in md


def test_a_storm_without_two_whole_pairs_has_no_figure() -> None:
    windows = pair("sensor", "exec", 0, 1000, 900, cpu=5.0)
    windows.append({"phase": "sensor", "mode": "exec", "pair": 1, "arm": "paused",
                    "ops_per_s": 1000, "cpu_pct": 0.0})  # its other half never ran
    figs = steady_state.figures(windows)
    assert figs["exec"]["sensor"] is None and figs["exec"]["spinner"] is None
    assert "| exec | 0 | – | – | – | – |" in steady_state.table(figs, 1.0)


def test_the_bound_uses_students_t_and_1_70_past_its_table() -> None:
    assert upper95(0.01, 0.01, 2) == pytest.approx(0.01 + 6.314 * 0.01)
    assert upper95(0.01, 0.01, 61) == pytest.approx(0.01 + 1.70 * 0.01)


def test_a_result_records_the_command_in_its_m_form(tmp_path: Path) -> None:
    here = Path(steady_state.__file__)
    assert command_line([str(here), "--pairs", "4"]).endswith(
        " -m benchmarks.steady_state --pairs 4")
    # Anything else is recorded as it was given.
    other = tmp_path / "x.py"
    assert command_line([str(other)]).endswith(f" {other}")


def test_report_prints_and_writes_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    _common.report("demo", "A title", {"x": 1}, "| a |", write=False)
    assert capsys.readouterr().out == "| a |\n" and not list(tmp_path.iterdir())
    _common.report("demo", "A title", {"x": 1}, "| a |", write=True)
    assert (tmp_path / "demo.md").read_text() == "# A title\n\n| a |\n"
    assert json.loads((tmp_path / "demo.json").read_text())["figures"] == {"x": 1}
