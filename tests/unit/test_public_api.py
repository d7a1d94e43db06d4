"""The exported names are the ones we mean to export."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import ringside
import ringside_schema


def test_sensor_package_exports() -> None:
    assert set(ringside.__all__) >= {
        "Sensor", "SensorConfig", "Sink", "NdjsonSink", "CallbackSink", "Stage",
        "RingsideError", "ConfigError", "KernelSupportError", "BpfLoadError",
        "EnrichmentError", "PublishError", "SpoolFullError", "__version__",
    }
    assert all(hasattr(ringside, name) for name in ringside.__all__)
    assert len(set(ringside.__all__)) == len(ringside.__all__)


def test_schema_package_exports() -> None:
    assert {"Event", "EventBase", "Process", "ProcessExec", "ProcessExit", "ProcessFork",
            "decode", "encode", "validate", "SCHEMA_VERSION", "EVENT_MODELS",
            "WireFormatError", "MessageFormatError"} <= set(ringside_schema.__all__)
    assert all(hasattr(ringside_schema, name) for name in ringside_schema.__all__)
    assert len(set(ringside_schema.__all__)) == len(ringside_schema.__all__)


def test_errors_form_one_tree() -> None:
    for name in ("ConfigError", "KernelSupportError", "BpfLoadError", "EnrichmentError",
                 "PublishError", "SpoolFullError"):
        assert issubclass(getattr(ringside, name), ringside.RingsideError)
    assert ringside.PublishError.retriable and not ringside.ConfigError.retriable


def test_schema_works_without_bcc() -> None:
    # A Kafka consumer has no bcc: importing it must be impossible and unneeded.
    code = textwrap.dedent("""
        import sys
        sys.modules["bcc"] = None  # any `import bcc` now raises ImportError
        import ringside_schema as rs
        ev = rs.validate({
            "event": "process.exit", "timestamp": "2026-01-01T00:00:00.000000000Z",
            "ktime_ns": 1, "host": {"hostname": "h", "id": "m", "boot_id": "b"},
            "sensor": {"instance": "i", "tier": "full", "cpu": 0, "seq": 1},
            "process": {"pid": 1, "tid": 1, "ppid": 0, "entity_id": "e",
                        "parent_entity_id": None, "start_ns": 0, "uid": 0, "gid": 0,
                        "euid": 0, "egid": 0, "loginuid": None, "session_id": None,
                        "comm": "x", "executable": None, "args": None,
                        "args_truncated": False, "cwd": None, "tty": None, "cgroup_id": 1},
            "container": None, "truncated": None, "exit_code": 0, "exit_signal": None,
            "core_dumped": False, "duration_ns": 5})
        assert rs.decode(rs.encode(ev)) == ev
        assert "bcc" not in [m for m in sys.modules if sys.modules[m] is not None]
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
