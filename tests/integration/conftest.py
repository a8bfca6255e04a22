from __future__ import annotations

from collections.abc import Iterator

import pytest

from igw_exporter.simulator import Simulator
from tests.integration.harness import add_users


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A simulator with two tenants in three regions, and no gateways yet."""
    simulator = Simulator(regions=("kr1", "kr2", "jp1"))
    add_users(simulator)
    simulator.start()
    try:
        yield simulator
    finally:
        simulator.stop()
