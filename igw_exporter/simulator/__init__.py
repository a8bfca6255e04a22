"""An embedded simulator of the NHN Cloud identity and Internet Gateway APIs.

Real HTTP on 127.0.0.1 (one identity server, one network server per region),
with fault injection, for ``igw-exporter demo``, integration tests and
benchmarks. Standard library only.
"""

from igw_exporter.simulator.core import Simulator
from igw_exporter.simulator.faults import Fault
from igw_exporter.simulator.fleet import (
    DEMO_TENANTS,
    DemoTenant,
    FleetDriver,
    add_demo_users,
    bulk_populate,
    pinned_gateways,
    populate_demo_fleet,
)
from igw_exporter.simulator.records import MIGRATE_STATUSES, STATES

__all__ = [
    "DEMO_TENANTS",
    "MIGRATE_STATUSES",
    "STATES",
    "DemoTenant",
    "Fault",
    "FleetDriver",
    "Simulator",
    "add_demo_users",
    "bulk_populate",
    "pinned_gateways",
    "populate_demo_fleet",
]
