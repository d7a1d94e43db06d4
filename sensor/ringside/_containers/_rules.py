"""The table that turns a cgroup path into a container id.

Every runtime names the cgroup of a container after the container's id, in
a layout of its own.  The table below holds one rule per layout; a rule
looks at one path component (and, optionally, the component just above
it), never at the path as a whole, so a rule cannot match across
components by accident.

Matching walks the path from the root down and, at each component, tries
the rules in table order; the first hit wins.  So for nested containers
(docker in docker, kind) the outermost container is reported: the one the
host's runtime knows and can name.

A user extends the table by putting rules of their own in front of it
(``CgroupTable(extra_rules + DEFAULT_RULES)``, or ``ringside run
--container-rule RUNTIME:REGEX``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .._errors import ConfigError

# Runtimes a rule may name.  "cri" means "the CRI runtime this host runs"
# (containerd or cri-o): kubelet's cgroupfs layout does not say which.
RUNTIMES = ("docker", "containerd", "cri-o", "podman", "systemd-nspawn", "other", "cri")

_HEX64 = r"(?P<id>[0-9a-f]{64})"
# Pod uids: dashes in cgroupfs paths, underscores in systemd slice names.
_UID_DASH = r"(?P<pod>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
_UID_UNDERSCORE = r"(?P<pod>[0-9a-f]{8}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{12})"
_KUBEPODS_SLICE = r"kubepods(?:-[a-z]+)*-pod" + _UID_UNDERSCORE + r"\.slice"


@dataclass(frozen=True)
class CgroupRule:
    """One cgroup layout.

    ``component`` must match a whole path component and capture the
    container id as group ``id``.  ``parent``, if given, must match the
    whole component just above it.  Either may capture a Kubernetes pod uid
    as group ``pod``.
    """

    name: str
    runtime: str
    component: str
    parent: str | None = None
    _component: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _parent: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ConfigError(f"cgroup rule {self.name!r}: unknown runtime {self.runtime!r} "
                              f"(choose from {', '.join(RUNTIMES)})")
        try:
            component = re.compile(self.component)
            parent = re.compile(self.parent) if self.parent is not None else None
        except re.error as exc:
            raise ConfigError(f"cgroup rule {self.name!r}: bad regular expression: {exc}") from exc
        if "id" not in component.groupindex:
            raise ConfigError(f"cgroup rule {self.name!r}: the component pattern must capture "
                              "the container id as (?P<id>...)")
        object.__setattr__(self, "_component", component)
        object.__setattr__(self, "_parent", parent)

    def match(self, parent: str | None, component: str) -> ContainerRef | None:
        m = self._component.fullmatch(component)
        if m is None:
            return None
        pod = m.groupdict().get("pod")
        if self._parent is not None:
            if parent is None:
                return None
            pm = self._parent.fullmatch(parent)
            if pm is None:
                return None
            pod = pod or pm.groupdict().get("pod")
        return ContainerRef(id=m.group("id"), runtime=self.runtime,
                            pod_uid=pod.replace("_", "-") if pod else None, rule=self.name)


@dataclass(frozen=True, slots=True)
class ContainerRef:
    """What a cgroup path says about a container."""

    id: str
    runtime: str
    pod_uid: str | None
    rule: str


# The built-in layouts, most specific first.  Real samples of each, and of
# paths that must not match, are in tests/unit/test_cgroup_paths.py.
DEFAULT_RULES: tuple[CgroupRule, ...] = (
    # Kubernetes, systemd driver: the container scope inside the pod's slice, e.g.
    # /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/
    #     cri-containerd-<id>.scope
    CgroupRule("kubepods-systemd-containerd", "containerd",
               r"cri-containerd-" + _HEX64 + r"\.scope", parent=_KUBEPODS_SLICE),
    CgroupRule("kubepods-systemd-crio", "cri-o", r"crio-" + _HEX64 + r"\.scope",
               parent=_KUBEPODS_SLICE),
    CgroupRule("kubepods-systemd-docker", "docker", r"docker-" + _HEX64 + r"\.scope",
               parent=_KUBEPODS_SLICE),
    # Kubernetes, cgroupfs driver: /kubepods/burstable/pod<uid>/<id>.  cri-o
    # prefixes the id (/kubepods/pod<uid>/crio-<id>); containerd does not, so
    # the runtime is whichever CRI runtime the host runs.
    CgroupRule("kubepods-cgroupfs-crio", "cri-o", r"crio-" + _HEX64, parent="pod" + _UID_DASH),
    CgroupRule("kubepods-cgroupfs", "cri", _HEX64, parent="pod" + _UID_DASH),
    # Docker: systemd driver (also rootless, under user@.service) and cgroupfs driver.
    CgroupRule("docker-systemd", "docker", r"docker-" + _HEX64 + r"\.scope"),
    CgroupRule("docker-cgroupfs", "docker", _HEX64, parent="docker"),
    # containerd's CRI plugin outside a pod slice, and nerdctl.
    CgroupRule("containerd-systemd", "containerd", r"cri-containerd-" + _HEX64 + r"\.scope"),
    CgroupRule("nerdctl-systemd", "containerd", r"nerdctl-" + _HEX64 + r"\.scope"),
    # cri-o outside a pod slice.  Its monitor, crio-conmon-<id>.scope, is not the container.
    CgroupRule("crio", "cri-o", r"crio-" + _HEX64 + r"(?:\.scope)?"),
    # Podman: libpod-<id>.scope under machine.slice or a user slice (systemd
    # manager), libpod-<id> under libpod_parent (cgroupfs).  libpod-conmon-<id>
    # holds the monitor, not the container.
    CgroupRule("podman", "podman", r"libpod-" + _HEX64 + r"(?:\.scope)?"),
    # systemd-nspawn machines: /machine.slice/systemd-nspawn@<name>.service
    CgroupRule("systemd-nspawn", "systemd-nspawn",
               r"systemd-nspawn@(?P<id>[^/]+)\.service", parent=r"machine\.slice"),
    # LXC 4 and later: /lxc.payload.<name>
    CgroupRule("lxc", "other", r"lxc\.payload\.(?P<id>[^/]+)"),
)

_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def _unescape(text: str) -> str:
    """systemd escapes unit names (\\x2d for '-'): give names back as the user wrote them."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "\\x" in text else text


class CgroupTable:
    """Container ids from cgroup paths, by a table of rules (first match wins)."""

    def __init__(self, rules: Iterable[CgroupRule] = DEFAULT_RULES) -> None:
        self.rules: tuple[CgroupRule, ...] = tuple(rules)

    def match(self, path: str) -> ContainerRef | None:
        """The outermost container in ``path``, or None for a host cgroup."""
        parent: str | None = None
        for component in path.split("/"):
            if not component:
                continue
            for rule in self.rules:
                ref = rule.match(parent, component)
                if ref is not None:
                    if "\\x" in ref.id:
                        ref = ContainerRef(_unescape(ref.id), ref.runtime, ref.pod_uid, ref.rule)
                    return ref
            parent = component
        return None


def parse_rule(text: str, index: int = 0) -> CgroupRule:
    """A rule from the command line: ``RUNTIME:REGEX`` or ``RUNTIME:PARENT_REGEX/REGEX``.

    The regex must match one whole path component and capture ``(?P<id>...)``.
    """
    runtime, sep, rest = text.partition(":")
    if not sep or not rest:
        raise ConfigError(f"container rule {text!r}: expected RUNTIME:REGEX, e.g. "
                          r"'other:myrt-(?P<id>[0-9a-f]{64})\.scope'")
    parent: str | None = None
    component = rest
    # A '/' outside any group or class separates the parent pattern: only split
    # on the last one that is at the top level of the expression.
    depth = 0
    split_at = -1
    escaped = False
    for i, ch in enumerate(rest):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "/" and depth == 0:
            split_at = i
    if split_at >= 0:
        parent, component = rest[:split_at], rest[split_at + 1:]
    return CgroupRule(f"user-{index}", runtime, component, parent=parent)


def table_with(extra: Sequence[CgroupRule]) -> CgroupTable:
    """The built-in table with the user's rules tried first."""
    return CgroupTable((*extra, *DEFAULT_RULES))
