"""The container options of `ringside run`: parsed into the enricher, or refused."""

from __future__ import annotations

import pytest
from ringside import ConfigError, ContainerEnricher
from ringside._cli import build_parser
from ringside._containers._cli import enricher_from_args


def test_containers_are_on_by_default() -> None:
    args = build_parser().parse_args(["run"])
    enricher = enricher_from_args(args)
    assert isinstance(enricher, ContainerEnricher)
    assert enricher.config.engine_socket is None and enricher.config.cri_socket is None
    assert enricher.config.wait == 0.25


def test_options_reach_the_enricher() -> None:
    args = build_parser().parse_args([
        "run", "--docker-socket", "/run/podman/podman.sock", "--cri-socket", "",
        "--container-wait", "0.5", "--container-rule", r"other:myrt-(?P<id>[0-9a-f]{16})"])
    enricher = enricher_from_args(args)
    assert enricher is not None
    cfg = enricher.config
    assert (cfg.engine_socket, cfg.cri_socket, cfg.wait) == ("/run/podman/podman.sock", "", 0.5)
    ref = enricher.table.match("/myrt-0123456789abcdef")
    assert ref is not None and ref.rule == "user-0"


def test_no_containers() -> None:
    assert enricher_from_args(build_parser().parse_args(["run", "--no-containers"])) is None


def test_bad_rule_and_wait_are_refused() -> None:
    args = build_parser().parse_args(["run", "--container-rule", "docker:no-id-group"])
    with pytest.raises(ConfigError, match=r"--container-rule: .*must capture the container id"):
        enricher_from_args(args)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--container-wait", "-1"])
