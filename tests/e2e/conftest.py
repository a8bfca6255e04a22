"""The demo fleet behind a real exporter, and a real Prometheus + Alertmanager in front.

Everything listens on 127.0.0.1. The stack is built once per session: Prometheus
needs minutes of real time for an alert's ``for:``, so the tests share it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from igw_exporter.simulator import DEMO_TENANTS, Simulator, populate_demo_fleet
from tests.e2e.tools import Daemon, query, start_alertmanager, start_prometheus
from tests.integration.harness import TENANTS, Exporter, running_exporter, wait_for

PRODUCTION, STAGING, ANALYTICS = (t.tenant_id for t in DEMO_TENANTS)
# A tenant whose password is wrong: its target is down and token requests get 401.
LOCKED_OUT = TENANTS["staging"][0]

# Gateways the tests change or look for, on top of the demo fleet:
# role -> (region, tenant_id, create_gateway arguments).
E2E_GATEWAYS: dict[str, tuple[str, str, dict[str, Any]]] = {
    # Put into error once Prometheus has seen it available (the critical alert).
    "critical": ("kr1", PRODUCTION, {"state": "available", "routingtable_id": "rt-critical"}),
    # Detached once Prometheus has seen it available (the latch and NHNCloudIGWDetached).
    "detach": ("kr2", STAGING, {"state": "available", "routingtable_id": "rt-detach"}),
    # Created unavailable and never attached: must never count as detached.
    "spare": ("kr2", STAGING, {"state": "unavailable"}),
    # Values the API guide does not document.
    "degraded": ("jp1", ANALYTICS, {"state": "degraded", "routingtable_id": "rt-degraded"}),
    "rollback": (
        "jp1",
        ANALYTICS,
        {"state": "available", "migrate_status": "rollback_progress", "routingtable_id": "rt-rb"},
    ),
}


@dataclass
class Demo:
    sim: Simulator
    exporter: Exporter
    gateways: dict[str, dict[str, Any]]  # role -> gateway record (with "region")


@dataclass
class Stack:
    demo: Demo
    prometheus: Daemon
    alertmanager: Daemon
    changed_at: float  # Unix time the "critical" gateway was put into error


def write_demo_config(directory: Path, sim: Simulator) -> Path:
    """An exporter configuration for the demo tenants plus the locked-out one."""
    secrets = directory / "secrets"
    secrets.mkdir()
    lines = [f"identity:\n  url: {sim.identity_url}", "tenants:"]
    tenants = [(t.tenant_id, t.name, t.username, t.password) for t in DEMO_TENANTS]
    tenants.append((LOCKED_OUT, "locked-out", "ops@example.com", "not-the-password"))
    for tenant_id, name, username, password in tenants:
        secret = secrets / name
        secret.write_text(password + "\n")
        lines.append(
            f"  - id: {tenant_id}\n    name: {name}\n    username: {username}\n"
            f"    password_file: {secret}"
        )
    lines.append("poll:\n  interval: 1s\n  timeout: 2s\n  stale_after: 30s")
    config = directory / "exporter.yml"
    config.write_text("\n".join(lines) + "\n")
    return config


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The simulator with the demo fleet and the E2E gateways, polled every second."""
    sim = Simulator()
    populate_demo_fleet(sim, random.Random(20261203))
    gateways = {}
    for role, (region, tenant_id, fields) in E2E_GATEWAYS.items():
        record = sim.create_gateway(region, tenant_id, name=f"igw-e2e-{role}", **fields)
        gateways[role] = {**record, "region": region}
    sim.start()
    try:
        config = write_demo_config(tmp_path_factory.mktemp("exporter"), sim)
        with running_exporter(config) as exporter:
            exporter.wait_cycles(1)
            yield Demo(sim, exporter, gateways)
    finally:
        sim.stop()


@pytest.fixture(scope="session")
def stack(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Alertmanager and Prometheus (shipped configuration and rules) on the demo.

    Once Prometheus has seen them available, the "critical" gateway is put into
    error and the "detach" one detached, and a gateway is added (transitions).
    """
    work = tmp_path_factory.mktemp("stack")
    with ExitStack() as cleanup:
        alertmanager = start_alertmanager(work / "alertmanager")
        cleanup.callback(alertmanager.stop)
        prometheus = start_prometheus(
            work / "prometheus",
            exporter=f"127.0.0.1:{demo.exporter.port}",
            alertmanager=alertmanager.url.removeprefix("http://"),
        )
        cleanup.callback(prometheus.stop)
        for role in ("critical", "detach"):
            seen = f'nhncloud_igw_state{{id="{demo.gateways[role]["id"]}",state="available"}} == 1'
            wait_for(lambda promql=seen: query(prometheus.url, promql), timeout=30)
        critical, detach = demo.gateways["critical"], demo.gateways["detach"]
        demo.sim.update_gateway(critical["region"], critical["id"], state="error")
        changed_at = time.time()
        demo.sim.update_gateway(
            detach["region"], detach["id"], state="unavailable", routingtable_id=None
        )
        demo.sim.create_gateway("kr1", PRODUCTION, name="igw-e2e-added")
        yield Stack(demo, prometheus, alertmanager, changed_at)
