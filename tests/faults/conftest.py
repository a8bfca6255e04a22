"""The fault suite runs the real exporter against the simulator, like the
integration tests, and shares their ``sim`` fixture."""

from tests.integration.conftest import sim

__all__ = ["sim"]
