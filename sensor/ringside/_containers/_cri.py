"""The Kubernetes CRI (runtime/v1) of containerd and cri-o, over gRPC on a unix socket.

grpcio carries the calls; the messages are encoded and decoded by field
number in ``_protobuf`` (no generated code).  Read: ``Version`` (which
runtime), ``ContainerStatus`` (one container) and ``ListContainers`` (what
exists, at start).  Kubernetes puts the pod's name, namespace and uid, and
the container's name in the spec, in the container's labels
(``io.kubernetes.*``), which the enricher reads.

Every gRPC failure comes out as :class:`EnrichmentError`; NOT_FOUND as
:class:`ContainerNotFound`.
"""

from __future__ import annotations

import os
from typing import Any

from . import _protobuf as pb
from ._model import ContainerInfo, ContainerNotFound, RuntimeFailure

CRI_SOCKETS = ("/run/containerd/containerd.sock", "/run/crio/crio.sock",
               "/var/run/containerd/containerd.sock", "/var/run/crio/crio.sock")

RUNTIME_SERVICE = "/runtime.v1.RuntimeService/"


def _passthrough(data: bytes) -> bytes:
    return data


class CriClient:
    """Calls to one CRI runtime.  ``runtime`` is ``containerd`` or ``cri-o`` once
    :meth:`version` has answered."""

    def __init__(self, socket_path: str, timeout: float = 2.0) -> None:
        self.socket = socket_path
        self.timeout = timeout
        self.runtime: str | None = None
        self._channel: Any = None
        self._grpc: Any = None

    def _ensure_channel(self) -> Any:
        if self._channel is None:
            # gRPC's fork handlers (on by default in grpcio's core, off in its
            # Python layer) can crash a child forked while gRPC threads run,
            # between fork and exec: seen here as a SIGSEGV in a subprocess of
            # a process that had talked to containerd.  Nothing in this
            # process uses a channel across a fork; children only exec.  Read
            # by grpc when it starts, so set before the import; an operator's
            # own setting wins.
            os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
            try:
                import grpc
                import grpc.aio
            except ImportError as exc:
                raise RuntimeFailure("the CRI needs grpcio (pip install grpcio); "
                                      f"{self.socket} is not asked", reason="no_client") from exc
            self._grpc = grpc
            # Made inside the running loop: grpc.aio binds a channel to it.
            self._channel = grpc.aio.insecure_channel(f"unix://{self.socket}")
        return self._channel

    async def call(self, method: str, request: bytes, timeout: float | None = None) -> bytes:
        """One unary RuntimeService call with raw message bytes (``method`` e.g. ``Version``)."""
        channel = self._ensure_channel()
        grpc = self._grpc
        rpc = channel.unary_unary(RUNTIME_SERVICE + method, request_serializer=_passthrough,
                                  response_deserializer=_passthrough)
        try:
            return bytes(await rpc(request, timeout=timeout or self.timeout))
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            detail = exc.details() or ""
            if code == grpc.StatusCode.NOT_FOUND:
                raise ContainerNotFound(f"CRI {self.socket}: {detail}") from exc
            if code == grpc.StatusCode.UNAVAILABLE:
                raise RuntimeFailure(f"CRI socket {self.socket} is unavailable "
                                      f"(missing, or refusing connections): {detail}",
                                     reason="socket_refused") from exc
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise RuntimeFailure(f"CRI socket {self.socket} did not answer {method} "
                                      f"within {timeout or self.timeout:g}s",
                                     reason="timeout") from exc
            raise RuntimeFailure(f"CRI socket {self.socket}: {method} failed with "
                                  f"{code.name}: {detail}", reason="rpc_error") from exc

    async def close(self) -> None:
        if self._channel is not None:
            channel, self._channel = self._channel, None
            await channel.close()

    async def version(self) -> str:
        """The runtime's name, normalized to the container block's runtimes."""
        # VersionRequest{1: version}; VersionResponse{2: runtime_name}
        raw = await self.call("Version", pb.string(1, "v1"))
        try:
            name = (pb.get_str(pb.parse(raw), 2) or "").lower()
        except pb.ProtoError as exc:
            raise RuntimeFailure(f"CRI socket {self.socket} answered garbage to Version: "
                                  f"{exc}", reason="garbage") from exc
        self.runtime = "cri-o" if "cri-o" in name or "crio" in name else (
            "containerd" if "containerd" in name else "other")
        return self.runtime

    async def inspect(self, container_id: str) -> ContainerInfo:
        # ContainerStatusRequest{1: container_id, 2: verbose}
        raw = await self.call("ContainerStatus", pb.string(1, container_id))
        try:
            # ContainerStatusResponse{1: status}
            status = pb.get_msg(pb.parse(raw), 1)
            if status is None:
                raise pb.ProtoError("no status in the answer")
            return _container_status(status, container_id)
        except pb.ProtoError as exc:
            raise RuntimeFailure(f"CRI socket {self.socket} answered garbage to "
                                  f"ContainerStatus: {exc}", reason="garbage") from exc

    async def running(self) -> list[ContainerInfo]:
        # ListContainersRequest{} -> ListContainersResponse{1: repeated Container}
        raw = await self.call("ListContainers", b"")
        try:
            return [_container(c) for c in pb.get_msgs(pb.parse(raw), 1)]
        except pb.ProtoError as exc:
            raise RuntimeFailure(f"CRI socket {self.socket} answered garbage to "
                                  f"ListContainers: {exc}", reason="garbage") from exc


def _image_id(image_id: str | None, image_ref: str | None) -> str | None:
    # image_id is newer (cri-api 1.31); before it, image_ref held the id or a digest.
    return image_id or image_ref or None


def _container_status(status: pb.Fields, asked: str) -> ContainerInfo:
    # ContainerStatus{1: id, 2: metadata{1: name}, 8: image{1: image}, 9: image_ref,
    #                 12: labels, 17: image_id}
    meta = pb.get_msg(status, 2) or {}
    image = pb.get_msg(status, 8) or {}
    return ContainerInfo(
        id=pb.get_str(status, 1) or asked,
        name=pb.get_str(meta, 1),
        image=pb.get_str(image, 1),
        image_id=_image_id(pb.get_str(status, 17), pb.get_str(status, 9)),
        labels=pb.get_map(status, 12),
    )


def _container(item: pb.Fields) -> ContainerInfo:
    # Container{1: id, 3: metadata{1: name}, 4: image{1: image}, 5: image_ref,
    #           8: labels, 10: image_id}
    meta = pb.get_msg(item, 3) or {}
    image = pb.get_msg(item, 4) or {}
    return ContainerInfo(
        id=pb.get_str(item, 1) or "",
        name=pb.get_str(meta, 1),
        image=pb.get_str(image, 1),
        image_id=_image_id(pb.get_str(item, 10), pb.get_str(item, 5)),
        labels=pb.get_map(item, 8),
    )
