"""Container metadata on events, from real containers on this machine.

Podman (runc, cgroupfs, our busybox image) answers the Docker Engine API;
containerd answers the CRI.  Each test starts real containers and checks the
container block on the events their processes caused against what the
runtime itself says.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ringside_schema import EventBase, FileCreate, ProcessExec

from tests.containers.conftest import (
    IMAGE,
    Containerd,
    PodmanService,
    podman_exec,
    podman_rm,
    podman_run,
    unique,
)
from tests.containers.cri import Cri
from tests.harness import SensorThread

pytestmark = pytest.mark.containers


def exec_of(args: list[str]) -> object:
    return lambda e: isinstance(e, ProcessExec) and e.process.args == args


def one(sensor: SensorThread, predicate: object, what: str, timeout: float = 20) -> EventBase:
    found = sensor.wait_for(predicate, timeout=timeout)  # type: ignore[arg-type]
    assert found, f"no event for {what}"
    return found[0]


def test_exec_in_container_carries_its_metadata(full_sensor: SensorThread,
                                                images: dict[str, str]) -> None:
    name = unique("exec")
    marker = uuid.uuid4().hex
    cid = podman_run(name, "/bin/sh", "-c", f"/bin/echo {marker}",
                     labels={"ringside.test": "exec", "team": "blue"})

    ev = one(full_sensor, exec_of(["/bin/echo", marker]), "the echo inside the container")
    c = ev.container
    assert c is not None
    assert c.id == cid and len(cid) == 64
    assert c.runtime == "podman"
    assert c.name == name
    assert c.image == IMAGE
    assert c.image_id is not None and c.image_id.removeprefix("sha256:") == images[IMAGE]
    assert c.labels == {"ringside.test": "exec", "team": "blue"}
    assert c.pod is None
    assert c.metadata == "complete"
    # The container's first process (the shell) is in the same container.
    shells = full_sensor.wait_for(
        lambda e: isinstance(e, ProcessExec) and e.container is not None
        and e.container.id == cid and e.process.comm == "sh")
    assert shells and shells[0].container == c


def test_short_lived_container_still_named(sensor: SensorThread,
                                           images: dict[str, str]) -> None:
    """`/bin/true` exits at once and --rm removes the container: its exec still says who."""
    name = unique("true")
    cid = podman_run(name, "/bin/true")

    found = sensor.wait_for(lambda e: isinstance(e, ProcessExec) and e.container is not None
                            and e.container.id == cid and e.process.args == ["/bin/true"])
    if not found:
        trues = [(e.process.args, e.process.cgroup_id, e.container) for e in sensor.events
                 if isinstance(e, ProcessExec) and e.process.comm == "true"]
        counters = sensor.counters()["components"]["containers"]
        pytest.fail(f"no exec of /bin/true in container {cid[:12]}; execs of true: "
                    f"{trues[-5:]}; enricher: {counters}")
    c = found[0].container
    assert c is not None
    assert (c.runtime, c.name, c.image, c.metadata) == ("podman", name, IMAGE, "complete")
    assert c.image_id is not None and c.image_id.removeprefix("sha256:") == images[IMAGE]
    assert found[0].sensor.tier == sensor.config.tier


def test_host_process_has_no_container(sensor: SensorThread) -> None:
    marker = uuid.uuid4().hex
    subprocess.run(["/bin/echo", marker], check=True, stdout=subprocess.DEVNULL)
    ev = one(sensor, exec_of(["/bin/echo", marker]), "the host's echo")
    assert ev.container is None
    assert ev.process.cgroup_id > 0


def test_file_create_in_container(full_sensor: SensorThread) -> None:
    # Full tier: the reduced tier cannot tell a creating open from a reopen
    # (FMODE_CREATED is a kernel read), so it has no file.create for touch.
    sensor = full_sensor
    name = unique("file")
    target = f"/tmp/created-{uuid.uuid4().hex}"
    cid = podman_run(name, "/bin/touch", target)

    found = sensor.wait_for(lambda e: isinstance(e, FileCreate) and e.file.path == target)
    assert found, f"no file.create of {target}"
    c = found[0].container
    assert c is not None
    assert (c.id, c.runtime, c.name, c.image, c.metadata) == \
        (cid, "podman", name, IMAGE, "complete")


def test_cri_container_from_real_containerd(full_sensor: SensorThread,
                                            containerd: Containerd,
                                            images: dict[str, str]) -> None:
    """A pod and container made through the CRI, as kubelet would (cgroupfs layout)."""
    marker = uuid.uuid4().hex
    uid = str(uuid.uuid4())

    async def run() -> tuple[str, str]:
        cri = Cri(str(containerd.socket))
        try:
            pod = await cri.run_pod("web", "shop", uid, f"/kubepods/besteffort/pod{uid}")
            cid = await cri.run_container(pod, "app", IMAGE,
                                          ["/bin/sh", "-c", f"/bin/echo {marker}"])
            return pod.id, cid
        finally:
            await cri.close()

    sandbox, cid = asyncio.run(run())
    try:
        ev = one(full_sensor, exec_of(["/bin/echo", marker]), "the echo in the CRI container")
    finally:
        async def remove() -> None:
            cri = Cri(str(containerd.socket))
            try:
                await cri.remove_pod(sandbox)
            finally:
                await cri.close()
        asyncio.run(remove())
    c = ev.container
    assert c is not None
    assert c.id == cid
    assert c.runtime == "containerd"
    assert c.name == "app"
    assert c.image == IMAGE
    assert c.image_id is not None and c.image_id.removeprefix("sha256:") == images[IMAGE]
    assert c.metadata == "complete"
    assert c.pod is not None
    assert (c.pod.name, c.pod.namespace, c.pod.uid, c.pod.container_name) == \
        ("web", "shop", uid, "app")


def test_v1_only_container_found_through_the_process(full_sensor: SensorThread) -> None:
    """A runtime that uses only v1 hierarchies: the v2 cgroup says nothing, the
    process's memory cgroup (docker's cgroupfs layout) says which container."""
    v1 = Path("/sys/fs/cgroup/memory")
    if not (v1 / "cgroup.procs").exists():
        pytest.fail("this test needs the v1 memory hierarchy at /sys/fs/cgroup/memory")
    cid = uuid.uuid4().hex + uuid.uuid4().hex
    group = v1 / "docker" / cid
    group.mkdir(parents=True)
    # v1 paths are read from /proc/<pid>/cgroup, so the process must still
    # live when its event is handled: it sleeps a little (a unique time, to find it).
    nap = f"2.{uuid.uuid4().int % 10**6:06d}"
    try:
        # The shell moves itself into the v1 group, then becomes sleep.
        subprocess.run(["/bin/sh", "-c", f"echo $$ > {group}/cgroup.procs && "
                        f"exec /bin/sleep {nap}"], check=True)
        ev = one(full_sensor, exec_of(["/bin/sleep", nap]), "the sleep in the v1 group")
    finally:
        group.rmdir()
        if not any(p.is_dir() for p in (v1 / "docker").iterdir()):
            (v1 / "docker").rmdir()
    c = ev.container
    assert c is not None
    assert (c.id, c.runtime) == (cid, "docker")
    # No Docker here: the socket we ask is Podman's, which does not know it.
    assert c.metadata == "unavailable" and c.name is None


def test_ringside_run_reports_containers(podman_service: PodmanService, tmp_path: Path) -> None:
    """The command, as a user runs it: container metadata is on by default."""
    out = tmp_path / "events.ndjson"
    cmd = [sys.executable, "-m", "ringside", "run", "--events", "process", "--duration", "60",
           "--output", str(out), "--docker-socket", str(podman_service.path),
           "--cri-socket", "", "--no-stats"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)

    def lines() -> list[dict[str, Any]]:
        if not out.exists():
            return []
        return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]

    def wait_line(predicate: Callable[[dict[str, Any]], bool],
                  poke: Callable[[], object] | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if poke is not None:
                poke()
            found = [x for x in lines() if predicate(x)]
            if found:
                return found[0]
            time.sleep(0.2)
        raise AssertionError("the expected event never came out of `ringside run`")

    try:
        ready = f"ready-{uuid.uuid4().hex}"
        host = wait_line(lambda x: x["process"]["args"] == ["/bin/echo", ready],
                         poke=lambda: subprocess.run(["/bin/echo", ready],
                                                     stdout=subprocess.DEVNULL))
        assert host["container"] is None
        name = unique("cli")
        marker = uuid.uuid4().hex
        cid = podman_run(name, "/bin/echo", marker)
        ev = wait_line(lambda x: x["process"]["args"] == ["/bin/echo", marker])
        assert ev["container"]["id"] == cid
        assert (ev["container"]["name"], ev["container"]["image"], ev["container"]["runtime"],
                ev["container"]["metadata"]) == (name, IMAGE, "podman", "complete")
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "no container runtime socket" not in stderr, stderr


def test_runtime_socket_stopped_mid_run(images: dict[str, str], tmp_path: Path) -> None:
    """Events keep flowing with the container id while the socket is down;
    names come back when it answers again."""
    from ringside import ContainerEnricher, EnricherConfig, SensorConfig

    svc = PodmanService(Path("/run/ringside-test") / f"outage-{os.getpid()}.sock")
    svc.start()
    enricher = ContainerEnricher(EnricherConfig(engine_socket=str(svc.path), cri_socket="",
                                                retry_after=0.5))
    sensor = SensorThread(SensorConfig(tier="full"), stages=[enricher]).start()
    name = unique("outage")
    try:
        svc.stop()
        assert not svc.answers()
        cid = podman_run(name, "/bin/sleep", "120", detach=True)
        podman_exec(name, "/bin/echo", "during")
        during = one(sensor, exec_of(["/bin/echo", "during"]), "the exec while the socket is down")
        c = during.container
        assert c is not None
        assert (c.id, c.runtime, c.name, c.metadata) == (cid, "podman", None, "unavailable")
        errors = sensor.counters()["components"]["containers"]["errors"]
        assert errors.get("socket_missing", 0) + errors.get("socket_refused", 0) > 0, errors

        svc.start()
        back = None
        for i in range(40):
            marker = f"after-{i}"
            podman_exec(name, "/bin/echo", marker)
            ev = one(sensor, exec_of(["/bin/echo", marker]), f"exec {marker}")
            assert ev.container is not None and ev.container.id == cid
            if ev.container.metadata == "complete":
                back = ev.container
                break
        assert back is not None, "metadata did not come back after the socket did"
        assert (back.name, back.image, back.runtime) == (name, IMAGE, "podman")
        counters = sensor.counters()["components"]["containers"]
        assert counters["engine_answers"] is True, counters
    finally:
        podman_rm(name)
        sensor.stop()
        svc.stop()
