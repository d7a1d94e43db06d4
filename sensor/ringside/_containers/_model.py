"""What a runtime says about a container, whichever API it came through."""

from __future__ import annotations

from dataclasses import dataclass

from .._errors import EnrichmentError

# The labels Kubernetes (kubelet, through any CRI runtime or cri-dockerd) puts
# on every container it makes.
POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
POD_UID = "io.kubernetes.pod.uid"
CONTAINER_NAME = "io.kubernetes.container.name"


@dataclass(slots=True)
class ContainerInfo:
    id: str
    name: str | None
    image: str | None
    image_id: str | None
    labels: dict[str, str] | None


class ContainerNotFound(EnrichmentError):
    """The runtime answered, and does not know the container (removed, or not its own)."""

    retriable = False


def clean_labels(raw: object) -> dict[str, str] | None:
    """Labels as the runtime gave them, if they are a map of strings; else None."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        return None
    return {str(k): str(v) for k, v in raw.items()}


class RuntimeFailure(EnrichmentError):
    """A runtime could not be asked, with a short reason for the counters:
    socket_missing, socket_refused, socket_error, timeout, connection_lost,
    garbage, http_error, rpc_error, no_client."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
