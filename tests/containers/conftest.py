"""Real containers for the container tests: Podman (Engine API) and containerd (CRI).

Everything is set up here, idempotently, from what `deploy/setup.sh --test`
installs (podman, runc, containerd, busybox-static):

* an image imported from a one-binary busybox rootfs (no registry is reached);
* `podman system service` on a socket of our own, started and stopped by the
  tests (runc and cgroupfs: crun refuses this host's hybrid cgroups);
* a containerd of our own (own root, state and socket), whose CRI plugin runs
  pods with the host's network (no CNI here) and our image as the pause image.

Nothing is skipped: on a machine without these tools the tests fail and say
what to install.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from ringside import ContainerEnricher, EnricherConfig, SensorConfig

from tests.harness import SensorThread

IMAGE = "localhost/ringside-bbox:1"
PAUSE_IMAGE = "localhost/ringside-bbox-pause:1"
RUN_DIR = Path("/run/ringside-test")
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
# Raising rlimits is not permitted here; podman's defaults would raise them.
RUN_FLAGS = ["--network", "none", "--ulimit", "nofile=1024:1024",
             "--ulimit", "nproc=1024:1024"]
AREAS = ("process", "file")
APPLETS = ("sh", "true", "echo", "sleep", "cat", "touch", "ls")


def _require(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.fail(f"container tests need {', '.join(missing)}: run `bash deploy/setup.sh "
                    "--test` (installs podman, runc, containerd, busybox-static)")


def _run(cmd: list[str], timeout: float = 120, **kw: object) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)  # type: ignore[call-overload]
    if out.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr[-2000:]}")
    return out  # type: ignore[no-any-return]


def _rootfs_tar(dest: Path) -> Path:
    busybox = shutil.which("busybox")
    assert busybox is not None
    root = dest / "rootfs"
    (root / "bin").mkdir(parents=True, exist_ok=True)
    (root / "tmp").mkdir(exist_ok=True)
    shutil.copy2(busybox, root / "bin" / "busybox")
    for applet in APPLETS:
        link = root / "bin" / applet
        if not link.is_symlink():
            link.symlink_to("busybox")
    tar = dest / "rootfs.tar"
    with tarfile.open(tar, "w") as tf:
        tf.add(root, arcname=".")
    return tar


def _image_exists(name: str) -> bool:
    return subprocess.run([*PODMAN, "image", "exists", name]).returncode == 0


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The test image and the pause image (same rootfs, a command that waits): name -> id."""
    _require("podman", "runc", "busybox")
    info = subprocess.run([*PODMAN, "info", "--format", "{{.Host.CgroupManager}}"],
                          capture_output=True, text=True)
    if info.returncode != 0:
        pytest.fail(f"`podman info` fails here: {info.stderr[-1000:]}")
    tmp = tmp_path_factory.mktemp("image")
    tar = None
    for name, change in ((IMAGE, []), (PAUSE_IMAGE, ["--change", 'CMD ["/bin/sleep", "86400"]'])):
        if not _image_exists(name):
            tar = tar or _rootfs_tar(tmp)
            _run([*PODMAN, "import", *change, str(tar), name])
    return {name: _run([*PODMAN, "image", "inspect", "--format", "{{.Id}}", name]).stdout.strip()
            for name in (IMAGE, PAUSE_IMAGE)}


class PodmanService:
    """`podman system service` on a socket of its own; start() and stop() may repeat."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [*PODMAN, "system", "service", "--time=0", f"unix://{self.path}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.answers():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"podman system service exited with {self.proc.returncode}")
            time.sleep(0.1)
        raise AssertionError(f"podman system service did not answer on {self.path} in 30s")

    def answers(self) -> bool:
        """GET /_ping answers 200."""
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(2)
                sock.connect(str(self.path))
                sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
                return sock.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(15)
        self.proc = None


@pytest.fixture(scope="session")
def podman_service(images: dict[str, str]) -> Iterator[PodmanService]:
    svc = PodmanService(RUN_DIR / "podman.sock")
    svc.start()
    yield svc
    svc.stop()


class Containerd:
    """A containerd of our own whose CRI plugin can run pods here."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.socket = base / "containerd.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        b = self.base
        # Host-network pods need no CNI.  restrict_oom_score_adj: the pause
        # container's -998 is not permitted here (no CAP_SYS_RESOURCE).
        return f"""version = 2
root = "{b}/root"
state = "{b}/state"
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self.socket}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{b}/cni-bin"
    conf_dir = "{b}/cni-conf"
"""

    def start(self, tmp: Path) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        config = self.base / "config.toml"
        config.write_text(self.config())
        # One left by an interrupted session holds the root's lock: ours would wait on it.
        _stop_leftovers(["containerd", "--config", str(config)])
        self.socket.unlink(missing_ok=True)
        with open(self.base / "containerd.log", "wb") as log:
            self.proc = subprocess.Popen(["containerd", "--config", str(config)],
                                         stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 30
        while not self._ctr_ok():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError("containerd did not start: "
                                     + (self.base / "containerd.log").read_text()[-2000:])
            time.sleep(0.2)
        for name in (IMAGE, PAUSE_IMAGE):
            archive = tmp / (name.replace("/", "_").replace(":", "_") + ".tar")
            _run([*PODMAN, "save", "--format", "docker-archive", "-o", str(archive), name])
            _run(["ctr", "-a", str(self.socket), "-n", "k8s.io", "images", "import",
                  str(archive)])

    def _ctr_ok(self) -> bool:
        return self.socket.exists() and subprocess.run(
            ["ctr", "-a", str(self.socket), "version"], capture_output=True).returncode == 0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(20)
        self.proc = None


def _stop_leftovers(cmdline: list[str]) -> None:
    """Stop processes running exactly ``cmdline`` (and their sessions), with a warning."""
    want = "\0".join(cmdline).encode() + b"\0"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "cmdline").read_bytes() != want:
                continue
            pid = int(entry.name)
            os.killpg(os.getpgid(pid), signal.SIGTERM)
        except OSError:  # ProcessLookupError among them: gone already
            continue
        warnings.warn(f"stopped {cmdline[0]} (pid {pid}), left by an interrupted test session",
                      stacklevel=2)
        deadline = time.monotonic() + 20
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            if Path(f"/proc/{pid}").exists():
                os.killpg(os.getpgid(pid), signal.SIGKILL)


@pytest.fixture(scope="session")
def containerd(images: dict[str, str],
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containerd]:
    _require("containerd", "ctr")
    daemon = Containerd(RUN_DIR / "containerd")
    daemon.start(tmp_path_factory.mktemp("ctrd"))
    yield daemon
    # Pods left by a failed test: the CRI removes their containers with them.
    _cri_cleanup(daemon)
    daemon.stop()


def _cri_cleanup(daemon: Containerd) -> None:
    from tests.containers.cri import Cri

    async def clean() -> None:
        cri = Cri(str(daemon.socket))
        try:
            for sandbox in await cri.sandboxes():
                await cri.remove_pod(sandbox)
        finally:
            await cri.close()

    asyncio.run(clean())


def enricher_config(podman_service: PodmanService, cri_socket: str = "",
                    **kw: object) -> EnricherConfig:
    return EnricherConfig(engine_socket=str(podman_service.path), cri_socket=cri_socket,
                          **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def full_sensor(podman_service: PodmanService, containerd: Containerd) -> Iterator[SensorThread]:
    # v1="on": this host is hybrid, where v1 lookups are off by default; one test
    # needs them (a runtime that makes no v2 cgroup).
    enricher = ContainerEnricher(enricher_config(podman_service, str(containerd.socket),
                                                 v1="on"))
    sensor = SensorThread(SensorConfig(tier="full", areas=AREAS, require_all_areas=True),
                          stages=[enricher]).start()
    yield sensor
    sensor.stop()


@pytest.fixture(scope="session")
def reduced_sensor(podman_service: PodmanService) -> Iterator[SensorThread]:
    enricher = ContainerEnricher(enricher_config(podman_service))
    # Process events only: fewer events to handle keeps the reader close behind
    # the kernel, which the reduced tier needs (it resolves a new cgroup's path
    # while the cgroup exists; a /bin/true container's lives ~100 ms).
    sensor = SensorThread(SensorConfig(tier="reduced", areas=("process",),
                                       require_all_areas=True), stages=[enricher]).start()
    yield sensor
    sensor.stop()


@pytest.fixture(params=["full", "reduced"])
def sensor(request: pytest.FixtureRequest) -> SensorThread:
    return request.getfixturevalue(f"{request.param}_sensor")  # type: ignore[no-any-return]


def unique(prefix: str) -> str:
    return f"rs-{prefix}-{uuid.uuid4().hex[:8]}"


def podman_run(name: str, *cmd: str, labels: dict[str, str] | None = None,
               detach: bool = False, tmp: Path | None = None) -> str:
    """Run a container to completion (or detached); returns its full id."""
    cidfile = (tmp or Path("/tmp")) / f"{name}.cid"
    cidfile.unlink(missing_ok=True)
    flags = [f"--label={k}={v}" for k, v in (labels or {}).items()]
    if detach:
        flags.append("-d")
    else:
        flags.append("--rm")
    _run([*PODMAN, "run", *RUN_FLAGS, "--name", name, "--cidfile", str(cidfile), *flags,
          IMAGE, *cmd])
    cid = cidfile.read_text().strip()
    cidfile.unlink(missing_ok=True)
    return cid


def podman_exec(name: str, *cmd: str) -> None:
    _run([*PODMAN, "exec", name, *cmd])


def podman_rm(name: str) -> None:
    subprocess.run([*PODMAN, "rm", "-f", "-t", "0", name], capture_output=True)
