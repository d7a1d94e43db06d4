"""Driving a CRI runtime the way kubelet does, for the tests: pods and containers.

Requests are built with the sensor's own protobuf helpers, field numbers
from k8s.io/cri-api runtime/v1.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ringside import EnrichmentError
from ringside._containers import _protobuf as pb
from ringside._containers._cri import CriClient

NODE = 2  # NamespaceMode.NODE: the host's network, so no CNI is needed
POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
POD_UID = "io.kubernetes.pod.uid"
CONTAINER_NAME = "io.kubernetes.container.name"


@dataclass
class Pod:
    id: str
    name: str
    namespace: str
    uid: str
    config: bytes


class Cri:
    def __init__(self, socket: str) -> None:
        self.client = CriClient(socket, timeout=60)

    async def close(self) -> None:
        await self.client.close()

    async def run_pod(self, name: str, namespace: str, uid: str, cgroup_parent: str) -> Pod:
        # PodSandboxConfig{1: metadata{1 name, 2 uid, 3 namespace}, 6: labels,
        #   8: linux{1: cgroup_parent,
        #            2: security_context{1: namespace_options{1 net, 2 pid, 3 ipc}}}}
        meta = pb.string(1, name) + pb.string(2, uid) + pb.string(3, namespace)
        ns_opts = pb.uint(1, NODE) + pb.uint(2, NODE) + pb.uint(3, NODE)
        linux = pb.string(1, cgroup_parent) + pb.message(2, pb.message(1, ns_opts))
        labels = {POD_NAME: name, POD_NAMESPACE: namespace, POD_UID: uid}
        config = pb.message(1, meta) + pb.string_map(6, labels) + pb.message(8, linux)
        raw = await self.client.call("RunPodSandbox", pb.message(1, config))
        sandbox_id = pb.get_str(pb.parse(raw), 1)
        assert sandbox_id
        return Pod(sandbox_id, name, namespace, uid, config)

    async def run_container(self, pod: Pod, name: str, image: str, command: list[str]) -> str:
        # ContainerConfig{1: metadata{1 name}, 2: image{1 image}, 3: command, 9: labels}
        labels = {POD_NAME: pod.name, POD_NAMESPACE: pod.namespace, POD_UID: pod.uid,
                  CONTAINER_NAME: name}
        config = (pb.message(1, pb.string(1, name)) + pb.message(2, pb.string(1, image))
                  + pb.repeated_string(3, command) + pb.string_map(9, labels))
        # CreateContainerRequest{1: pod_sandbox_id, 2: config, 3: sandbox_config}
        raw = await self.client.call("CreateContainer", pb.string(1, pod.id)
                                     + pb.message(2, config) + pb.message(3, pod.config))
        container_id = pb.get_str(pb.parse(raw), 1)
        assert container_id
        await self.client.call("StartContainer", pb.string(1, container_id))
        return container_id

    async def remove_pod(self, sandbox_id: str) -> None:
        # containerd 1.6 sometimes fails to stop a pod whose container has just
        # exited ("ttrpc: closed" from the departing shim); kubelet retries, so do we.
        for attempt in range(10):
            try:
                await self.client.call("StopPodSandbox", pb.string(1, sandbox_id))
                break
            except EnrichmentError:
                if attempt == 9:
                    raise
                await asyncio.sleep(0.5)
        await self.client.call("RemovePodSandbox", pb.string(1, sandbox_id))

    async def sandboxes(self) -> list[str]:
        # ListPodSandboxResponse{1: repeated PodSandbox{1: id}}
        raw = await self.client.call("ListPodSandbox", b"")
        return [pb.get_str(item, 1) or "" for item in pb.get_msgs(pb.parse(raw), 1)]
