"""TLS and SASL/SCRAM against the real broker, with certificates this test makes.

The broker (instance ``tls``, its own ports) gets a SASL_SSL listener with a
certificate signed by a CA made here with openssl, and two SCRAM users.
The sensor publishes as one user (SCRAM-SHA-512), ``ringside consume``
reads as the other (SCRAM-SHA-256).  A wrong password or an unknown CA is
a clear error, counted; events already accepted are kept and delivered
once the settings are right.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ringside import SensorConfig
from ringside._kafka import KafkaSink
from ringside._kafka_config import KafkaConfig, KafkaConnection

from tests.harness import SensorThread
from tests.kafka.broker import Broker, free_port_block
from tests.kafka.conftest import RINGSIDE, consume
from tests.kafka.test_end_to_end import check_delivery

pytestmark = [pytest.mark.kafka, pytest.mark.kernel]

USERS = {"sensor": "sensor-secret-1", "reader": "reader-secret-2"}


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("certs")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem",
            "-out", "ca.pem", "-days", "2", "-subj", "/CN=ringside test CA", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker-key.pem",
            "-out", "broker.csr", "-subj", "/CN=localhost", cwd=d)
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
            "-CAcreateserial", "-out", "broker-cert.pem", "-days", "2", "-extfile", "san.ext",
            cwd=d)
    for user, password in USERS.items():
        (d / f"{user}.password").write_text(password + "\n")
    return d


@pytest.fixture(scope="module")
def tls_broker(certs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = Broker("tls", free_port_block(3), home=tmp_path_factory.mktemp("kafka-home"),
               tls_dir=certs, scram_users=USERS)
    b.start()
    try:
        yield b
    finally:
        b.stop()


def connection(broker: Broker, certs: Path, user: str = "sensor", password: str | None = None,
               mechanism: str = "SCRAM-SHA-512") -> KafkaConnection:
    return KafkaConnection(broker.tls_bootstrap, tls=True, ca_file=str(certs / "ca.pem"),
                           sasl_mechanism=mechanism, username=user,
                           password=USERS[user] if password is None else password)


def tls_args(broker: Broker, certs: Path, user: str, *, ca: bool = True) -> list[str]:
    args = ["--kafka-tls", "--kafka-sasl", "SCRAM-SHA-256", "--kafka-user", user,
            "--kafka-password-file", str(certs / f"{user}.password")]
    return args + (["--kafka-ca", str(certs / "ca.pem")] if ca else [])


def run_execs(n: int) -> None:
    for _ in range(n):
        subprocess.run(["/bin/true"], check=True)


def test_publish_and_consume_over_tls_with_scram(tls_broker: Broker, certs: Path,
                                                 prefix: str, tmp_path: Path) -> None:
    sink = KafkaSink(KafkaConfig(connection(tls_broker, certs), topic_prefix=prefix,
                                 spool_dir=str(tmp_path / "spool"), stop_timeout=60))
    sensor = SensorThread(SensorConfig(areas=("process",)), sinks=[sink]).start()
    try:
        run_execs(50)
        time.sleep(1)
    finally:
        sensor.stop()
    assert sensor.sensor is not None
    kafka = sensor.sensor.counters()["components"]["kafka"]
    collected = list(sensor.events)
    ours = [e for e in collected if e.event in ("process.exec", "process.exit")
            and e.process.ppid == os.getpid() and e.process.comm == "true"]
    assert len(ours) == 100  # exec and exit of each (the forks are this process's: not reported)
    assert kafka["acknowledged"] == len(collected) and kafka["errors"] == {}

    result = consume(tls_broker.tls_bootstrap, prefix,
                     *tls_args(tls_broker, certs, "reader"))
    assert result.returncode == 0, result.stderr
    check_delivery(collected, result.events)


def test_wrong_password_is_a_clear_error_and_loses_nothing(tls_broker: Broker, certs: Path,
                                                           prefix: str, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    wrong = KafkaSink(KafkaConfig(connection(tls_broker, certs, password="not-the-password"),
                                  topic_prefix=prefix, spool_dir=str(spool), stop_timeout=1))
    sensor = SensorThread(SensorConfig(areas=("process",)), sinks=[wrong]).start()
    try:
        run_execs(20)
        time.sleep(3)
        during = sensor.counters()["components"]["kafka"]
    finally:
        sensor.stop()
    collected = list(sensor.events)
    assert during["acknowledged"] == 0 and during["connected"] == 0
    assert during["errors"].get("KafkaConnectionError", 0) >= 1  # counted, and retried
    assert wrong.counters()["spooled"] == len(collected) > 0  # kept, not lost

    # The same spool with the right password: everything goes out.
    async def replay() -> dict[str, object]:
        async with KafkaSink(KafkaConfig(connection(tls_broker, certs), topic_prefix=prefix,
                                         spool_dir=str(spool))) as right:
            assert await right.wait_acknowledged(120)
            return right.counters()

    counters = asyncio.run(replay())
    assert counters["replayed"] == counters["acknowledged"] == len(collected)
    result = consume(tls_broker.tls_bootstrap, prefix, *tls_args(tls_broker, certs, "reader"))
    check_delivery(collected, result.events)

    # The consumer with a wrong password, or without the CA, says so and exits 1.
    bad = certs / "bad.password"
    bad.write_text("wrong\n")
    for args, expected in (
        (["--kafka-tls", "--kafka-ca", str(certs / "ca.pem"), "--kafka-sasl", "SCRAM-SHA-256",
          "--kafka-user", "reader", "--kafka-password-file", str(bad)], "Authentication failed"),
        (tls_args(tls_broker, certs, "reader", ca=False), "CERTIFICATE_VERIFY_FAILED"),
    ):
        proc = subprocess.run([*RINGSIDE, "consume", "--kafka", tls_broker.tls_bootstrap,
                               "--kafka-topic-prefix", prefix, "--timeout", "1", *args],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1, proc.stderr
        assert "cannot connect to Kafka" in proc.stderr
        assert expected in proc.stderr
        assert proc.stdout == ""
