"""Errors raised while decoding Ringside data.

::

    SchemaError (ValueError)
    ├── WireFormatError      a raw ring-buffer record from the kernel is malformed
    └── MessageFormatError   a Kafka message value is not a Ringside event

Each carries a short ``reason`` (``"short"``, ``"version"``, ...), which the
sensor and ``ringside consume`` use as the label of the error counter.
"""

from __future__ import annotations


class SchemaError(ValueError):
    """Base of the decoding errors."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class WireFormatError(SchemaError):
    """A record from the kernel does not follow ``bpf/events.h``."""


class MessageFormatError(SchemaError):
    """A message is not a msgpack-encoded Ringside event of a known version."""
