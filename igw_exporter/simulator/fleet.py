"""A realistic demo fleet, a driver that keeps it moving, and bulk fill-up.

The demo must show every documented ``state`` and ``migrate_status`` at all
times (dashboards and alert rules need something to display), so a few
"pinned" gateways hold each value and the driver never touches them. The
driver only moves the other gateways through plausible life cycles.
"""

from __future__ import annotations

import contextlib
import random
import sys
import threading
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from igw_exporter.simulator.core import Simulator
from igw_exporter.simulator.records import Record, format_create_time, gateway_record


@dataclass(frozen=True)
class DemoTenant:
    name: str  # tenant (project) name, e.g. "production"
    short: str  # used in gateway names
    tenant_id: str
    username: str
    password: str  # fake, for the simulator only
    roles: tuple[str, ...]  # what its gateways are for, used in names


DEMO_TENANTS: tuple[DemoTenant, ...] = (
    DemoTenant(
        "production",
        "prod",
        "c98f83011ac9d7c816c3e9299900674b",
        "igw-monitor@production.example.com",
        "demo-password-production",
        ("web", "api", "nat", "batch", "bastion"),
    ),
    DemoTenant(
        "staging",
        "stg",
        "27d7c7d5f3acb14eca9f3ba6645e6e68",
        "igw-monitor@staging.example.com",
        "demo-password-staging",
        ("web", "api", "ci", "nat"),
    ),
    DemoTenant(
        "analytics",
        "anl",
        "2b357369885fe016dc7661a9d994c2d5",
        "igw-monitor@analytics.example.com",
        "demo-password-analytics",
        ("etl", "kafka", "spark", "egress"),
    ),
)

# (state, migrate_status) pairs that together cover every documented value.
_PINNED_COMBOS: tuple[tuple[str, str], ...] = (
    ("available", "none"),
    ("unavailable", "none"),
    ("migrating", "unbinding_progress"),
    ("migrating", "binding_progress"),
    ("error", "unbinding_error"),
    ("error", "binding_error"),
)

_MIGRATE_ERRORS = {
    "unbinding_error": (
        "Failed to unbind internet gateway from gateway server {node}: "
        "timed out waiting for agent response"
    ),
    "binding_error": (
        "Failed to bind internet gateway on gateway server {node}: NAT rule synchronization failed"
    ),
}

_FLEET_AGE = timedelta(days=730)

# Pinned (region, gateway id) pairs per simulator; weak so tests do not leak.
_PINNED: weakref.WeakKeyDictionary[Simulator, set[tuple[str, str]]] = weakref.WeakKeyDictionary()


def pinned_gateways(sim: Simulator) -> set[tuple[str, str]]:
    """(region, id) of the gateways the driver must never touch."""
    return set(_PINNED.get(sim, set()))


def _uuid(rng: random.Random) -> str:
    """A random (version 4) UUID drawn from ``rng``, so fleets are reproducible.

    Hand-formatted: ``str(uuid.UUID(...))`` is the bulk of a 50k bulk fill.
    """
    value = rng.getrandbits(128)
    value = (value & ~(0xF000 << 64)) | (0x4000 << 64)  # version 4
    value = (value & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _migrate_error(status: str, region: str, rng: random.Random) -> str | None:
    template = _MIGRATE_ERRORS.get(status)
    if template is None:
        return None
    return template.format(node=f"igw-node-{region}-{rng.randint(1, 24):02d}")


def _attached(state: str) -> bool:
    # Only a spare ("unavailable") gateway has no routing table.
    return state != "unavailable"


def _next_name(sim: Simulator, region: str, tenant: DemoTenant, role: str) -> str:
    prefix = f"igw-{tenant.short}-{role}-{region}-"
    taken = {str(r.get("name")) for r in sim.gateways(region, tenant.tenant_id)}
    n = 1
    while f"{prefix}{n:02d}" in taken:
        n += 1
    return f"{prefix}{n:02d}"


def _add(
    sim: Simulator,
    rng: random.Random,
    region: str,
    tenant: DemoTenant,
    state: str,
    migrate_status: str,
    created: datetime | None,
) -> Record:
    gateway_id = _uuid(rng)
    while sim.gateway(region, gateway_id) is not None:
        # Only when a driver is seeded like the fleet it drives: stay unique.
        gateway_id = _uuid(rng)
    return sim.create_gateway(
        region,
        tenant.tenant_id,
        gateway_id=gateway_id,
        name=_next_name(sim, region, tenant, rng.choice(tenant.roles)),
        state=state,
        migrate_status=migrate_status,
        routingtable_id=_uuid(rng) if _attached(state) else None,
        migrate_error=_migrate_error(migrate_status, region, rng),
        create_time=created,
    )


def add_demo_users(sim: Simulator) -> None:
    for tenant in DEMO_TENANTS:
        sim.add_user(tenant.tenant_id, tenant.username, tenant.password, tenant.name)


def populate_demo_fleet(sim: Simulator, rng: random.Random) -> None:
    """Add the demo users and ~50 gateways over every region of ``sim``."""
    add_demo_users(sim)
    now = datetime.now(UTC)
    pinned = _PINNED.setdefault(sim, set())
    for r_index, region in enumerate(sim.regions):
        for t_index, tenant in enumerate(DEMO_TENANTS):
            # Two pinned combos per (region, tenant), rotated so that every
            # region and every tenant holds all six combos.
            first = 2 * ((r_index + t_index) % 3)
            for state, status in _PINNED_COMBOS[first : first + 2]:
                created = now - rng.random() * _FLEET_AGE
                record = _add(sim, rng, region, tenant, state, status, created)
                pinned.add((region, str(record["id"])))
            for _ in range(rng.randint(3, 4)):
                roll = rng.random()
                state = "available" if roll < 0.7 else "unavailable" if roll < 0.9 else "error"
                _add(sim, rng, region, tenant, state, "none", now - rng.random() * _FLEET_AGE)


# Weighted (state, migrate_status) mix for bulk fleets: mostly healthy.
_BULK_MIX: tuple[tuple[str, str, float], ...] = (
    ("available", "none", 0.85),
    ("unavailable", "none", 0.10),
    ("error", "none", 0.02),
    ("migrating", "unbinding_progress", 0.01),
    ("migrating", "binding_progress", 0.01),
    ("error", "binding_error", 0.01),
)


def bulk_populate(
    sim: Simulator, region: str, tenant_id: str, count: int, rng: random.Random
) -> None:
    """Create ``count`` gateways at once (one locked insert, no HTTP): benchmarks."""
    combos = [(s, m) for s, m, _ in _BULK_MIX]
    weights = [w for _, _, w in _BULK_MIX]
    picks = rng.choices(combos, weights, k=count)
    network = sim.external_network_id(region)
    # Formatting 50k timestamps is slow; a pool of distinct ones looks the same.
    now = datetime.now(UTC)
    times = [format_create_time(now - rng.random() * _FLEET_AGE) for _ in range(min(count, 4096))]
    records = []
    for i, (state, status) in enumerate(picks):
        records.append(
            gateway_record(
                gateway_id=_uuid(rng),
                name=f"igw-bulk-{region.lower()}-{tenant_id[:6]}-{i:05d}",
                external_network_id=network,
                tenant_id=tenant_id,
                state=state,
                migrate_status=status,
                routingtable_id=_uuid(rng) if _attached(state) else None,
                migrate_error=_migrate_error(status, region.lower(), rng),
                create_time=rng.choice(times),
            )
        )
    sim.insert_gateways(region, records)


class FleetDriver:
    """Every ``period`` seconds, makes 1-2 plausible changes to the demo fleet."""

    def __init__(self, sim: Simulator, rng: random.Random, period: float = 5.0) -> None:
        self._sim = sim
        self._rng = rng
        self._period = period
        self._tenants = {t.tenant_id: t for t in DEMO_TENANTS}
        # Fleet size to hover around, per region (taken when first needed, so
        # a driver may be built before the fleet is populated).
        self._target: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        for region in self._sim.regions:
            self._target.setdefault(region, len(self._movable(region)))
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="igw-sim-fleet", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            try:
                self.step()
            except Exception:
                # Keep the demo alive; a bug here should be visible, not fatal.
                traceback.print_exc(file=sys.stderr)

    def step(self) -> int:
        """Make 1-2 transitions now; returns how many were made."""
        made = 0
        for _ in range(self._rng.randint(1, 2)):
            # KeyError: someone deleted the gateway meanwhile; that is fine.
            with contextlib.suppress(KeyError):
                made += self._transition()
        return made

    def _movable(self, region: str) -> list[Record]:
        pinned = _PINNED.get(self._sim, set())
        return [
            r
            for r in self._sim.gateways(region)
            if r.get("tenant_id") in self._tenants and (region, r.get("id")) not in pinned
        ]

    def _transition(self) -> int:
        rng = self._rng
        region = rng.choice(self._sim.regions)
        gateways = self._movable(region)

        def having(state: str, status: str) -> list[Record]:
            return [g for g in gateways if g["state"] == state and g["migrate_status"] == status]

        size = len(gateways)
        target = self._target.setdefault(region, size)
        choices: list[tuple[float, Callable[[], None]]] = []

        def add(weight: float, candidates: list[Record], act: Callable[[Record], None]) -> None:
            if candidates:
                choices.append((weight, lambda: act(rng.choice(candidates))))

        add(4, having("migrating", "unbinding_progress"), lambda g: self._unbound(region, g))
        add(4, having("migrating", "binding_progress"), lambda g: self._bound(region, g))
        broken = having("error", "binding_error") + having("error", "unbinding_error")
        add(2, broken, lambda g: self._repair(region, g))
        add(2, having("error", "none"), lambda g: self._repair(region, g))
        available = having("available", "none")
        add(1.5, available, lambda g: self._set(region, g, "migrating", "unbinding_progress"))
        add(0.5, available, lambda g: self._set(region, g, "error", "none"))
        add(0.7, available, lambda g: self._detach(region, g))
        spares = having("unavailable", "none")
        add(1, spares, lambda g: self._attach(region, g))
        if size > target - 2:
            add(2 if size > target else 0.5, spares, lambda g: self._delete(region, g))
        if size < target + 2:
            choices.append((2 if size < target else 0.5, lambda: self._create(region)))
        if not choices:
            return 0
        weights = [w for w, _ in choices]
        rng.choices([act for _, act in choices], weights)[0]()
        return 1

    def _set(self, region: str, gateway: Record, state: str, status: str) -> None:
        self._sim.update_gateway(
            region,
            str(gateway["id"]),
            state=state,
            migrate_status=status,
            migrate_error=_migrate_error(status, region, self._rng),
        )

    def _unbound(self, region: str, gateway: Record) -> None:
        # Unbinding from the old gateway server rarely fails.
        if self._rng.random() < 0.1:
            self._set(region, gateway, "error", "unbinding_error")
        else:
            self._set(region, gateway, "migrating", "binding_progress")

    def _bound(self, region: str, gateway: Record) -> None:
        if self._rng.random() < 0.15:
            self._set(region, gateway, "error", "binding_error")
        else:
            self._set(region, gateway, "available", "none")

    def _repair(self, region: str, gateway: Record) -> None:
        self._set(region, gateway, "available", "none")

    def _attach(self, region: str, gateway: Record) -> None:
        self._sim.update_gateway(
            region, str(gateway["id"]), state="available", routingtable_id=_uuid(self._rng)
        )

    def _detach(self, region: str, gateway: Record) -> None:
        self._sim.update_gateway(
            region, str(gateway["id"]), state="unavailable", routingtable_id=None
        )

    def _delete(self, region: str, gateway: Record) -> None:
        self._sim.delete_gateway(region, str(gateway["id"]))

    def _create(self, region: str) -> None:
        tenant = self._rng.choice(DEMO_TENANTS)
        _add(self._sim, self._rng, region, tenant, "unavailable", "none", None)
