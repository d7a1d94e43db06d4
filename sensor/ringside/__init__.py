"""Ringside: an eBPF security and telemetry sensor for Linux.

The public surface is small: build a :class:`Sensor` from a
:class:`SensorConfig` and one or more sinks, and run it in an asyncio loop::

    async with Sensor(SensorConfig(areas=("process",)), sinks=[NdjsonSink(out)]) as s:
        await s.finished.wait()

To publish to Kafka instead (or as well), add
``KafkaSink(KafkaConfig(KafkaConnection("broker:9092")))`` to the sinks.

Event models live in the separate ``ringside_schema`` package, which needs
neither bcc nor root.
"""

from ._containers import CgroupRule, ContainerEnricher, EnricherConfig
from ._errors import (
    BpfLoadError,
    ConfigError,
    EnrichmentError,
    KernelSupportError,
    PublishError,
    RingsideError,
    SpoolFullError,
)
from ._kafka import KafkaSink
from ._kafka_config import KafkaConfig, KafkaConnection
from ._sensor import Sensor, SensorConfig, Stage
from ._sinks import CallbackSink, NdjsonSink, Sink

__version__ = "0.1.0"

__all__ = [
    "BpfLoadError",
    "CallbackSink",
    "CgroupRule",
    "ConfigError",
    "ContainerEnricher",
    "EnricherConfig",
    "EnrichmentError",
    "KafkaConfig",
    "KafkaConnection",
    "KafkaSink",
    "KernelSupportError",
    "NdjsonSink",
    "PublishError",
    "RingsideError",
    "Sensor",
    "SensorConfig",
    "Sink",
    "SpoolFullError",
    "Stage",
    "__version__",
]
