"""The container enricher: a pipeline stage that sets ``event.container``.

::

    ring reader ── cgroup mkdir/rmdir records ──> learn id -> path -> container,
        │                                         and ask the runtime at once
        ▼
    pump: process(batch)
        for each event: cgroup id ──dict──> entry (host, or a container) ─> event.container
        first sight of an id: path (cgroupfs) -> table of rules -> container id
        a container not yet answered for: wait at most `wait` seconds, once,
        then send the event with metadata "pending"
                                          ▲
    background: lookups (Engine API / CRI), the Engine API event stream,
                retries of runtimes that did not answer

Nothing here waits on a runtime inside the reader.  With a warm cache an
event costs one dict lookup and one attribute store.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ringside_schema import EventBase, wire
from ringside_schema._common import Container, Pod, build

from .._errors import ConfigError, EnrichmentError
from ._cgroupfs import CgroupFs, read_mounts
from ._cri import CRI_SOCKETS, CriClient
from ._engine import ENGINE_SOCKETS, EngineClient
from ._model import (
    CONTAINER_NAME,
    POD_NAME,
    POD_NAMESPACE,
    POD_UID,
    ContainerInfo,
    ContainerNotFound,
    RuntimeFailure,
)
from ._rules import DEFAULT_RULES, CgroupRule, CgroupTable, ContainerRef
from ._wire import CGROUP_OP_MKDIR, CGROUP_OP_RMDIR, CgroupChange, decode_cgroup

log = logging.getLogger(__name__)

PENDING, COMPLETE, UNAVAILABLE = "pending", "complete", "unavailable"
_NEVER = float("inf")
_LOG_EVERY = 30.0


@dataclass
class EnricherConfig:
    """How container metadata is found.  The defaults suit one host."""

    # Docker Engine API socket (Docker or Podman).  None: the first of
    # ENGINE_SOCKETS that exists, looked for again while none does; "": never ask.
    engine_socket: str | None = None
    # CRI socket (containerd or cri-o).  None: the first of CRI_SOCKETS; "": never ask.
    cri_socket: str | None = None
    # s the events of a container may wait for its first answer (once per container).
    # Podman and Docker hold a container's lock while they start it, and answer
    # nothing about it until then: 50-150 ms on this project's machine.
    wait: float = 0.25
    timeout: float = 2.0  # s for one runtime request
    ttl: float = 600.0  # s before a container's metadata is asked for again (in the background)
    retry_after: float = 3.0  # s before asking again a runtime that failed
    follow_events: bool = True  # learn containers from the Engine API event stream as they start
    rules: Sequence[CgroupRule] = ()  # tried before the built-in table
    # Per-process v1 cgroup paths, for runtimes that make no v2 cgroup (the v2 id
    # then names no container): auto = on only where no v2 hierarchy is mounted.
    # Hybrid hosts run runc >= 1.0, which joins the v2 hierarchy too.
    v1: str = "auto"  # auto | on | off
    cgroup_grace: float = 30.0  # s a removed cgroup stays known, for events still queued
    max_containers: int = 4096
    max_cgroups: int = 65536

    def validate(self) -> None:
        if self.v1 not in ("auto", "on", "off"):
            raise ConfigError(f"v1 must be auto, on or off, not {self.v1!r}")
        for name in ("wait", "timeout", "ttl", "retry_after", "cgroup_grace"):
            if getattr(self, name) < 0:
                raise ConfigError(f"container enrichment: {name} must not be negative")


class _Entry:
    """One container, shared by every cgroup id that maps to it."""

    __slots__ = ("answered", "expires", "id", "info", "model", "pod_uid", "removed", "runtime",
                 "state", "task", "waited")

    def __init__(self, ref: ContainerRef) -> None:
        self.id = ref.id
        self.runtime = ref.runtime
        self.pod_uid = ref.pod_uid
        self.info: ContainerInfo | None = None
        self.state = PENDING
        self.model: Container | None = None
        self.expires = 0.0
        self.task: asyncio.Task[None] | None = None
        self.waited = False  # a batch already waited for this lookup: do not wait again
        self.removed = False
        # Done at the first answer (a lookup, or the runtime's event): what events wait on.
        self.answered: asyncio.Future[None] | None = None


# Host cgroups map to this; its model is None (the event's container stays null).
_HOST = _Entry(ContainerRef("", "other", None, ""))
_HOST.expires = _NEVER
_HOST.state = COMPLETE


def _pod(labels: dict[str, str] | None, pod_uid: str | None) -> Pod | None:
    labels = labels or {}
    uid = labels.get(POD_UID) or pod_uid
    name = labels.get(POD_NAME)
    if uid is None and name is None:
        return None
    return build(Pod, {"name": name, "namespace": labels.get(POD_NAMESPACE), "uid": uid,
                       "container_name": labels.get(CONTAINER_NAME)})


class ContainerEnricher:
    """Stage: every event gets the container it came from (or null on the host).

    ``async with ContainerEnricher() as e`` works on its own (tests,
    benchmarks); in a sensor, pass it in ``stages`` and the sensor starts it.
    """

    name = "containers"
    bpf_areas = ("cgroup",)

    def __init__(self, config: EnricherConfig | None = None, *, fs: CgroupFs | None = None) -> None:
        self.config = config or EnricherConfig()
        self.config.validate()
        self.table = CgroupTable((*self.config.rules, *DEFAULT_RULES))
        self._fs = fs
        self._cgroups: dict[int, _Entry] = {}
        self._containers: dict[str, _Entry] = {}
        self._by_process: dict[str | int, _Entry] = {}  # entity id (or pid) -> v1 answer
        self._v1 = False
        self._expiring: deque[tuple[float, int]] = deque()
        self._engine: EngineClient | None = None
        self._cri: CriClient | None = None
        self._engine_up: bool | None = None
        self._last_discovery = -_NEVER
        self._tasks: set[asyncio.Task[Any]] = set()
        self._follower: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self._stopped = False
        self._last_log: dict[str, float] = {}
        self.stats: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    # ---- lifecycle ----

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._loop = asyncio.get_running_loop()
        if self._fs is None:
            self._fs = CgroupFs(read_mounts())
        mounts = self._fs.mounts
        if mounts.unified is None:
            log.warning("container metadata: no cgroup v2 hierarchy is mounted; containers "
                        "are found from /proc/<pid>/cgroup only")
        self._v1 = self.config.v1 == "on" or (self.config.v1 == "auto" and
                                              mounts.unified is None and bool(mounts.v1))
        self._discover(at_start=True)
        # In the background: a runtime that hangs must not hold up the sensor's start.
        self._spawn(self._probe())
        if self.config.follow_events:
            self._follower = asyncio.create_task(self._follow_engine_events(),
                                                 name="ringside-container-events")

    async def stop(self) -> None:
        if self._stopped or not self._started:
            return
        self._stopped = True
        tasks = [t for t in (self._follower, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._cri is not None:
            await self._cri.close()
        if self._fs is not None:
            self._fs.close()

    async def flush(self) -> None:
        """Wait (at most `timeout`) for lookups and the start-up probe in flight."""
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=self.config.timeout)

    async def __aenter__(self) -> ContainerEnricher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- runtimes ----

    def _discover(self, at_start: bool = False) -> None:
        """Pick the runtime sockets: configured, or the first that exists."""
        self._last_discovery = time.monotonic()
        cfg = self.config
        if self._engine is None and cfg.engine_socket != "":
            path = cfg.engine_socket or next((p for p in ENGINE_SOCKETS if os.path.exists(p)),
                                             None)
            if path is not None:
                self._engine = EngineClient(path, timeout=cfg.timeout)
                if not at_start:
                    log.warning("container metadata: runtime socket %s appeared", path)
        if self._cri is None and cfg.cri_socket != "":
            path = cfg.cri_socket or next((p for p in CRI_SOCKETS if os.path.exists(p)), None)
            if path is not None:
                self._cri = CriClient(path, timeout=cfg.timeout)
        if at_start and self._engine is None and self._cri is None:
            if cfg.engine_socket == "" and cfg.cri_socket == "":
                log.info("container metadata: no runtime is asked (both sockets set to ''); "
                         "events carry container ids and runtimes from cgroup paths")
                return
            looked = [*([cfg.engine_socket] if cfg.engine_socket else
                        [] if cfg.engine_socket == "" else ENGINE_SOCKETS),
                      *([cfg.cri_socket] if cfg.cri_socket else
                        [] if cfg.cri_socket == "" else CRI_SOCKETS)]
            log.warning("container metadata: no container runtime socket found (looked for "
                        "%s); events carry container ids and runtimes from cgroup paths, with "
                        "metadata \"unavailable\"", ", ".join(looked))

    async def _probe(self) -> None:
        """Say which runtimes answer, and learn the containers that already run."""
        for client in (self._engine, self._cri):
            if client is None:
                continue
            try:
                if isinstance(client, EngineClient):
                    flavor = await client.ping()
                else:
                    flavor = await client.version()
                running = await client.running()
            except EnrichmentError as exc:
                self._count_error(exc)
                log.warning("container metadata: %s; will keep trying every %gs", exc,
                            self.config.retry_after)
                if isinstance(client, EngineClient):
                    self._engine_up = False
                continue
            if isinstance(client, EngineClient):
                self._engine_up = True
            log.info("container metadata from %s (%s): %d containers running",
                     client.socket, flavor, len(running))
            runtime = flavor if isinstance(client, EngineClient) else (flavor or "other")
            for info in running:
                self._learn(info, runtime)

    def _client_for(self, runtime: str) -> EngineClient | CriClient | None:
        if (self._engine is None or self._cri is None) and \
                time.monotonic() - self._last_discovery >= self.config.retry_after:
            self._discover()
        if runtime in ("docker", "podman"):
            return self._engine
        if runtime in ("containerd", "cri-o", "cri"):
            return self._cri
        return None

    def _runtime_name(self, runtime: str) -> str:
        if runtime == "cri":
            return (self._cri.runtime if self._cri is not None and self._cri.runtime else "other")
        return runtime

    # ---- the kernel's cgroup records (on the reader: quick, never waits) ----

    def aux_handlers(self) -> dict[int, tuple[str, wire.Decoder, Any]]:
        return {wire.EVENT_AUX_CGROUP: ("cgroup", decode_cgroup, self.on_cgroup)}

    def on_cgroup(self, rec: CgroupChange) -> None:
        fs = self._fs
        if fs is None or rec.root != 0:
            return
        if rec.op == CGROUP_OP_MKDIR:
            # The reduced tier sends no path: resolve the id while the cgroup exists.
            path = rec.path if rec.path is not None else fs.path_of(rec.id)
            if path is None:
                self.stats["cgroup_mkdir_unresolved"] += 1
                return
            fs.learn(rec.id, path)
            self.stats["cgroup_mkdir"] += 1
            ref = self.table.match(path)
            if ref is not None:
                self.stats["containers_seen_at_mkdir"] += 1
                self._remember_cgroup(rec.id, self._entry_for(ref))
        elif rec.op == CGROUP_OP_RMDIR:
            self.stats["cgroup_rmdir"] += 1
            # Events of that cgroup may still be queued behind this record.
            self._expiring.append((time.monotonic() + self.config.cgroup_grace, rec.id))

    # ---- the stage ----

    async def process(self, events: list[EventBase]) -> list[EventBase]:
        now = time.monotonic()
        if self._expiring and self._expiring[0][0] <= now:
            self._expire(now)
        cgroups = self._cgroups
        waiting: list[tuple[EventBase, _Entry]] | None = None
        misses = host = 0
        for ev in events:
            proc = ev.process
            entry = cgroups.get(proc.cgroup_id)
            if entry is None:
                misses += 1
                entry = self._resolve(proc.cgroup_id)
            if entry is _HOST:
                if not self._v1:
                    host += 1
                    continue
                # Asked again at exec: runtimes move a process into the
                # container's cgroups, then exec the container's program.
                cached = self._by_process.get(proc.entity_id or proc.pid)
                entry = cached if cached is not None and ev.event != "process.exec" else \
                    self._resolve_v1(proc.pid, proc.entity_id, proc.parent_entity_id)
                if entry is _HOST:
                    host += 1
                    continue
            if entry.expires <= now and entry.task is None and not entry.removed:
                self._ask(entry)
            if entry.state == PENDING:
                if entry.answered is not None and not entry.waited:
                    if waiting is None:
                        waiting = []
                    waiting.append((ev, entry))
                else:
                    self.stats["events_sent_pending"] += 1
            ev.__dict__["container"] = entry.model
        stats = self.stats
        stats["events"] += len(events)
        stats["events_host"] += host
        stats["cgroup_cache_misses"] += misses
        stats["cgroup_cache_hits"] += len(events) - misses
        if waiting:
            await self._wait_for(waiting)
        return events

    async def _wait_for(self, waiting: list[tuple[EventBase, _Entry]]) -> None:
        futures = {entry.answered for _, entry in waiting if entry.answered is not None}
        began = time.monotonic()
        await asyncio.wait(futures, timeout=self.config.wait)
        self.stats["waits"] += 1
        self.stats["wait_us_total"] += int((time.monotonic() - began) * 1e6)
        for ev, entry in waiting:
            if entry.state == PENDING:
                entry.waited = True
                self.stats["events_sent_pending"] += 1
            ev.__dict__["container"] = entry.model

    # ---- cgroup ids to containers ----

    def _remember_cgroup(self, cgroup_id: int, entry: _Entry) -> None:
        cgroups = self._cgroups
        if len(cgroups) >= self.config.max_cgroups:
            for key in list(cgroups)[: self.config.max_cgroups // 8]:
                del cgroups[key]
        cgroups[cgroup_id] = entry

    def _resolve(self, cgroup_id: int) -> _Entry:
        assert self._fs is not None
        path = self._fs.path_of(cgroup_id)
        if path is None:
            # Gone before we saw it made (or no v2 hierarchy).  Ids are never
            # reused, so the answer stays right.
            self.stats["cgroup_unresolved"] += 1
            entry = _HOST
        else:
            ref = self.table.match(path)
            entry = _HOST if ref is None else self._entry_for(ref)
        self._remember_cgroup(cgroup_id, entry)
        return entry

    def _resolve_v1(self, pid: int, entity: str | None, parent: str | None) -> _Entry:
        """A process whose v2 cgroup names no container: its v1 paths may (runtimes
        that use only v1 hierarchies).  Read from /proc, so only while the process
        lives; one already gone is taken to be where its parent was."""
        assert self._fs is not None
        self.stats["v1_lookups"] += 1
        paths = self._fs.v1_paths(pid)
        entry = _HOST
        if not paths and parent is not None:
            entry = self._by_process.get(parent, _HOST)
        for path in paths:
            ref = self.table.match(path)
            if ref is not None:
                entry = self._entry_for(ref)
                break
        cache = self._by_process
        if len(cache) >= self.config.max_cgroups:
            for key in list(cache)[: self.config.max_cgroups // 8]:
                del cache[key]
        cache[entity or pid] = entry
        return entry

    def _entry_for(self, ref: ContainerRef) -> _Entry:
        entry = self._containers.get(ref.id)
        if entry is None:
            entry = self._new_entry(ref)
            self._ask(entry)
            return entry
        changed = False
        if ref.runtime != entry.runtime and ref.runtime != "cri":
            # The layout names the runtime; a container first learnt from a
            # socket was named after whatever serves that socket.
            entry.runtime, changed = ref.runtime, True
        if entry.pod_uid is None and ref.pod_uid is not None:
            entry.pod_uid, changed = ref.pod_uid, True
        if changed:
            self._rebuild(entry)
        return entry

    def _new_entry(self, ref: ContainerRef) -> _Entry:
        containers = self._containers
        if len(containers) >= self.config.max_containers:
            # Oldest first; cgroups that still point at one keep it alive.
            for key in list(containers)[: self.config.max_containers // 8]:
                del containers[key]
        entry = containers[ref.id] = _Entry(ref)
        if self._loop is not None:
            entry.answered = self._loop.create_future()
        self.stats["containers_learnt"] += 1
        self._rebuild(entry)
        return entry

    def _rebuild(self, entry: _Entry) -> None:
        """A new model for the entry's state; wakes events waiting for a first answer."""
        if entry.state != PENDING and entry.answered is not None:
            if not entry.answered.done():
                entry.answered.set_result(None)
            entry.answered = None
        info = entry.info
        entry.model = build(Container, {
            "id": entry.id,
            "runtime": self._runtime_name(entry.runtime),
            "name": info.name if info else None,
            "image": info.image if info else None,
            "image_id": info.image_id if info else None,
            "labels": info.labels if info else None,
            "pod": _pod(info.labels if info else None, entry.pod_uid),
            "metadata": entry.state,
        })

    # ---- asking the runtime (background tasks) ----

    def _spawn(self, coro: Any) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _ask(self, entry: _Entry) -> None:
        if self._stopped or self._loop is None:
            return
        client = self._client_for(entry.runtime)
        if client is None:
            # Nobody to ask: say so at once rather than make events wait.
            if entry.state != COMPLETE:
                entry.state = UNAVAILABLE
            self.stats["lookups_no_runtime"] += 1
            entry.expires = time.monotonic() + self.config.retry_after
            self._rebuild(entry)
            return
        entry.waited = False
        task = self._loop.create_task(self._lookup(entry, client))
        entry.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _lookup(self, entry: _Entry, client: EngineClient | CriClient) -> None:
        began = time.monotonic()
        self.stats["lookups"] += 1
        try:
            info = await client.inspect(entry.id)
            if info.image_id is None and info.image and isinstance(client, EngineClient):
                info.image_id = await client.image_id(info.image)
        except ContainerNotFound:
            self.stats["lookups_not_found"] += 1
            if entry.info is not None:
                # Gone already, but its start event told us who it was.
                await self._complete_from_event(entry, client)
            else:
                self._fail(entry)
        except EnrichmentError as exc:
            self._count_error(exc)
            self._log(str(exc), "container metadata: %s (container %s); events keep their "
                      "container id, metadata will be asked for again", exc, entry.id[:12])
            self._fail(entry)
        except Exception:
            self.errors["internal"] += 1
            log.exception("container metadata lookup for %s failed", entry.id[:12])
            self._fail(entry)
        else:
            entry.info = info
            entry.state = COMPLETE
            entry.expires = time.monotonic() + self.config.ttl
            self.stats["lookups_ok"] += 1
            self._rebuild(entry)
            if isinstance(client, EngineClient) and self._engine_up is False:
                self._on_engine_back(client)  # an answer: the socket is back
        finally:
            entry.task = None
            self.stats["lookup_us_total"] += int((time.monotonic() - began) * 1e6)

    async def _complete_from_event(self, entry: _Entry, client: EngineClient | CriClient) -> None:
        info = entry.info
        assert info is not None
        if info.image_id is None and info.image and isinstance(client, EngineClient):
            try:
                info.image_id = await client.image_id(info.image)
            except EnrichmentError as exc:
                self._count_error(exc)
        if entry.info is not info and entry.state == COMPLETE:
            return  # the container lookup answered meanwhile, with more
        entry.state = COMPLETE
        entry.expires = _NEVER if entry.removed else time.monotonic() + self.config.ttl
        self._rebuild(entry)

    def _fail(self, entry: _Entry) -> None:
        # What an earlier answer or the runtime's event said stays; with neither,
        # the container could not be asked about.
        if entry.state != COMPLETE and entry.info is None:
            entry.state = UNAVAILABLE
        entry.expires = time.monotonic() + self.config.retry_after
        self._rebuild(entry)

    def _count_error(self, exc: EnrichmentError) -> None:
        self.errors[getattr(exc, "reason", "other")] += 1

    def _log(self, key: str, msg: str, *args: object) -> None:
        now = time.monotonic()
        key = key[:60]
        if now - self._last_log.get(key, -_NEVER) >= _LOG_EVERY:
            if len(self._last_log) >= 256:
                self._last_log.clear()
            self._last_log[key] = now
            log.warning(msg, *args)

    def _learn(self, info: ContainerInfo, runtime: str) -> _Entry:
        """A container the runtime told us about (start-up list, event stream)."""
        entry = self._containers.get(info.id)
        if entry is None:
            entry = self._new_entry(ContainerRef(info.id, runtime, None, "runtime"))
        if entry.info is None or entry.state != COMPLETE:
            entry.info = info
            entry.state = COMPLETE
            entry.expires = time.monotonic() + self.config.ttl
            self._rebuild(entry)
        return entry

    # ---- the Engine API event stream ----

    async def _follow_engine_events(self) -> None:
        backoff = 0.25
        while True:
            client = self._engine
            if client is None:
                await asyncio.sleep(self.config.retry_after)
                self._discover()
                continue
            try:
                if client.flavor is None:
                    await client.ping()  # Docker or Podman: what its containers are called
                async for action, info in client.events():
                    if self._engine_up is not True:
                        self._on_engine_back(client)
                    backoff = 0.25
                    self._on_engine_event(client, action, info)
                raise RuntimeFailure(f"runtime socket {client.socket} ended its event stream",
                                     reason="connection_lost")
            except EnrichmentError as exc:
                self.stats["event_stream_errors"] += 1
                self._count_error(exc)
                if self._engine_up is not False:
                    log.warning("container metadata: %s; events keep their container ids, "
                                "names and images come back when it answers", exc)
                self._engine_up = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.config.retry_after)
            # Stream down: check whether the socket answers at all, to notice it coming back.
            try:
                await client.ping()
            except EnrichmentError:
                continue
            self._on_engine_back(client)

    def _on_engine_back(self, client: EngineClient) -> None:
        if self._engine_up is False:
            log.warning("container metadata: runtime socket %s answers again", client.socket)
        self._engine_up = True
        # Containers that could not be asked about: ask again now.
        for entry in list(self._containers.values()):
            if entry.state != COMPLETE and entry.task is None and \
                    entry.runtime in ("docker", "podman"):
                self._ask(entry)

    def _on_engine_event(self, client: EngineClient, action: str, info: ContainerInfo) -> None:
        self.stats["runtime_events"] += 1
        runtime = client.flavor or "docker"
        if action in ("create", "start"):
            entry = self._containers.get(info.id)
            if entry is None:
                entry = self._new_entry(ContainerRef(info.id, runtime, None, "runtime"))
            if entry.state != COMPLETE and entry.info is None:
                self.stats["containers_seen_at_create"] += 1
                entry.info = info
                # The event has the name, the image and the labels, not the image
                # id: one quick image lookup completes it.  The container lookup
                # (slower: the runtime holds the container's lock while it starts
                # it) still runs, and fills in the rest.
                self._spawn(self._complete_from_event(entry, client))
                if entry.task is None:
                    self._ask(entry)
        elif action in ("destroy", "remove"):
            entry = self._containers.get(info.id)
            if entry is not None:
                entry.removed = True
                entry.expires = _NEVER

    def _expire(self, now: float) -> None:
        expiring = self._expiring
        while expiring and expiring[0][0] <= now:
            _, cgroup_id = expiring.popleft()
            self._cgroups.pop(cgroup_id, None)
            if self._fs is not None:
                self._fs.forget(cgroup_id)

    def reset(self) -> None:
        """Forget every cgroup and container learnt so far (benchmarks, tests)."""
        self._cgroups.clear()
        self._containers.clear()
        self._by_process.clear()

    # ---- counters ----

    def counters(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.stats)
        out["errors"] = dict(self.errors)
        out["containers_known"] = len(self._containers)
        out["cgroups_known"] = len(self._cgroups)
        out["lookups_in_flight"] = sum(1 for e in self._containers.values() if e.task is not None)
        out["engine_socket"] = self._engine.socket if self._engine else None
        out["engine_answers"] = self._engine_up
        out["cri_socket"] = self._cri.socket if self._cri else None
        if self._fs is not None:
            out["cgroupfs_handle_lookups"] = self._fs.handle_lookups
            out["cgroupfs_scans"] = self._fs.scans
        return out
