"""Wrong flags get a clear message and exit code 2, before anything is loaded."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from ringside import SensorConfig
from ringside._cli import build_parser, main, sensor_config_from_args


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "--events", "process,nope"], "unknown event area(s) nope"),
    (["run", "--ring-size", "3"], "not a power of two"),
    (["run", "--max-events", "0"], "must be positive"),
    (["run", "--duration", "soon"], "is not a number"),
    (["run", "--tier", "fast"], "invalid choice"),
    (["run", "--cpu-policy", "fifo"], "invalid choice"),
    (["run", "--read-interval", "-1"], "-1.0 ms must not be negative"),
    (["run", "--read-interval", "1500"], "1500 ms is over the 1000 ms a read may wait"),
    (["run", "--read-interval", "soon"], "'soon' is not a number of ms"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_flags(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_an_output_that_cannot_be_opened(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "missing" / "events.ndjson"
    assert main(["run", "--output", str(target)]) == 2
    assert f"cannot open --output {target}: No such file or directory" in capsys.readouterr().err


def test_read_interval_is_given_in_ms_and_reaches_the_sensor_in_seconds() -> None:
    parser = build_parser()
    config = sensor_config_from_args(parser.parse_args(["run", "--read-interval", "50"]))
    assert config.read_interval == 0.05
    assert sensor_config_from_args(parser.parse_args(["run", "--read-interval", "0"])
                                   ).read_interval == 0
    # Without the flag, the command line and the library agree.
    default = sensor_config_from_args(parser.parse_args(["run"]))
    assert default.read_interval == SensorConfig().read_interval
    default.validate()


def test_a_pause_signal_before_the_start_says_the_sensor_is_not_started(
        caplog: pytest.LogCaptureFixture) -> None:
    from ringside._cli import _pause_handler
    from ringside._sensor import Sensor

    sensor = Sensor(SensorConfig())  # nothing loaded: the constructor touches no kernel
    assert sensor.state == "not started"
    with caplog.at_level(logging.WARNING, logger="ringside._cli"):
        _pause_handler(sensor, "SIGUSR1", sensor.pause)()
    assert "SIGUSR1: the sensor is not started; nothing done" in caplog.text
