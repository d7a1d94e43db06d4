"""Events made here, validated by the models, for tests that need exact contents."""

from __future__ import annotations

from typing import Any

from ringside_schema import EVENT_MODELS, EventBase

HOST = {"hostname": "test-host", "id": "0123456789abcdef0123456789abcdef",
        "boot_id": "11111111-2222-3333-4444-555555555555"}


def exec_event(seq: int, cpu: int = 0, instance: str = "f" * 32, pid: int = 4242,
               ktime_ns: int = 10**12) -> EventBase:
    values: dict[str, Any] = {
        "event": "process.exec", "timestamp": "2026-01-01T00:00:00.000000000Z",
        "ktime_ns": ktime_ns + seq, "host": HOST,
        "sensor": {"instance": instance, "tier": "full", "cpu": cpu, "seq": seq},
        "process": {"pid": pid, "tid": pid, "ppid": 1, "entity_id": f"entity-{pid}",
                    "parent_entity_id": "entity-1", "start_ns": 5, "uid": 0, "gid": 0,
                    "euid": 0, "egid": 0, "loginuid": None, "session_id": None, "comm": "true",
                    "executable": "/usr/bin/true", "args": ["/bin/true", str(seq)],
                    "args_truncated": False, "cwd": "/", "tty": None, "cgroup_id": 1},
        "container": None, "truncated": None, "filename": "/bin/true",
    }
    return EVENT_MODELS["process.exec"].model_validate(values)  # type: ignore[no-any-return]
