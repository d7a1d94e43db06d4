"""Errors raised by the sensor.

Every error the sensor raises on purpose derives from :class:`RingsideError`.
Exceptions from bcc, aiokafka and the OS are translated where they cross into
the sensor (``raise BpfLoadError(...) from exc``), so callers catch one tree::

    RingsideError                 retriable = False unless noted
    ├── ConfigError               a wrong flag, option or configuration value
    ├── KernelSupportError        the kernel lacks what is needed (BTF, tracefs, a program type)
    ├── BpfLoadError              a BPF program failed to compile, verify or attach
    ├── EnrichmentError           a container runtime is missing, refuses or answers garbage
    │                             (retriable: the sensor keeps going and asks again later)
    └── PublishError              the Kafka broker refused or is unreachable (retriable)
        └── SpoolFullError        the on-disk spool is full: events are being dropped

Records from the kernel that do not decode raise
:class:`ringside_schema.WireFormatError` inside the decoder; the pipeline
counts them by reason and keeps going, so they never escape it.
"""

from __future__ import annotations


class RingsideError(Exception):
    """Base of every error the sensor raises."""

    retriable: bool = False


class ConfigError(RingsideError):
    """A command-line flag or configuration value is wrong."""


class KernelSupportError(RingsideError):
    """The running kernel does not offer something the sensor needs."""


class BpfLoadError(RingsideError):
    """A BPF program did not compile, did not pass the verifier, or did not attach."""


class EnrichmentError(RingsideError):
    """A container runtime could not be asked about a container."""

    retriable = True


class PublishError(RingsideError):
    """Events could not be handed to the Kafka broker."""

    retriable = True


class SpoolFullError(PublishError):
    """The on-disk spool reached its size limit; further events are dropped and counted."""

    retriable = False
