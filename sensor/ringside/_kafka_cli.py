"""The Kafka options of ``ringside run`` and the ``ringside consume`` command.

Kept out of ``_cli.py`` so that the command line stays one short file; this
module only turns options into :class:`KafkaConfig` / :class:`ConsumeConfig`.
The password is never an option (it would show in ``ps``): it comes from
``--kafka-password-file`` or the ``RINGSIDE_KAFKA_PASSWORD`` variable.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

from ._argtypes import non_negative_float, number
from ._errors import ConfigError
from ._kafka_config import CATEGORIES, COMPRESSIONS, SASL_MECHANISMS, KafkaConfig, KafkaConnection
from ._spool import FSYNC_POLICIES

_whole_mib = number(int, positive=True, unit="MiB")


def _mib(text: str) -> int:
    return int(_whole_mib(text)) << 20


PASSWORD_ENV = "RINGSIDE_KAFKA_PASSWORD"


def _categories(text: str) -> tuple[str, ...]:
    cats = tuple(c.strip() for c in text.split(",") if c.strip())
    unknown = [c for c in cats if c not in CATEGORIES]
    if unknown or not cats:
        raise argparse.ArgumentTypeError(
            f"unknown event categories {', '.join(unknown) or '(none)'}: choose from "
            f"{', '.join(CATEGORIES)}")
    return cats


def _add_connection_options(parser: argparse.ArgumentParser, required: bool) -> None:
    group = parser.add_argument_group("Kafka connection")
    group.add_argument("--kafka", metavar="HOST:PORT", required=required,
                       help="bootstrap broker(s), comma-separated" +
                       ("" if required else ": publish every event to Kafka"))
    group.add_argument("--kafka-topic-prefix", default="ringside.", metavar="PREFIX",
                       help="topics are PREFIX + process, file, tty (default: ringside.)")
    group.add_argument("--kafka-tls", action="store_true", help="connect with TLS")
    group.add_argument("--kafka-ca", metavar="FILE",
                       help="CA certificates to verify the brokers with (default: the system's)")
    group.add_argument("--kafka-cert", metavar="FILE", help="client certificate (mutual TLS)")
    group.add_argument("--kafka-key", metavar="FILE", help="the client certificate's key")
    group.add_argument("--kafka-no-hostname-check", action="store_true",
                       help="accept a broker certificate issued for another name")
    group.add_argument("--kafka-sasl", choices=SASL_MECHANISMS, metavar="MECHANISM",
                       help=f"authenticate with SASL: {', '.join(SASL_MECHANISMS)}")
    group.add_argument("--kafka-user", metavar="NAME", help="SASL user name")
    group.add_argument("--kafka-password-file", metavar="FILE",
                       help=f"file holding the SASL password (or set {PASSWORD_ENV})")


def add_run_options(run: argparse.ArgumentParser) -> None:
    """``ringside run --kafka ...``."""
    _add_connection_options(run, required=False)
    group = run.add_argument_group("Kafka publishing")
    group.add_argument("--kafka-compression", choices=COMPRESSIONS, default="zstd",
                       help="batch compression (default: zstd)")
    group.add_argument("--kafka-linger-ms", type=non_negative_float, default=5.0, metavar="MS",
                       help="wait this long for more events to batch together (default: 5)")
    group.add_argument("--kafka-partitions", type=int, default=6, metavar="N",
                       help="partitions of the topics the sensor creates (default: 6)")
    group.add_argument("--kafka-replication", type=int, default=1, metavar="N",
                       help="replicas of the topics the sensor creates (default: 1)")
    group.add_argument("--kafka-no-create-topics", action="store_true",
                       help="do not create missing topics (the cluster or its operator does)")
    group.add_argument("--kafka-memory-mib", type=_mib, default=32 << 20, metavar="MIB",
                       help="unacknowledged events held in memory before spooling (default: 32)")
    group.add_argument("--kafka-spool-dir", default="/var/lib/ringside/spool", metavar="DIR",
                       help="where events wait while the broker is away "
                       "(default: /var/lib/ringside/spool)")
    group.add_argument("--kafka-spool-max-mib", type=_mib, default=1 << 30, metavar="MIB",
                       help="spool size limit; past it events are dropped and counted "
                       "(default: 1024)")
    group.add_argument("--kafka-spool-fsync", choices=FSYNC_POLICIES, default="interval",
                       help="always: every spool write; interval: every "
                       "--kafka-spool-fsync-interval s; never: the kernel decides "
                       "(default: interval)")
    group.add_argument("--kafka-spool-fsync-interval", type=non_negative_float, default=1.0,
                       metavar="S", help="default: 1")
    group.add_argument("--kafka-stop-timeout", type=non_negative_float, default=10.0, metavar="S",
                       help="at exit, wait this long for acknowledgements; what is left is "
                       "spooled for the next start (default: 10)")


def _password(args: argparse.Namespace) -> str | None:
    if args.kafka_password_file:
        try:
            with open(args.kafka_password_file) as f:
                return f.read().rstrip("\n")
        except OSError as exc:
            raise ConfigError(f"--kafka-password-file: {exc}") from exc
    return os.environ.get(PASSWORD_ENV)


def connection_from_args(args: argparse.Namespace, client_id: str) -> KafkaConnection:
    conn = KafkaConnection(
        bootstrap=args.kafka,
        tls=args.kafka_tls,
        ca_file=args.kafka_ca,
        cert_file=args.kafka_cert,
        key_file=args.kafka_key,
        check_hostname=not args.kafka_no_hostname_check,
        sasl_mechanism=args.kafka_sasl,
        username=args.kafka_user,
        password=_password(args) if args.kafka_sasl else None,
        client_id=client_id,
    )
    conn.validate()
    return conn


def kafka_config_from_args(args: argparse.Namespace) -> KafkaConfig | None:
    """The publisher's configuration, or None without ``--kafka``."""
    if not args.kafka:
        return None
    config = KafkaConfig(
        connection=connection_from_args(args, "ringside-sensor"),
        topic_prefix=args.kafka_topic_prefix,
        create_topics=not args.kafka_no_create_topics,
        partitions=args.kafka_partitions,
        replication=args.kafka_replication,
        compression=args.kafka_compression,
        linger_ms=args.kafka_linger_ms,
        memory_bytes=args.kafka_memory_mib,
        spool_dir=args.kafka_spool_dir,
        spool_max_bytes=args.kafka_spool_max_mib,
        spool_fsync=args.kafka_spool_fsync,
        spool_fsync_interval=args.kafka_spool_fsync_interval or 1.0,
        stop_timeout=args.kafka_stop_timeout,
    )
    config.validate()
    return config


def add_consume_parser(sub: Any) -> None:
    consume = sub.add_parser(
        "consume", help="read the sensor's events from Kafka and print NDJSON",
        description="Read the sensor's topics and print every event as one JSON line on "
        "stdout. Messages that are not Ringside events are reported on stderr (topic, "
        "partition, offset) and skipped; duplicates (same host, sensor instance, CPU and "
        "sequence number) are dropped and counted; gaps in a sensor's per-CPU sequence "
        "(lost events) are reported as they are found and in the summary at the end.")
    _add_connection_options(consume, required=True)
    consume.add_argument("--events", type=_categories, default=CATEGORIES, metavar="CATEGORIES",
                         help=f"comma-separated: {','.join(CATEGORIES)} (default: all)")
    consume.add_argument("--from-beginning", action="store_true",
                         help="start at the oldest message (default: only new ones)")
    consume.add_argument("--group", metavar="ID",
                         help="consumer group: offsets are committed, a restart goes on where "
                         "it stopped (default: none, nothing committed)")
    consume.add_argument("--max-events", type=int, metavar="N", help="stop after N events")
    consume.add_argument("--timeout", type=non_negative_float, metavar="S",
                         help="stop once no message arrived for S seconds")
    consume.add_argument("--gap-grace", type=non_negative_float, default=5.0, metavar="S",
                         help="report a hole in a sequence once it stayed open this long "
                         "(events of one sensor travel in several partitions; default: 5)")


def consume_command(args: argparse.Namespace) -> int:
    """Run ``ringside consume``; the exit status."""
    import asyncio

    import uvloop

    from ._consume import ConsumeConfig, consume

    config = ConsumeConfig(
        connection=connection_from_args(args, "ringside-consume"),
        topic_prefix=args.kafka_topic_prefix,
        categories=args.events,
        from_beginning=args.from_beginning,
        group=args.group,
        max_events=args.max_events,
        idle_timeout=args.timeout,
        gap_grace=args.gap_grace,
    )

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await consume(config, stop=stop)

    try:
        uvloop.run(run())
    except BrokenPipeError:
        # The reader went away (`| head`): not an error.  Point stdout at
        # /dev/null so that the flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
