from __future__ import annotations

from collections.abc import Iterator

import pytest
from ringside import SensorConfig

from tests.harness import SensorThread


@pytest.fixture(scope="session")
def full_sensor() -> Iterator[SensorThread]:
    sensor = SensorThread(SensorConfig(tier="full", areas=("process", "file", "tty"),
                                       require_all_areas=True)).start()
    yield sensor
    sensor.stop()


@pytest.fixture(scope="session")
def reduced_sensor() -> Iterator[SensorThread]:
    sensor = SensorThread(SensorConfig(tier="reduced", areas=("process", "file"),
                                       require_all_areas=True)).start()
    yield sensor
    sensor.stop()


@pytest.fixture(params=["full", "reduced"])
def sensor(request: pytest.FixtureRequest) -> SensorThread:
    return request.getfixturevalue(f"{request.param}_sensor")  # type: ignore[no-any-return]
