"""The publisher partitions like the Java client: murmur2 of the key, positive, modulo.

Checked against the Java code itself (the kafka-clients jar that came with
the broker), so a Java or librdkafka consumer that relies on the default
partitioner finds a process's events where it expects them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from ringside._kafka import _partition

from tests.kafka.broker import Broker

pytestmark = pytest.mark.kafka

JAVA = """
import org.apache.kafka.common.utils.Utils;
import java.nio.charset.StandardCharsets;

public class Partition {
    public static void main(String[] args) {
        int partitions = Integer.parseInt(args[0]);
        for (int i = 1; i < args.length; i++) {
            byte[] key = args[i].getBytes(StandardCharsets.UTF_8);
            System.out.println(Utils.toPositive(Utils.murmur2(key)) % partitions);
        }
    }
}
"""


def test_partitions_agree_with_the_java_client(broker: Broker, tmp_path: Path) -> None:
    classpath = broker.sh("classpath").stdout.strip()
    source = tmp_path / "Partition.java"
    source.write_text(JAVA)
    keys = ["", "a", "ab", "abc", "abcd", "abcde", "Fj3kx9-pQ0Zr_7aB", "host:1234",
            *(f"entity-{i}" for i in range(200)), "ünïcödé-κλειδί"]
    for partitions in (1, 6, 7, 64):
        java = subprocess.run(["java", "-cp", classpath, str(source), str(partitions), *keys],
                              capture_output=True, text=True, check=True, timeout=300)
        expected = [int(line) for line in java.stdout.split()]
        ours = [_partition(k.encode(), partitions) for k in keys]
        assert ours == expected, partitions
