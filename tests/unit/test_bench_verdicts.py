"""bench_suite's exec verdicts: the paired windows' mean, standard error and bound."""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from benchmarks import _storm as st
from benchmarks import bench_suite


def pair(i: int, bare: float, observed: float, wl: str = "exec") -> list[dict[str, Any]]:
    return [{"label": wl, "arm": arm, "pair": i, "paired": True, "agent_cpu_pct": 7.0,
             "gen": {"ops_per_s": ops}}
            for arm, ops in (("none", bare), ("ringside", observed))]


def windows(ratios: list[float], wl: str = "exec") -> list[dict[str, Any]]:
    return [w for i, r in enumerate(ratios) for w in pair(i, 1000.0, 1000.0 * r, wl)]


def test_mean_se_and_bound_of_the_pairs() -> None:
    ratios = [0.97, 0.99, 0.98, 0.96, 1.00, 0.98]
    p = bench_suite.paired_figures(windows(ratios), "exec")
    assert p is not None
    se = statistics.stdev(ratios) / len(ratios) ** 0.5
    assert p["pairs"] == 6
    assert p["slowdown"] == pytest.approx(1 - statistics.mean(ratios))
    assert p["se"] == pytest.approx(se)
    assert p["upper95"] == pytest.approx(p["slowdown"] + 2.015 * se)  # t, 5 degrees of freedom


def test_a_pair_without_its_partner_is_left_out() -> None:
    ws = windows([0.98, 0.98, 0.96]) + pair(3, 1000.0, 500.0)[1:]  # an observed window alone
    p = bench_suite.paired_figures(ws, "exec")
    assert p is not None and p["pairs"] == 3
    assert bench_suite.paired_figures(windows([0.98]), "exec") is None  # no error from one pair
    assert bench_suite.paired_figures(windows([0.98, 0.97], "exec-long"), "exec") is None


def verdict(ratios: list[float]) -> dict[str, Any]:
    fig = {"exec/paired": bench_suite.paired_figures(windows(ratios), "exec")}
    return bench_suite.verdicts(fig, {"kafka": {}})["exec storm slowdown < 3 %"]


def test_the_target_passes_only_when_the_bound_is_under_it() -> None:
    tight = verdict([0.985, 0.99, 0.98, 0.985, 0.99, 0.98, 0.985, 0.99])
    assert tight["pass"] and bench_suite.result_label(tight) == "PASS"
    # A mean under 3 % is not enough when the pairs are too spread to show it;
    # nor are they spread enough to show it over 3 %: unresolved, not met.
    loose = verdict([0.93, 1.01, 0.95, 1.02, 0.96, 0.99])
    assert not loose["pass"] and loose["result"] == bench_suite.UNRESOLVED
    assert bench_suite.result_label(loose) == "**UNRESOLVED**"
    assert "95 % bounds -0.6 and 5.3 %" in loose["measured"]
    # Shown over the target: the lower bound (3.1 %) is above it.
    over = verdict([0.96, 0.965, 0.97, 0.96, 0.965, 0.97])
    assert not over["pass"] and "result" not in over
    assert bench_suite.result_label(over) == "**FAIL**"
    assert bench_suite.exit_status({"a": loose}) == 1  # not met counts, shown or not


def rounds_only(ratios: list[float], bare: list[float] | None = None) -> dict[str, Any]:
    fig: dict[str, Any] = {"exec/ringside": {"ratio": st.spread(ratios)}}
    if bare is not None:
        fig["exec/none"] = {"ops_per_s": st.spread(bare)}
    return bench_suite.verdicts(fig, {"kafka": {}})["exec storm slowdown < 3 %"]


def test_without_pairs_an_exec_target_is_reported_and_not_judged() -> None:
    # Two quick runs gave these: each failed a storm the paired runs put near
    # or under 3 % (rounds 1.3 and 22.9 % slower, bare rounds 787 and 966 ops/s).
    noisy = rounds_only([0.987, 0.771], bare=[787, 966])
    assert not noisy["pass"] and noisy["result"] == bench_suite.NOT_JUDGED
    assert bench_suite.result_label(noisy) == "**NOT JUDGED**"
    assert "median of 2 rounds, from 1.3 to 22.9 %" in noisy["measured"]
    assert "the bare rounds 22.7 % apart" in noisy["measured"]
    # Rounds all under the target do not pass either: two of them show nothing.
    assert rounds_only([0.985, 0.99])["result"] == bench_suite.NOT_JUDGED
    assert "from -" in rounds_only([1.064, 1.193])["measured"]  # faster beside the sensor


def test_exit_status_counts_failures_and_lists_what_was_not_shown(
        capsys: pytest.CaptureFixture[str]) -> None:
    passed = {"pass": True, "measured": ""}
    assert bench_suite.exit_status({"a": passed, "b": rounds_only([0.99, 0.98])}) == 0
    assert "NOT JUDGED: b" in capsys.readouterr().err
    assert bench_suite.exit_status({"a": passed, "c": {"pass": False, "measured": ""}}) == 1
    missing = bench_suite.verdicts({}, {"kafka": {"error": "no broker"}})
    assert bench_suite.exit_status(missing) == 1  # not measured is not "not shown"
    assert bench_suite.exit_status({"a": passed, "k": kafka_verdict(89_204, 0)}) == 0
    assert bench_suite.exit_status({"k": kafka_verdict(99_999, 2)}) == 1


def kafka_verdict(rate: float, lost: int) -> dict[str, Any]:
    step = {"asked_events": bench_suite.KAFKA_TARGET, "event_rate": rate, "lost": lost,
            "acknowledged": 1000 - lost, "handed": 1000, "kernel_drops": 0,
            "user_drops": lost, "kafka_dropped": 0}
    return bench_suite.verdicts({}, {"kafka": {"steps": [step]}})[
        "zero loss at 100,000 events/s to Kafka"]


def test_kafka_at_the_rate_without_loss_passes_and_a_loss_fails() -> None:
    assert bench_suite.result_label(kafka_verdict(99_999, 0)) == "PASS"
    lost = kafka_verdict(99_999, 3)
    assert not lost["pass"] and bench_suite.result_label(lost) == "**FAIL**"
    assert "lost 3" in lost["measured"]


def test_kafka_short_of_the_rate_is_not_reached_unless_something_was_lost() -> None:
    short = kafka_verdict(89_204, 0)
    assert not short["pass"]
    assert bench_suite.result_label(short) == "**NOT REACHED**"
    assert "89,204 events/s reached" in short["measured"]
    # A loss below the rate is a failure all the same.
    assert bench_suite.result_label(kafka_verdict(89_204, 5)) == "**FAIL**"


def test_kafka_without_its_phase_is_not_measured() -> None:
    missing = bench_suite.verdicts({}, {"kafka": {"error": "no broker"}})[
        "zero loss at 100,000 events/s to Kafka"]
    assert bench_suite.result_label(missing) == "**NOT MEASURED**"
    assert missing["measured"] == "no broker"
