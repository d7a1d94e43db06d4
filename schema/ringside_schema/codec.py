"""Events as Kafka message values: msgpack maps with the models' field names.

``encode`` writes what the sensor publishes; ``decode`` validates a value
against the models and is what a consumer calls on every message it reads.
"""

from __future__ import annotations

from typing import Any

import msgpack
from pydantic import BaseModel, TypeAdapter, ValidationError

from ._events import Event
from .errors import MessageFormatError

_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


# The model types model_fields has met; the sensor's C packer reads it too.
MODEL_TYPES: set[type] = set()


def model_fields(obj: Any) -> dict[str, Any]:
    """Serializer hook: a nested model becomes the dict of its fields.

    Called once per nested model of every event, so it avoids isinstance():
    pydantic models have an ABCMeta metaclass, whose checks cost ~1 us each.
    """
    cls = type(obj)
    if cls in MODEL_TYPES:
        return obj.__dict__  # type: ignore[no-any-return]
    if issubclass(cls, BaseModel):
        MODEL_TYPES.add(cls)
        return obj.__dict__  # type: ignore[no-any-return]
    raise TypeError(f"cannot serialize {cls.__name__}")


def encode(event: BaseModel) -> bytes:
    """msgpack bytes of an event (nested models become maps)."""
    packed: bytes = msgpack.packb(event.__dict__, default=model_fields, use_bin_type=True)
    return packed


def decode(value: bytes) -> Event:
    """The event in a message value; :class:`MessageFormatError` if it is not one."""
    try:
        data = msgpack.unpackb(value, raw=False, strict_map_key=True)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise MessageFormatError("msgpack", f"not a msgpack value: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        raise MessageFormatError("shape", "not a map with an 'event' name")
    return validate(data)


def validate(data: dict[str, Any]) -> Event:
    """A dict (from msgpack or JSON) validated into its event model."""
    try:
        return _EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise MessageFormatError("invalid", f"{where}: {first['msg']}") from exc
