"""The command line as a person or a service manager runs it: ``ringside run --kafka``,
``ringside consume``, and the errors a wrong flag or a refusing broker give."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.harness import metrics_port, wait_metric
from tests.kafka.broker import Broker, free_port_block
from tests.kafka.conftest import RINGSIDE, consume

pytestmark = pytest.mark.kafka


def stats(stderr: str) -> dict[str, object]:
    """The counters `ringside run` prints on stderr at exit."""
    (line,) = [ln for ln in stderr.splitlines() if ln.startswith('{"counters"')]
    counters = json.loads(line)["counters"]
    assert isinstance(counters, dict)
    return counters


@pytest.mark.kernel
def test_run_publishes_and_consume_reads_back(broker: Broker, prefix: str,
                                              tmp_path: Path) -> None:
    marker = f"ringside-cli-{prefix}"
    # Files, not pipes: a pipe nobody reads until the end would fill and stall the sensor.
    out_path, err_path = tmp_path / "stdout", tmp_path / "stderr"
    with out_path.open("w") as out_file, err_path.open("w") as err_file:
        run = subprocess.Popen([*RINGSIDE, "run", "--events", "process", "--kafka",
                                broker.bootstrap, "--kafka-topic-prefix", prefix,
                                "--kafka-spool-dir", str(tmp_path / "spool")],
                               stdout=out_file, stderr=err_file)
    try:
        time.sleep(1)
        deadline = time.monotonic() + 120
        # Until the sensor is attached, the marker execs are not seen: repeat them.
        while time.monotonic() < deadline:
            subprocess.run(["/bin/echo", marker], stdout=subprocess.DEVNULL, check=True)
            got = consume(broker.bootstrap, prefix, timeout=2)
            if any(marker in (e["process"]["args"] or []) for e in got.events):
                break
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    out, err = out_path.read_text(), err_path.read_text()
    assert run.returncode == 0, err
    assert out == ""  # with --kafka and no --output, nothing on stdout
    counters = stats(err)
    kafka = counters["components"]["kafka"]  # type: ignore[index]
    delivered = sum(n for k, n in counters["delivered"].items())  # type: ignore[attr-defined]
    assert kafka["acknowledged"] == kafka["received"] == delivered > 0
    assert kafka["unacknowledged"] == 0 and kafka["dropped"] == {}

    result = consume(broker.bootstrap, prefix)
    assert result.returncode == 0
    assert result.summary["events"] == delivered
    assert result.summary["missing"] == 0 and result.summary["duplicates"] == 0
    echoes = [e for e in result.events if e["event"] == "process.exec"
              and marker in (e["process"]["args"] or [])]
    assert echoes and echoes[0]["process"]["args"] == ["/bin/echo", marker]


@pytest.mark.parametrize(("args", "message"), [
    (["--kafka", "no-port-here"], "is not HOST:PORT"),
    (["--kafka", "127.0.0.1:9092", "--kafka-sasl", "SCRAM-SHA-256"], "needs --kafka-user"),
    (["--kafka", "127.0.0.1:9092", "--kafka-ca", "/nonexistent/ca.pem", "--kafka-tls"],
     "cannot read it"),
    (["--kafka", "127.0.0.1:9092", "--kafka-cert", "/etc/hostname"], "needs --kafka-tls"),
    (["--kafka", "127.0.0.1:9092", "--kafka-topic-prefix", "bad/prefix"], "topic-prefix"),
])
def test_wrong_flags_are_usage_errors(args: list[str], message: str) -> None:
    proc = subprocess.run([*RINGSIDE, "run", "--events", "process", "--duration", "1", *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr


@pytest.mark.kernel
def test_a_refusing_broker_keeps_events_in_the_spool(tmp_path: Path) -> None:
    port = free_port_block(1)  # nothing listens there
    spool = tmp_path / "spool"
    err_path = tmp_path / "stderr"
    with err_path.open("w") as err_file:
        run = subprocess.Popen([*RINGSIDE, "--log-level", "info", "run", "--events", "process",
                                "--kafka", f"127.0.0.1:{port}", "--kafka-spool-dir", str(spool),
                                "--kafka-stop-timeout", "1", "--duration", "20",
                                "--kafka-memory-mib", "1"],
                               stdout=subprocess.DEVNULL, stderr=err_file)
    try:
        # The events are ours, not the host's (a quiet CI machine may make none).
        deadline = time.monotonic() + 120
        while "running" not in err_path.read_text():
            assert run.poll() is None and time.monotonic() < deadline, err_path.read_text()
            time.sleep(0.2)
        for _ in range(5):
            subprocess.run(["/bin/true"], check=True)
        assert run.wait(timeout=120) == 0, err_path.read_text()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    proc = subprocess.CompletedProcess(run.args, run.returncode, "", err_path.read_text())
    assert f"cannot connect to 127.0.0.1:{port}" in proc.stderr
    kafka = stats(proc.stderr)["components"]["kafka"]  # type: ignore[index]
    assert kafka["acknowledged"] == 0 and kafka["errors"]["KafkaConnectionError"] >= 1
    assert kafka["spooled"] == kafka["received"] > 0 and kafka["dropped"] == {}
    assert list(spool.glob("*.seg"))


@pytest.mark.kernel
def test_a_pause_leaves_no_gap_in_the_stream(broker: Broker, prefix: str,
                                             tmp_path: Path) -> None:
    """Paused, the sensor records nothing and spends no sequence number: a consumer
    sees every event sent before and after the pause, once, and no hole between."""
    err_path = tmp_path / "stderr"
    with err_path.open("w") as err_file:
        run = subprocess.Popen([*RINGSIDE, "--log-level", "info", "run", "--events", "process",
                                "--pause-signals", "--metrics-port", "0", "--kafka",
                                broker.bootstrap, "--kafka-topic-prefix", prefix,
                                "--kafka-spool-dir", str(tmp_path / "spool"),
                                "--duration", "300"],
                               stdout=subprocess.DEVNULL, stderr=err_file)

    def marked(word: str) -> None:
        subprocess.run(["/bin/echo", f"{prefix}{word}"], stdout=subprocess.DEVNULL, check=True)

    try:
        port = metrics_port(run, err_path)
        marked("before")
        run.send_signal(signal.SIGUSR1)
        wait_metric(port, "ringside_paused", 1)
        marked("during")
        run.send_signal(signal.SIGUSR2)
        wait_metric(port, "ringside_paused", 0)
        marked("after")
        time.sleep(1)
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=120) == 0, err_path.read_text()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    counters = stats(err_path.read_text())
    kafka = counters["components"]["kafka"]  # type: ignore[index]
    paused = counters["paused"]
    assert paused["now"] is False and paused["pauses"] == 1  # type: ignore[index]
    assert kafka["acknowledged"] == kafka["received"] > 0 and kafka["dropped"] == {}

    result = consume(broker.bootstrap, prefix)
    assert result.returncode == 0
    assert result.summary["events"] == kafka["acknowledged"]
    assert result.summary["missing"] == 0 and result.summary["duplicates"] == 0
    # Each once; in any order: the two processes' events may sit in different
    # partitions, which the consumer reads side by side.
    execs = [e["process"]["args"] for e in result.events if e["event"] == "process.exec"]
    echoed = [arg for args in execs for arg in args or [] if arg.startswith(prefix)]
    assert sorted(echoed) == [f"{prefix}after", f"{prefix}before"], execs


def test_consume_without_a_broker_says_so(prefix: str) -> None:
    port = free_port_block(1)
    proc = subprocess.run([*RINGSIDE, "consume", "--kafka", f"127.0.0.1:{port}",
                           "--timeout", "1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert f"cannot connect to Kafka at 127.0.0.1:{port}" in proc.stderr
