"""Shared test setup.

Tiers: tests/unit needs neither root nor a kernel; tests/kernel loads real
BPF programs (root); tests/kafka and tests/containers need the real broker
and podman, which `make test` sets up.
"""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Kernel tests cannot run without root; say so instead of failing obscurely.
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="kernel tests load BPF programs and need root (run `make test`)")
    for item in items:
        if "kernel" in item.keywords:
            item.add_marker(skip)
