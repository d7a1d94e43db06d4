"""Ringside's event models, for the sensor and for anyone who consumes its events.

Needs only pydantic and msgpack: a Kafka consumer installs this package and
calls :func:`decode` on each message value.  ``bcc`` is not needed.
"""

from ._common import (
    SCHEMA_VERSION,
    Clock,
    Container,
    EventBase,
    Host,
    Pod,
    Process,
    Sensor,
    WireContext,
    entity_id,
)
from ._events import EVENT_MODELS, Event
from .codec import decode, encode, validate
from .errors import MessageFormatError, SchemaError, WireFormatError
from .file import (
    FileChmod,
    FileChown,
    FileCreate,
    FileDelete,
    FileInfo,
    FileLink,
    FileModify,
    FileRename,
)
from .process import ForkChild, ProcessExec, ProcessExit, ProcessFork
from .tty import TtyInfo, TtyWrite

__all__ = [
    "EVENT_MODELS",
    "SCHEMA_VERSION",
    "Clock",
    "Container",
    "Event",
    "EventBase",
    "FileChmod",
    "FileChown",
    "FileCreate",
    "FileDelete",
    "FileInfo",
    "FileLink",
    "FileModify",
    "FileRename",
    "ForkChild",
    "Host",
    "MessageFormatError",
    "Pod",
    "Process",
    "ProcessExec",
    "ProcessExit",
    "ProcessFork",
    "SchemaError",
    "Sensor",
    "TtyInfo",
    "TtyWrite",
    "WireContext",
    "WireFormatError",
    "decode",
    "encode",
    "entity_id",
    "validate",
]
