"""The container options of ``ringside run``.

Container metadata is on by default; with no runtime socket on the host the
sensor says so on stderr at start and still reports container ids and
runtimes from cgroup paths.
"""

from __future__ import annotations

import argparse

from .._argtypes import number
from .._errors import ConfigError
from ._cri import CRI_SOCKETS
from ._engine import ENGINE_SOCKETS
from ._enricher import ContainerEnricher, EnricherConfig
from ._rules import parse_rule

_seconds = number(float, positive=False, unit="seconds")


def add_run_options(run: argparse.ArgumentParser) -> None:
    group = run.add_argument_group("containers", "which container each event came from "
                                   "(docs/containers.md)")
    group.add_argument("--containers", action=argparse.BooleanOptionalAction, default=True,
                       help="add the container block to events (default: on)")
    group.add_argument("--docker-socket", metavar="PATH", default=None,
                       help="Docker Engine API socket, Docker's or Podman's (default: the first "
                       f"of {', '.join(ENGINE_SOCKETS)}; '' never asks)")
    group.add_argument("--cri-socket", metavar="PATH", default=None,
                       help="CRI socket of containerd or cri-o (default: the first of "
                       f"{', '.join(CRI_SOCKETS[:2])}; '' never asks)")
    group.add_argument("--container-wait", type=_seconds, default=EnricherConfig.wait,
                       metavar="SECONDS",
                       help="how long a new container's events may wait for the runtime's "
                       f"answer before going out marked pending (default: {EnricherConfig.wait})")
    group.add_argument("--container-rule", action="append", default=[], metavar="RUNTIME:REGEX",
                       help="an extra cgroup path rule, tried first: REGEX matches one path "
                       "component and captures (?P<id>...); PARENT_REGEX/REGEX also matches the "
                       "component above.  RUNTIME: docker, containerd, cri-o, podman, "
                       "systemd-nspawn, other, cri.  Repeatable")


def enricher_from_args(args: argparse.Namespace) -> ContainerEnricher | None:
    """The stage the options ask for, or None with --no-containers."""
    if not args.containers:
        return None
    try:
        rules = [parse_rule(text, i) for i, text in enumerate(args.container_rule)]
    except ConfigError as exc:
        raise ConfigError(f"--container-rule: {exc}") from exc
    return ContainerEnricher(EnricherConfig(
        engine_socket=args.docker_socket,
        cri_socket=args.cri_socket,
        wait=args.container_wait,
        rules=rules,
    ))
