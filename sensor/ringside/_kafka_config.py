"""How to reach the Kafka broker, and how the publisher behaves.

:class:`KafkaConnection` is shared by the publisher (``ringside run --kafka``)
and the consumer (``ringside consume``): bootstrap servers, TLS, SASL.
:class:`KafkaConfig` adds what only the publisher needs: topics, batching,
the spool.  Both check themselves (``validate``) and raise
:class:`ConfigError` with the option at fault in the message.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from typing import Any

from ._errors import ConfigError
from ._spool import FSYNC_POLICIES

CATEGORIES = ("process", "file", "tty")  # topic per category: the part of the event name before "."
COMPRESSIONS = ("zstd", "lz4", "gzip", "none")
SASL_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN")
HEADER_SCHEMA = "ringside-schema"  # record header: the value's schema version, as ASCII digits
HEADER_EVENT = "ringside-event"  # record header: the event name, e.g. process.exec


@dataclass
class KafkaConnection:
    """Where the brokers are and how to authenticate to them."""

    bootstrap: str = "127.0.0.1:9092"  # host:port[,host:port...]
    tls: bool = False
    ca_file: str | None = None  # CA bundle that signed the brokers' certificates
    cert_file: str | None = None  # client certificate (mutual TLS)
    key_file: str | None = None
    check_hostname: bool = True
    sasl_mechanism: str | None = None  # SCRAM-SHA-256 | SCRAM-SHA-512 | PLAIN
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_id: str = "ringside"

    def validate(self) -> None:
        servers = [s.strip() for s in self.bootstrap.split(",") if s.strip()]
        if not servers:
            raise ConfigError("--kafka needs HOST:PORT")
        for server in servers:
            host, sep, port = server.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(f"--kafka {server!r} is not HOST:PORT")
        for option, path in (("--kafka-ca", self.ca_file), ("--kafka-cert", self.cert_file),
                             ("--kafka-key", self.key_file)):
            if path is not None:
                if not self.tls:
                    raise ConfigError(f"{option} needs --kafka-tls")
                if not os.access(path, os.R_OK):
                    raise ConfigError(f"{option} {path}: cannot read it")
        if self.key_file and not self.cert_file:
            raise ConfigError("--kafka-key needs --kafka-cert")
        if self.sasl_mechanism is not None:
            if self.sasl_mechanism not in SASL_MECHANISMS:
                raise ConfigError(f"--kafka-sasl {self.sasl_mechanism!r}: choose from "
                                  f"{', '.join(SASL_MECHANISMS)}")
            if not self.username or self.password is None:
                raise ConfigError(f"--kafka-sasl {self.sasl_mechanism} needs --kafka-user and a "
                                  "password (--kafka-password-file or RINGSIDE_KAFKA_PASSWORD)")
            if self.sasl_mechanism == "PLAIN" and not self.tls:
                raise ConfigError("--kafka-sasl PLAIN sends the password in clear: add --kafka-tls")

    @property
    def security_protocol(self) -> str:
        if self.tls:
            return "SASL_SSL" if self.sasl_mechanism else "SSL"
        return "SASL_PLAINTEXT" if self.sasl_mechanism else "PLAINTEXT"

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        try:
            ctx = ssl.create_default_context(cafile=self.ca_file)
            if self.cert_file:
                ctx.load_cert_chain(self.cert_file, self.key_file)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"TLS settings for Kafka: {exc}") from exc
        ctx.check_hostname = self.check_hostname
        return ctx

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments every aiokafka client takes."""
        kw: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
            "ssl_context": self.ssl_context(),
        }
        if self.sasl_mechanism:
            kw.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.username,
                      sasl_plain_password=self.password)
        return kw


@dataclass
class KafkaConfig:
    """The publisher: topics, batching and the spool.  Defaults fit one host."""

    connection: KafkaConnection = field(default_factory=KafkaConnection)
    topic_prefix: str = "ringside."  # topics are <prefix>process, <prefix>file, <prefix>tty
    create_topics: bool = True  # create missing topics at connect
    partitions: int = 6
    replication: int = 1  # of created topics; raise it on a real cluster
    compression: str = "zstd"
    # Batching (tuned with benchmarks/bench_kafka.py): records of one partition
    # go in one Kafka batch of at most max_batch_bytes (uncompressed); the
    # sender takes up to chunk_records at a time, waiting linger_ms for more.
    max_batch_bytes: int = 512 << 10
    chunk_records: int = 8192
    linger_ms: float = 5.0
    in_flight_bytes: int = 16 << 20  # handed to the producer, not yet acknowledged
    request_timeout_ms: int = 30_000
    # Events not yet acknowledged are held in memory up to memory_bytes; past
    # that, they go to the spool (and to memory again once it has room).
    memory_bytes: int = 32 << 20
    spool_dir: str = "/var/lib/ringside/spool"
    spool_max_bytes: int = 1 << 30
    spool_segment_bytes: int = 16 << 20
    spool_fsync: str = "interval"
    spool_fsync_interval: float = 1.0
    stop_timeout: float = 10.0  # at stop, wait this long for acknowledgements; the rest is spooled

    def validate(self) -> None:
        self.connection.validate()
        if not self.topic_prefix or any(c not in _TOPIC_CHARS for c in self.topic_prefix):
            raise ConfigError(f"--kafka-topic-prefix {self.topic_prefix!r}: use letters, digits, "
                              "'.', '_' and '-'")
        if self.compression not in COMPRESSIONS:
            raise ConfigError(f"--kafka-compression {self.compression!r}: choose from "
                              f"{', '.join(COMPRESSIONS)}")
        if self.spool_fsync not in FSYNC_POLICIES:
            raise ConfigError(f"--kafka-spool-fsync {self.spool_fsync!r}: choose from "
                              f"{', '.join(FSYNC_POLICIES)}")
        for name in ("partitions", "replication", "max_batch_bytes", "chunk_records",
                     "in_flight_bytes", "request_timeout_ms", "memory_bytes",
                     "spool_max_bytes", "spool_segment_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"Kafka setting {name} must be positive")
        if self.spool_max_bytes < self.spool_segment_bytes:
            raise ConfigError("--kafka-spool-max-mib must hold at least one segment "
                              f"({self.spool_segment_bytes >> 20} MiB)")
        if self.linger_ms < 0 or self.stop_timeout < 0 or self.spool_fsync_interval <= 0:
            raise ConfigError("Kafka linger, stop timeout and fsync interval must not be negative")

    def topic(self, event: str) -> str:
        return self.topic_prefix + event.split(".", 1)[0]

    def topics(self) -> list[str]:
        return [self.topic_prefix + c for c in CATEGORIES]


_TOPIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
