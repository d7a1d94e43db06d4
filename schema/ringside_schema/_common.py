"""Blocks shared by every event, and the context decoders need."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1  # of the message layout; bumped on incompatible model changes

Tier = Literal["full", "reduced"]
M = TypeVar("M", bound=BaseModel)


class _Model(BaseModel):
    # Unknown keys from a newer sensor are ignored, so old consumers keep working.
    model_config = ConfigDict(extra="ignore")


class Host(_Model):
    """The machine an event happened on."""

    hostname: str
    id: str = Field(description="/etc/machine-id")
    boot_id: str = Field(description="/proc/sys/kernel/random/boot_id: changes at every boot")


class Sensor(_Model):
    """Which sensor run produced the event, and where it sits in that run's sequence."""

    instance: str = Field(description="unique per sensor start")
    tier: Tier = Field(description="full: kernel reads; reduced: tracepoint arguments and /proc")
    cpu: int = Field(description="CPU the event was recorded on")
    seq: int = Field(
        description="per-CPU sequence number; a gap for (host, instance, cpu) is a lost event"
    )


class Process(_Model):
    """The process that caused an event."""

    pid: int = Field(description="process id (thread group id), initial pid namespace")
    tid: int = Field(description="thread id")
    ppid: int | None = Field(description="parent process id")
    entity_id: str | None = Field(
        description="unique id of this process across pid reuse and reboots"
    )
    parent_entity_id: str | None
    start_ns: int | None = Field(description="process start, ns since boot")
    uid: int
    gid: int
    euid: int | None
    egid: int | None
    loginuid: int | None = Field(description="audit login uid; null when unset")
    session_id: int | None = Field(description="audit session id; null when unset")
    comm: str = Field(description="task name (at most 15 bytes)")
    executable: str | None = Field(description="absolute path of the program file")
    args: list[str] | None = Field(description="argv; on process.exec events only")
    args_truncated: bool = Field(description="argv was longer than 20 KiB and was cut")
    cwd: str | None = Field(description="working directory")
    tty: str | None = Field(description="controlling terminal, e.g. pts/3")
    cgroup_id: int = Field(description="cgroup v2 id (inode of the cgroup directory)")


class Pod(_Model):
    """Kubernetes identity of a container, from the CRI labels."""

    name: str | None
    namespace: str | None
    uid: str | None
    container_name: str | None


ContainerRuntime = Literal["docker", "containerd", "cri-o", "podman", "systemd-nspawn", "other"]


class Container(_Model):
    """The container an event came from; null on host processes."""

    id: str
    runtime: ContainerRuntime
    name: str | None
    image: str | None
    image_id: str | None
    labels: dict[str, str] | None
    pod: Pod | None
    metadata: Literal["complete", "pending", "unavailable"] = Field(
        description="complete: asked the runtime; pending: the answer came too late for "
        "this event; unavailable: the runtime could not be asked"
    )


class EventBase(_Model):
    """Fields every event has."""

    event: str
    timestamp: str = Field(description="RFC 3339, UTC, nanoseconds")
    ktime_ns: int = Field(description="kernel boot-time clock, ns; orders events on one host")
    host: Host
    sensor: Sensor
    process: Process
    container: Container | None
    truncated: list[str] | None = Field(
        description="dotted names of fields cut at their cap, e.g. process.args"
    )


_FIELDS_SET: dict[type[BaseModel], set[str]] = {}
# build() runs four times per event: it calls BaseModel's slot descriptors
# directly (a third faster than object.__setattr__ by name).
_new = object.__new__
_set_attr = object.__setattr__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def build(cls: type[M], values: dict[str, Any]) -> M:
    """A model instance from values the decoder produced itself, without validation.

    Validating every field of every event costs more than the rest of the
    pipeline together, and the values come from struct unpacking of a record
    whose every size the decoder has checked.  ``values`` must hold every
    field.  Tests round-trip decoded events through ``model_validate`` to
    prove this never builds what validation would refuse.
    """
    obj = _new(cls)
    _set_attr(obj, "__dict__", values)
    # One set per class, shared: it already names every field, so pydantic's
    # only change to it (adding a field on assignment) leaves it as it is.
    fields_set = _FIELDS_SET.get(cls)
    if fields_set is None:
        fields_set = _FIELDS_SET[cls] = set(cls.model_fields)
    _set_fields_set(obj, fields_set)
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


class Clock:
    """Turns kernel boot-time stamps into RFC 3339 wall-clock strings.

    The offset between the boot-time and real-time clocks is taken at start
    and again with :meth:`resync` (the wall clock can be stepped).  The
    seconds part of a timestamp is formatted once per second.
    """

    def __init__(self) -> None:
        self.offset_ns = 0
        self._sec = -1
        self._prefix = ""
        self.resync()

    def resync(self) -> None:
        self.offset_ns = time.clock_gettime_ns(time.CLOCK_REALTIME) - time.clock_gettime_ns(
            time.CLOCK_BOOTTIME
        )

    def wall_ns(self, ktime_ns: int) -> int:
        return ktime_ns + self.offset_ns

    def rfc3339(self, ktime_ns: int) -> str:
        sec, ns = divmod(ktime_ns + self.offset_ns, 1_000_000_000)
        if sec != self._sec:
            self._sec = sec
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return "%s.%09dZ" % (self._prefix, ns)  # noqa: UP031 - faster than an f-string here

    def _prefix_for(self, sec: int) -> str:
        if sec != self._sec:
            self._sec = sec
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return self._prefix


def format_ns(wall_ns: int, clock: Clock | None = None) -> str:
    sec, ns = divmod(wall_ns, 1_000_000_000)
    prefix = (
        clock._prefix_for(sec) if clock else time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    )
    return "%s.%09dZ" % (prefix, ns)  # noqa: UP031 - measurably faster than an f-string here


def entity_id(host_id: str, boot_id: str, pid: int, start_ns: int) -> str:
    """A process id unique across pid reuse and reboots: hash of host, boot, pid, start."""
    digest = hashlib.blake2b(
        f"{host_id}:{boot_id}:{pid}:{start_ns}".encode(), digest_size=12
    ).digest()
    return base64.urlsafe_b64encode(digest).decode()


class WireContext:
    """What decoders need besides the record: who we are, and the clock."""

    def __init__(self, host: Host, instance: str, clock: Clock | None = None,
                 tier: Tier = "full") -> None:
        self.host = host
        self.instance = instance
        self.clock = clock or Clock()
        self.tier: Tier = tier
        # Where a relative path without a directory from the kernel starts:
        # (pid, dirfd) -> directory.  The sensor's process table supplies it.
        self.resolve_dir: Callable[[int, int], str | None] | None = None
        self._ids: dict[tuple[int, int], str] = {}
        # Decoded process blocks by their raw bytes (see process.process_block).
        self.process_cache: dict[bytes, dict[str, Any]] = {}

    def sensor(self, cpu: int, seq: int) -> Sensor:
        return build(Sensor, {"instance": self.instance, "tier": self.tier, "cpu": cpu,
                              "seq": seq})

    def entity_id(self, pid: int, start_ns: int) -> str:
        key = (pid, start_ns)
        eid = self._ids.get(key)
        if eid is None:
            if len(self._ids) >= 65536:  # bounded: a long-running sensor sees many pids
                self._ids.clear()
            eid = self._ids[key] = entity_id(self.host.id, self.host.boot_id, pid, start_ns)
        return eid
