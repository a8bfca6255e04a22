"""Demo fleet, fleet driver, bulk fill-up and the standalone entry point."""

from __future__ import annotations

import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from igw_exporter.simulator import (
    DEMO_TENANTS,
    MIGRATE_STATUSES,
    STATES,
    FleetDriver,
    Simulator,
    bulk_populate,
    pinned_gateways,
    populate_demo_fleet,
)

REGIONS = ("kr1", "kr2", "jp1")
NAME_RE = re.compile(r"igw-[a-z]+-[a-z]+-(kr1|kr2|jp1)-\d\d")


def demo_sim(seed: int = 0) -> Simulator:
    sim = Simulator(regions=REGIONS)
    populate_demo_fleet(sim, random.Random(seed))
    return sim


def everything(sim: Simulator) -> list[tuple[str, dict[str, Any]]]:
    return [(region, g) for region in sim.regions for g in sim.gateways(region)]


def assert_fleet_invariants(sim: Simulator) -> None:
    """What the demo must show at all times, and what every record looks like."""
    gateways = everything(sim)
    for region in REGIONS:
        in_region = [g for r, g in gateways if r == region]
        assert {g["state"] for g in in_region} == set(STATES), region
        assert {g["migrate_status"] for g in in_region} == set(MIGRATE_STATUSES), region
        assert len({g["tenant_id"] for g in in_region}) >= 3, region
    for tenant in DEMO_TENANTS:
        mine = [g for _, g in gateways if g["tenant_id"] == tenant.tenant_id]
        assert {g["state"] for g in mine} == set(STATES), tenant.name
        assert {g["migrate_status"] for g in mine} == set(MIGRATE_STATUSES), tenant.name
        assert {r for r, g in gateways if g["tenant_id"] == tenant.tenant_id} == set(REGIONS)
    oldest = datetime.now(UTC) - timedelta(days=740)
    for region, g in gateways:
        assert uuid.UUID(g["id"]).version == 4
        assert NAME_RE.fullmatch(g["name"]), g["name"]
        assert region in g["name"]
        assert g["external_network_id"] == sim.external_network_id(region)
        # Attached (routing table set) exactly when not a spare.
        assert (g["routingtable_id"] is None) == (g["state"] == "unavailable"), g
        # Error text exactly when the migration failed.
        assert bool(g["migrate_error"]) == g["migrate_status"].endswith("_error"), g
        created = datetime.strptime(g["create_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        assert oldest <= created <= datetime.now(UTC) + timedelta(seconds=1)
    for region in REGIONS:
        names = [g["name"] for r, g in gateways if r == region]
        assert len(names) == len(set(names)), region


def test_demo_tenants() -> None:
    assert len(DEMO_TENANTS) >= 3
    assert {"production", "staging", "analytics"} <= {t.name for t in DEMO_TENANTS}
    assert len({t.tenant_id for t in DEMO_TENANTS}) == len(DEMO_TENANTS)
    for tenant in DEMO_TENANTS:
        assert re.fullmatch(r"[0-9a-f]{32}", tenant.tenant_id)
        assert tenant.password == "demo-password-" + tenant.name


@pytest.mark.parametrize("seed", range(5))
def test_demo_fleet_has_every_value_in_every_region_and_tenant(seed: int) -> None:
    sim = demo_sim(seed)
    assert 40 <= len(everything(sim)) <= 60
    assert_fleet_invariants(sim)
    ages = [g["create_time"][:4] for _, g in everything(sim)]
    assert len(set(ages)) >= 2  # spread over ~2 years, not all "now"


def test_demo_fleet_is_reproducible() -> None:
    def shape(sim: Simulator) -> list[tuple[str, str, str, str]]:
        return [(g["id"], g["name"], g["state"], g["migrate_status"]) for _, g in everything(sim)]

    assert shape(demo_sim(7)) == shape(demo_sim(7))
    assert shape(demo_sim(7)) != shape(demo_sim(8))


def test_demo_credentials_work_over_http() -> None:
    with demo_sim() as sim:
        for tenant in DEMO_TENANTS:
            response = requests.post(
                sim.identity_url + "/v2.0/tokens",
                json={
                    "auth": {
                        "tenantId": tenant.tenant_id,
                        "passwordCredentials": {
                            "username": tenant.username,
                            "password": tenant.password,
                        },
                    }
                },
                timeout=5,
            )
            assert response.status_code == 200
            assert response.json()["access"]["token"]["tenant"]["name"] == tenant.name
            tok = response.json()["access"]["token"]["id"]
            for region in REGIONS:
                listed = requests.get(
                    sim.endpoint(region) + "/v2.0/internetgateways",
                    headers={"X-Auth-Token": tok},
                    timeout=5,
                ).json()["internetgateways"]
                assert listed
                assert {g["tenant_id"] for g in listed} == {tenant.tenant_id}


def test_driver_runs_in_background_and_stops_promptly() -> None:
    sim = demo_sim(1)
    before = {g["id"]: g for _, g in everything(sim)}
    pinned = {
        (region, gid): sim.gateway(region, gid) for region, gid in pinned_gateways(sim)
    }  # fmt: skip
    assert len(pinned) >= 6
    driver = FleetDriver(sim, random.Random(1), period=0.01)
    driver.start()
    deadline = time.monotonic() + 5
    changed = 0
    while time.monotonic() < deadline and changed < 10:
        time.sleep(0.05)
        now = {g["id"]: g for _, g in everything(sim)}
        changed = sum(1 for gid, g in now.items() if before.get(gid) != g)
        changed += len(before.keys() - now.keys())
    started = time.monotonic()
    driver.stop()
    assert time.monotonic() - started < 1
    assert changed >= 10
    for (region, gid), record in pinned.items():
        assert sim.gateway(region, gid) == record
    assert_fleet_invariants(sim)


def test_driver_transitions_are_realistic() -> None:
    sim = demo_sim(2)
    sizes = {r: len(sim.gateways(r)) for r in REGIONS}
    driver = FleetDriver(sim, random.Random(2), period=60)
    transitions: Counter[tuple[str, str]] = Counter()
    created = deleted = 0
    previous = {g["id"]: g for _, g in everything(sim)}
    for i in range(400):
        assert driver.step() >= 1
        current = {g["id"]: g for _, g in everything(sim)}
        created += len(current.keys() - previous.keys())
        deleted += len(previous.keys() - current.keys())
        for gid in current.keys() & previous.keys():
            old, new = previous[gid], current[gid]
            if (old["state"], old["migrate_status"]) != (new["state"], new["migrate_status"]):
                transitions[(f"{old['state']}/{old['migrate_status']}", new["state"])] += 1
                # A gateway keeps its identity through every change.
                assert {k: v for k, v in new.items() if k not in VOLATILE} == {
                    k: v for k, v in old.items() if k not in VOLATILE
                }
        previous = current
        if i % 50 == 0:
            assert_fleet_invariants(sim)
    assert_fleet_invariants(sim)
    for expected in [
        ("available/none", "migrating"),  # maintenance starts
        ("migrating/unbinding_progress", "migrating"),  # -> binding_progress
        ("migrating/binding_progress", "available"),  # maintenance done
        ("migrating/binding_progress", "error"),  # binding_error...
        ("error/binding_error", "available"),  # ...repaired
        ("unavailable/none", "available"),  # attach
        ("available/none", "unavailable"),  # detach
        ("available/none", "error"),
        ("error/none", "available"),
    ]:
        assert transitions[expected] > 0, expected
    assert created > 0
    assert deleted > 0
    for region in REGIONS:  # size stays roughly stable
        assert abs(len(sim.gateways(region)) - sizes[region]) <= 4


VOLATILE = {"state", "migrate_status", "migrate_error", "routingtable_id"}


def test_bulk_populate_shape() -> None:
    sim = Simulator(regions=("kr1",))
    tenant = DEMO_TENANTS[0].tenant_id
    bulk_populate(sim, "kr1", tenant, 300, random.Random(5))
    gateways = sim.gateways("kr1", tenant)
    assert len(gateways) == 300
    assert len({g["id"] for g in gateways}) == 300
    assert {g["state"] for g in gateways} <= set(STATES)
    assert Counter(g["state"] for g in gateways).most_common(1)[0][0] == "available"
    for g in gateways:
        assert uuid.UUID(g["id"]).version == 4
        assert (g["routingtable_id"] is None) == (g["state"] == "unavailable")


def test_bulk_50k_list_answers_quickly() -> None:
    sim = Simulator(regions=("kr1",))
    tenant = DEMO_TENANTS[0]
    sim.add_user(tenant.tenant_id, tenant.username, tenant.password)
    started = time.monotonic()
    bulk_populate(sim, "kr1", tenant.tenant_id, 50_000, random.Random(0))
    bulk_populate(sim, "kr1", DEMO_TENANTS[1].tenant_id, 10, random.Random(0))
    assert time.monotonic() - started < 5
    with sim:
        tok = requests.post(
            sim.identity_url + "/v2.0/tokens",
            json={
                "auth": {
                    "tenantId": tenant.tenant_id,
                    "passwordCredentials": {
                        "username": tenant.username,
                        "password": tenant.password,
                    },
                }
            },
            timeout=5,
        ).json()["access"]["token"]["id"]
        started = time.monotonic()
        response = requests.get(
            sim.endpoint("kr1") + "/v2.0/internetgateways",
            headers={"X-Auth-Token": tok},
            timeout=30,
        )
        elapsed = time.monotonic() - started
        assert response.status_code == 200
        assert len(response.json()["internetgateways"]) == 50_000
        # Generous bound (CI machines vary); typically ~0.3 s.
        assert elapsed < 5


# ----- standalone -----


def run_standalone(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "igw_exporter.simulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    info: dict[str, str] = {}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            continue
        if line.startswith("ready"):
            return proc, info
        key, _, value = line.partition(": ")
        info[key] = value.strip()
    proc.kill()
    raise AssertionError(f"simulator did not start; got {info}")


def tenant_token(identity: str, credentials: str) -> str:
    fields = dict(part.split("=", 1) for part in credentials.split())
    response = requests.post(
        identity + "/v2.0/tokens",
        json={
            "auth": {
                "tenantId": fields["tenant_id"],
                "passwordCredentials": {
                    "username": fields["username"],
                    "password": fields["password"],
                },
            }
        },
        timeout=5,
    )
    assert response.status_code == 200
    return str(response.json()["access"]["token"]["id"])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_standalone_runs_until_signalled(sig: signal.Signals) -> None:
    proc, info = run_standalone("--seed", "3", "--period", "0.05")
    try:
        tok = tenant_token(info["identity"], info["tenant production"])
        for region in REGIONS:
            response = requests.get(
                info[f"region {region}"] + "/v2.0/internetgateways",
                headers={"X-Auth-Token": tok},
                timeout=5,
            )
            assert response.status_code == 200
            assert response.json()["internetgateways"]
    finally:
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0


def test_standalone_bulk_mode() -> None:
    proc, info = run_standalone("--gateways-per-target", "25", "--regions", "kr2")
    try:
        assert "region kr1" not in info
        tok = tenant_token(info["identity"], info["tenant staging"])
        response = requests.get(
            info["region kr2"] + "/v2.0/internetgateways",
            headers={"X-Auth-Token": tok},
            timeout=5,
        )
        assert len(response.json()["internetgateways"]) == 25
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
