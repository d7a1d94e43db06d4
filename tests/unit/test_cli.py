"""Wrong flags get a clear message and exit code 2, before anything is loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from ringside._cli import main


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "--events", "process,nope"], "unknown event area(s) nope"),
    (["run", "--ring-size", "3"], "not a power of two"),
    (["run", "--max-events", "0"], "must be positive"),
    (["run", "--duration", "soon"], "is not a number"),
    (["run", "--tier", "fast"], "invalid choice"),
    (["run", "--cpu-policy", "fifo"], "invalid choice"),
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
