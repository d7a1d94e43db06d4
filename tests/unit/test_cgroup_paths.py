"""The cgroup path table, on paths as each runtime lays them out.

Samples follow the layouts the runtimes and kubelet write (systemd and
cgroupfs drivers, rootless, nested); the ones from this machine were taken
from /proc/<pid>/cgroup of real containers (podman with runc and cgroupfs,
containerd's CRI with the cgroupfs driver).
"""

from __future__ import annotations

import pytest
from ringside import ConfigError
from ringside._containers import DEFAULT_RULES, CgroupRule, CgroupTable, parse_rule
from ringside._containers._rules import table_with

ID = "3f4e1a2b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
ID2 = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
UID = "0f5d3c1a-8a2b-4c6e-9f1d-2b3c4d5e6f70"
UID_ = UID.replace("-", "_")

# path -> (container id, runtime, pod uid, rule)
MATCHES = {
    # Docker, systemd driver (cgroup v2 hosts, and the name=systemd hierarchy)
    f"/system.slice/docker-{ID}.scope": (ID, "docker", None, "docker-systemd"),
    # Docker, cgroupfs driver
    f"/docker/{ID}": (ID, "docker", None, "docker-cgroupfs"),
    # rootless Docker, under the user's systemd instance
    f"/user.slice/user-1000.slice/user@1000.service/app.slice/docker-{ID}.scope":
        (ID, "docker", None, "docker-systemd"),
    # Podman with cgroupfs (this machine: runc, cgroupfs manager)
    f"/libpod_parent/libpod-{ID}": (ID, "podman", None, "podman"),
    # Podman with systemd, and with --cgroups=split (the container in a sub-cgroup)
    f"/machine.slice/libpod-{ID}.scope": (ID, "podman", None, "podman"),
    f"/machine.slice/libpod-{ID}.scope/container": (ID, "podman", None, "podman"),
    # Podman pod members sit in the pod's slice
    f"/machine.slice/machine-libpod_pod_{ID2}.slice/libpod-{ID}.scope":
        (ID, "podman", None, "podman"),
    # rootless Podman
    f"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope":
        (ID, "podman", None, "podman"),
    # Kubernetes + containerd, systemd driver, every QoS class
    f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/"
    f"cri-containerd-{ID}.scope": (ID, "containerd", UID, "kubepods-systemd-containerd"),
    f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice/"
    f"cri-containerd-{ID}.scope": (ID, "containerd", UID, "kubepods-systemd-containerd"),
    f"/kubepods.slice/kubepods-pod{UID_}.slice/cri-containerd-{ID}.scope":
        (ID, "containerd", UID, "kubepods-systemd-containerd"),
    # Kubernetes + cri-o, systemd driver
    f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/"
    f"crio-{ID}.scope": (ID, "cri-o", UID, "kubepods-systemd-crio"),
    # Kubernetes + cri-dockerd, systemd driver
    f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/"
    f"docker-{ID}.scope": (ID, "docker", UID, "kubepods-systemd-docker"),
    # Kubernetes, cgroupfs driver (this machine: containerd's CRI, besteffort)
    f"/kubepods/besteffort/pod{UID}/{ID}": (ID, "cri", UID, "kubepods-cgroupfs"),
    f"/kubepods/burstable/pod{UID}/{ID}": (ID, "cri", UID, "kubepods-cgroupfs"),
    f"/kubepods/pod{UID}/{ID}": (ID, "cri", UID, "kubepods-cgroupfs"),
    # cri-o with the cgroupfs driver names the id
    f"/kubepods/burstable/pod{UID}/crio-{ID}": (ID, "cri-o", UID, "kubepods-cgroupfs-crio"),
    # containerd's CRI outside a pod slice, nerdctl
    f"/system.slice/cri-containerd-{ID}.scope": (ID, "containerd", None, "containerd-systemd"),
    f"/system.slice/nerdctl-{ID}.scope": (ID, "containerd", None, "nerdctl-systemd"),
    # cri-o outside a pod slice
    f"/system.slice/crio-{ID}.scope": (ID, "cri-o", None, "crio"),
    # systemd-nspawn, with systemd's escaping of '-'
    r"/machine.slice/systemd-nspawn@debian\x2dbox.service":
        ("debian-box", "systemd-nspawn", None, "systemd-nspawn"),
    "/machine.slice/systemd-nspawn@web.service/payload":
        ("web", "systemd-nspawn", None, "systemd-nspawn"),
    # LXC 4+
    "/lxc.payload.web01": ("web01", "other", None, "lxc"),
    "/lxc.payload.web01/system.slice/cron.service": ("web01", "other", None, "lxc"),
    # Nested: the outermost container is the one the host's runtime can name.
    f"/docker/{ID}/docker/{ID2}": (ID, "docker", None, "docker-cgroupfs"),
    # kind: a Kubernetes node in a Docker container, pods inside it
    f"/system.slice/docker-{ID}.scope/kubelet.slice/kubelet-kubepods.slice/"
    f"kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod{UID_}.slice/"
    f"cri-containerd-{ID2}.scope": (ID, "docker", None, "docker-systemd"),
    f"/docker/{ID}/kubepods/besteffort/pod{UID}/{ID2}": (ID, "docker", None, "docker-cgroupfs"),
    # a cgroup made inside a container (a nested cgroup namespace's own sub-tree)
    f"/machine.slice/libpod-{ID}.scope/init.scope": (ID, "podman", None, "podman"),
}

NOT_CONTAINERS = [
    "/",
    "",
    "/init.scope",
    "/system.slice/docker.service",
    "/system.slice/docker.socket",
    "/system.slice/containerd.service",
    "/system.slice/crio.service",
    "/system.slice/podman.service",
    "/user.slice/user-1000.slice/session-3.scope",
    "/user.slice/user-1000.slice/user@1000.service/app.slice/dbus.service",
    # the runtimes' monitors, next to their containers
    f"/machine.slice/libpod-conmon-{ID}.scope",
    f"/libpod_parent/libpod-conmon-{ID}",
    f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/"
    f"crio-conmon-{ID}.scope",
    f"/system.slice/crio-conmon-{ID}.scope",
    "/libpod_parent/conmon",
    # pod-level cgroups: a pod, not a container
    f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice",
    f"/kubepods/burstable/pod{UID}",
    "/kubepods/burstable",
    "/kubepods.slice",
    "/machine.slice",
    # mount and service units named after containers
    f"/system.slice/run-docker-runtime\\x2drunc-moby-{ID}.mount",
    f"/system.slice/var-lib-docker-overlay2-{ID}-merged.mount",
    # ids of the wrong length or case, or under the wrong parent
    f"/docker/{ID[:-1]}",
    f"/docker/{ID}0",
    f"/docker/{ID.upper()}",
    f"/mydocker/{ID}",
    f"/system.slice/docker-{ID[:12]}.scope",
    f"/system.slice/docker-{ID}.scope.d",
    f"/system.slice/docker-{ID}",
    # this machine's own sandbox cgroups: 32 hex digits, no runtime
    "/process_api/c47cc5f4c625dc6576998915f5fa596e",
    # virtual machines registered with machined are not containers
    r"/machine.slice/machine-qemu\x2d1\x2dvm.scope",
    # LXC's monitor
    "/lxc.monitor.web01",
    # a pod uid with the wrong separators for its driver
    f"/kubepods/burstable/pod{UID_}/{ID}",
]


@pytest.mark.parametrize("path", sorted(MATCHES))
def test_layouts_match(path: str) -> None:
    ref = CgroupTable().match(path)
    assert ref is not None, path
    assert (ref.id, ref.runtime, ref.pod_uid, ref.rule) == MATCHES[path]


@pytest.mark.parametrize("path", NOT_CONTAINERS)
def test_host_paths_do_not_match(path: str) -> None:
    assert CgroupTable().match(path) is None


def test_every_builtin_rule_has_a_sample() -> None:
    used = {rule for _, _, _, rule in MATCHES.values()}
    assert {r.name for r in DEFAULT_RULES} == used


def test_user_rule_is_tried_first() -> None:
    # A runtime of the user's own, and one that overrides a built-in layout.
    table = table_with([
        parse_rule(r"other:myrt-(?P<id>[0-9a-f]{16})\.scope", 0),
        parse_rule(r"podman:(?P<id>[0-9a-f]{64})", 1),
    ])
    ref = table.match("/system.slice/myrt-0123456789abcdef.scope")
    assert ref is not None and (ref.id, ref.runtime, ref.rule) == ("0123456789abcdef", "other",
                                                                   "user-0")
    ref = table.match(f"/docker/{ID}")  # the user's rule sees the id before docker-cgroupfs
    assert ref is not None and (ref.runtime, ref.rule) == ("podman", "user-1")
    assert table.match("/system.slice/myrt-xyz.scope") is None


def test_user_rule_with_parent() -> None:
    rule = parse_rule(r"containerd:default|k8s\.io/(?P<id>[0-9a-z-]{3,64})")
    assert rule.parent == r"default|k8s\.io" and rule.component == r"(?P<id>[0-9a-z-]{3,64})"
    table = table_with([rule])
    ref = table.match("/default/my-task")
    assert ref is not None and (ref.id, ref.runtime) == ("my-task", "containerd")
    assert table.match("/other/my-task") is None
    # A '/' inside a class or group does not split parent from component.
    rule = parse_rule(r"other:x(?P<id>[a/b]+)")
    assert rule.parent is None


@pytest.mark.parametrize("text, message", [
    ("noregex", "expected RUNTIME:REGEX"),
    ("rkt:foo-(?P<id>.+)", "unknown runtime 'rkt'"),
    ("other:foo-(.+)", "must capture the container id"),
    ("other:foo-(?P<id>[", "bad regular expression"),
])
def test_bad_user_rules_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_rule(text)


def test_rule_objects_compare_by_their_text() -> None:
    assert CgroupRule("a", "other", "(?P<id>x)") == CgroupRule("a", "other", "(?P<id>x)")
