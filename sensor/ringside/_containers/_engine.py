"""The Docker Engine API, as Docker and Podman both serve it on a unix socket.

Used: ``GET /_ping`` (is it there, and is it Podman), ``GET /containers/json`` (what runs now,
at start), ``GET /containers/<id>/json`` (one container),
``GET /images/<name>/json`` (an image's id, when the container is already
gone) and ``GET /events`` (containers as they are created, for short-lived
ones).  Paths carry no API version: both servers then answer with their
own, and every field read here has been in the API since 1.24.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from ._http import UnixHttp
from ._model import ContainerInfo, ContainerNotFound, RuntimeFailure, clean_labels

# Unix sockets tried, in order, when none is configured.
ENGINE_SOCKETS = ("/run/docker.sock", "/var/run/docker.sock", "/run/podman/podman.sock")

# Attributes of an event's Actor that are not container labels.
_NOT_LABELS = frozenset({"name", "image", "exitCode", "containerExitCode", "podId", "signal",
                         "execID", "execDuration"})

_EVENTS_FILTER = quote(json.dumps({"type": ["container"],
                                   "event": ["create", "start", "destroy", "remove"]}))


class EngineClient:
    """Docker Engine API client; ``flavor`` says which server answered (docker or podman)."""

    def __init__(self, socket_path: str, timeout: float = 2.0) -> None:
        self.socket = socket_path
        self.http = UnixHttp(socket_path, timeout=timeout)
        self.flavor: str | None = None  # learnt from /_ping

    async def _json(self, target: str) -> Any:
        resp = await self.http.get(target)
        if resp.status == 404:
            raise ContainerNotFound(f"{self.socket}: {target} not found")
        if resp.status != 200:
            raise RuntimeFailure(f"runtime socket {self.socket}: GET {target} answered "
                                  f"{resp.status} {resp.reason}: {resp.body[:200]!r}",
                                 reason="http_error")
        try:
            return json.loads(resp.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RuntimeFailure(f"runtime socket {self.socket} answered garbage to GET "
                                  f"{target}: not JSON ({resp.body[:60]!r})",
                                 reason="garbage") from exc

    async def ping(self) -> str:
        """Which server this is, ``docker`` or ``podman``; raises if it does not answer.

        ``/_ping`` is the cheapest call both serve (``/version`` makes Podman
        gather host facts: 0.4 s here); Podman marks its answers with a
        ``Libpod-Api-Version`` header.
        """
        resp = await self.http.get("/_ping")
        if resp.status != 200:
            raise RuntimeFailure(f"runtime socket {self.socket}: GET /_ping answered "
                                 f"{resp.status} {resp.reason}", reason="http_error")
        if resp.body.strip() != b"OK":
            raise RuntimeFailure(f"runtime socket {self.socket} answered garbage to /_ping: "
                                 f"{resp.body[:60]!r}", reason="garbage")
        self.flavor = "podman" if "libpod-api-version" in resp.headers else "docker"
        return self.flavor

    async def inspect(self, container_id: str) -> ContainerInfo:
        data = await self._json(f"/containers/{quote(container_id, safe='')}/json")
        try:
            config = data.get("Config") or {}
            name = data.get("Name")
            return ContainerInfo(
                id=str(data["Id"]),
                name=str(name).lstrip("/") if name else None,
                image=_str(config.get("Image")),
                image_id=_str(data.get("Image")),
                labels=clean_labels(config.get("Labels")),
            )
        except (AttributeError, KeyError, TypeError) as exc:
            raise RuntimeFailure(f"runtime socket {self.socket} answered garbage for "
                                  f"container {container_id[:12]}: {exc!r}",
                                 reason="garbage") from exc

    async def image_id(self, image: str) -> str | None:
        try:
            data = await self._json(f"/images/{quote(image, safe='')}/json")
        except ContainerNotFound:
            return None
        return _str(data.get("Id")) if isinstance(data, dict) else None

    async def running(self) -> list[ContainerInfo]:
        data = await self._json("/containers/json")
        if not isinstance(data, list):
            raise RuntimeFailure(f"runtime socket {self.socket} answered garbage to "
                                  "/containers/json: not a list", reason="garbage")
        out = []
        for item in data:
            if not isinstance(item, dict) or "Id" not in item:
                continue
            names = item.get("Names") or []
            out.append(ContainerInfo(
                id=str(item["Id"]),
                name=str(names[0]).lstrip("/") if names else None,
                image=_str(item.get("Image")),
                image_id=_str(item.get("ImageID")),
                labels=clean_labels(item.get("Labels")),
            ))
        return out

    async def events(self) -> AsyncIterator[tuple[str, ContainerInfo]]:
        """(action, what the event says) for container create/start/destroy/remove."""
        async for line in self.http.stream_lines(f"/events?filters={_EVENTS_FILTER}"):
            try:
                ev = json.loads(line)
                action = str(ev.get("Action") or ev.get("status") or "")
                actor = ev.get("Actor") or {}
                attrs = actor.get("Attributes") or {}
                cid = str(actor.get("ID") or ev.get("id") or "")
            except (ValueError, AttributeError, TypeError) as exc:
                raise RuntimeFailure(f"runtime socket {self.socket} sent garbage on its "
                                      f"event stream: {line[:80]!r}", reason="garbage") from exc
            if not cid or (ev.get("Type") or ev.get("type") or "container") != "container":
                continue
            yield action, ContainerInfo(
                id=cid,
                name=_str(attrs.get("name")),
                image=_str(attrs.get("image") or ev.get("from")),
                image_id=None,
                labels={str(k): str(v) for k, v in attrs.items() if k not in _NOT_LABELS},
            )


def _str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None
