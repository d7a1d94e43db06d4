"""Container metadata for events: cgroup id -> cgroup path -> container -> runtime API.

See docs/containers.md.  The pieces:

* ``_rules``     the table of cgroup path layouts (user-extensible)
* ``_cgroupfs``  cgroup ids to paths through the mounted hierarchies
* ``_engine``    the Docker Engine API (Docker, Podman) over a unix socket
* ``_cri``       the Kubernetes CRI (containerd, cri-o) over gRPC
* ``_enricher``  the pipeline stage that ties them together
"""

from ._cgroupfs import CgroupFs, Mounts, read_mounts
from ._cri import CRI_SOCKETS, CriClient
from ._engine import ENGINE_SOCKETS, EngineClient
from ._enricher import ContainerEnricher, EnricherConfig
from ._model import ContainerInfo, ContainerNotFound
from ._rules import DEFAULT_RULES, CgroupRule, CgroupTable, ContainerRef, parse_rule
from ._wire import AUX_CGROUP, CgroupChange, decode_cgroup

__all__ = [
    "AUX_CGROUP",
    "CRI_SOCKETS",
    "DEFAULT_RULES",
    "ENGINE_SOCKETS",
    "CgroupChange",
    "CgroupFs",
    "CgroupRule",
    "CgroupTable",
    "ContainerEnricher",
    "ContainerInfo",
    "ContainerNotFound",
    "ContainerRef",
    "CriClient",
    "EngineClient",
    "EnricherConfig",
    "Mounts",
    "decode_cgroup",
    "parse_rule",
    "read_mounts",
]
