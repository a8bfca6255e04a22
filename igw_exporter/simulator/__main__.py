"""``python -m igw_exporter.simulator``: run the simulator standalone until signalled."""

from __future__ import annotations

import argparse
import random
import signal
import sys
import threading
import time
from types import FrameType

from igw_exporter.simulator.core import Simulator
from igw_exporter.simulator.fleet import (
    DEMO_TENANTS,
    FleetDriver,
    add_demo_users,
    bulk_populate,
    populate_demo_fleet,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="igw-exporter simulator",
        description="Simulated NHN Cloud identity + Internet Gateway API (demo/test use only).",
    )
    parser.add_argument("--listen-host", default="127.0.0.1")
    parser.add_argument(
        "--advertise-host", default=None, help="host put in URLs (default: --listen-host)"
    )
    parser.add_argument("--identity-port", type=int, default=0, help="0 = ephemeral")
    parser.add_argument("--regions", default="kr1,kr2,jp1", help="comma-separated")
    parser.add_argument("--seed", type=int, default=None, help="make the fleet reproducible")
    parser.add_argument(
        "--gateways-per-target",
        type=int,
        default=None,
        metavar="N",
        help="bulk mode: exactly N gateways per (region, tenant) instead of the demo fleet; "
        "no driver, so counts stay fixed",
    )
    parser.add_argument("--no-driver", action="store_true", help="keep the fleet static")
    parser.add_argument("--period", type=float, default=5.0, help="driver period in seconds")
    parser.add_argument("--page-size", type=int, default=None, help="paginate gateway lists")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    return parser


def _install_signal_handlers(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    try:
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)
    except ValueError:
        pass  # not the main thread (embedded use): rely on the caller to stop us


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    rng = random.Random(args.seed)  # noqa: S311 - fake data, not security
    sim = Simulator(
        regions=regions,
        host=args.listen_host,
        identity_port=args.identity_port,
        advertise_host=args.advertise_host,
        page_size=args.page_size,
        verbose=args.verbose,
    )
    bulk = args.gateways_per_target is not None
    if bulk:
        add_demo_users(sim)
        for region in sim.regions:
            for tenant in DEMO_TENANTS:
                bulk_populate(sim, region, tenant.tenant_id, args.gateways_per_target, rng)
    else:
        populate_demo_fleet(sim, rng)

    stop = threading.Event()
    _install_signal_handlers(stop)
    sim.start()
    driver = None
    if not (bulk or args.no_driver):
        driver = FleetDriver(sim, rng, period=args.period)
        driver.start()
    try:
        print(f"identity: {sim.identity_url}")
        for tenant in DEMO_TENANTS:
            print(
                f"tenant {tenant.name}: tenant_id={tenant.tenant_id} "
                f"username={tenant.username} password={tenant.password}"
            )
        for region in sim.regions:
            print(f"region {region}: {sim.endpoint(region)}")
        print("ready (Ctrl-C to stop)", flush=True)
        # Poll instead of stop.wait(): a signal handler setting the event while
        # the main thread blocks inside wait() is not safe on every platform.
        while not stop.is_set():
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    finally:
        if driver is not None:
            driver.stop()
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
