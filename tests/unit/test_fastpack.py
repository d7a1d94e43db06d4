"""The C packer (``_fastpack.c``) writes the bytes msgpack's own packer writes.

The Kafka publisher packs every event with it; a consumer decodes the value
with msgpack.  Each test packs the same values both ways and compares bytes.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ringside._kafka_record import Encoder
from ringside._native import FASTPACK
from ringside_schema import EVENT_MODELS, EventBase, wire
from ringside_schema.codec import model_fields

from tests.kafka.events import exec_event
from tests.unit.test_decoder_fuzz import ctx, valid_records


@pytest.fixture(scope="module")
def fastpack() -> ModuleType:
    module = FASTPACK.load_extension()
    assert module is not None, f"{FASTPACK.path.name} is not built (make setup builds it)"
    module.configure(set(), model_fields)
    return module


def reference(value: Any) -> bytes:
    return msgpack.packb(value, default=model_fields, use_bin_type=True)  # type: ignore[no-any-return]


EDGES: list[Any] = [
    None, True, False, 0.0, -1.5, math.inf, 1e300,
    # every integer width, on both sides of each boundary
    0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1,
    -1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63),
    # every string and bytes header
    "", "a" * 31, "a" * 32, "a" * 255, "a" * 256, "a" * 65535, "a" * 65536, "é\u20ac\U0001f600",
    b"", b"x" * 255, b"x" * 256, b"x" * 65535, b"x" * 65536,
    # every array and map header
    [], [1] * 15, [1] * 16, [1] * 65535, [1] * 65536, (1, "a"),
    {}, {str(i): i for i in range(15)}, {str(i): i for i in range(16)},
    {str(i): i for i in range(65536)}, {"nested": {"list": [None, {"k": b"v"}]}},
]


@pytest.mark.parametrize("value", EDGES, ids=lambda v: type(v).__name__ + (
    f"[{len(v)}]" if hasattr(v, "__len__") else f"({v!r})"))
def test_every_header_and_width_packs_as_msgpack_does(fastpack: ModuleType, value: Any) -> None:
    assert fastpack.pack(value) == reference(value)


VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
    | st.text() | st.binary(),
    lambda inner: st.lists(inner, max_size=20) | st.dictionaries(st.text(), inner, max_size=20),
    max_leaves=60,
)


@settings(max_examples=500, deadline=None)
@given(VALUES)
def test_any_value_packs_as_msgpack_does(fastpack: ModuleType, value: Any) -> None:
    assert fastpack.pack(value) == reference(value)


@settings(max_examples=300, deadline=None)
@given(valid_records())
def test_decoded_events_pack_as_msgpack_does(fastpack: ModuleType, raw: bytes) -> None:
    event = wire.decode_record(raw, 0, len(raw), ctx())
    assert fastpack.pack(event.__dict__) == reference(event.__dict__)


def test_an_event_with_container_metadata_packs_as_msgpack_does(fastpack: ModuleType) -> None:
    values = exec_event(7).model_dump()
    values["container"] = {
        "id": "c" * 64, "runtime": "containerd", "name": "web", "image": "nginx:1",
        "image_id": "sha256:" + "0" * 64, "labels": {"app": "web", "tier": "front"},
        "pod": {"name": "web-0", "namespace": "prod", "uid": "u-1", "container_name": "web"},
        "metadata": "complete",
    }
    values["truncated"] = ["process.args"]
    event: EventBase = EVENT_MODELS["process.exec"].model_validate(values)
    packed = fastpack.pack(event.__dict__)
    assert packed == reference(event.__dict__)
    assert msgpack.unpackb(packed)["container"]["pod"]["namespace"] == "prod"


def test_what_msgpack_refuses_it_refuses(fastpack: ModuleType) -> None:
    with pytest.raises(TypeError, match="cannot serialize object"):
        fastpack.pack({"x": object()})
    with pytest.raises(OverflowError):
        fastpack.pack(2**64)
    with pytest.raises(OverflowError):
        fastpack.pack(-(2**63) - 1)
    with pytest.raises(UnicodeEncodeError):
        fastpack.pack("\udcff")  # a lone surrogate has no UTF-8 form
    deep: list[Any] = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(ValueError, match="nested too deep"):
        fastpack.pack(deep)
    # The buffer kept between calls is not left in a bad state by an error.
    assert fastpack.pack({"a": [1, 2]}) == reference({"a": [1, 2]})


def test_the_encoder_uses_it_and_makes_the_same_records() -> None:
    native, fallback = Encoder(native=True), Encoder(native=False)
    assert (native.packing, fallback.packing) == ("C", "Python")
    events = [exec_event(seq) for seq in range(50)]
    fast, fast_bytes = native.records(events)
    slow, slow_bytes = fallback.records(events)
    assert [r.value for r in fast] == [r.value for r in slow]
    assert [(r.event, r.key, r.ktime_ns) for r in fast] == [(r.event, r.key, r.ktime_ns)
                                                            for r in slow]
    assert fast_bytes == slow_bytes == sum(len(r.value) for r in fast)
