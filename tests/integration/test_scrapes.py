"""Many concurrent scrapes while polls run and the fleet churns: every exposition is
complete and consistent with itself."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from igw_exporter.simulator import Simulator, bulk_populate
from tests.integration.harness import TENANTS, parse, running_exporter, series, value, write_config

PROD = TENANTS["production"][0]
STG = TENANTS["staging"][0]


def test_concurrent_scrapes_during_polls_are_complete_and_consistent(
    sim: Simulator, tmp_path: Path
) -> None:
    rng = random.Random(7)
    for region in ("kr1", "kr2", "jp1"):
        for tenant in (PROD, STG):
            bulk_populate(sim, region, tenant, 60, rng)
    stop = threading.Event()

    def churn() -> None:
        while not stop.wait(0.05):
            region = rng.choice(["kr1", "kr2", "jp1"])
            tenant = rng.choice([PROD, STG])
            gateways = sim.gateways(region, tenant)
            if gateways and rng.random() < 0.5:
                sim.delete_gateway(region, str(rng.choice(gateways)["id"]))
            else:
                sim.create_gateway(region, tenant, state=rng.choice(["available", "error"]))

    config = write_config(tmp_path / "c.yml", sim, interval=1)
    with running_exporter(config) as exporter:
        churner = threading.Thread(target=churn, daemon=True)
        churner.start()

        def scrape(i: int) -> int:
            headers = {"Accept-Encoding": "gzip" if i % 2 else "identity"}
            response = requests.get(exporter.url + "/metrics", headers=headers, timeout=30)
            assert response.status_code == 200
            samples = parse(response.text)
            cycles = value(samples, "igw_exporter_polls_total")
            assert cycles is not None and cycles >= 1
            for target in series(samples, "igw_exporter_target_up"):
                region, tenant = target["nhn_region"], target["tenant_id"]
                count = value(
                    samples, "igw_exporter_target_gateways", nhn_region=region, tenant_id=tenant
                )
                info = series(samples, "nhncloud_igw_info", nhn_region=region, tenant_id=tenant)
                state = series(samples, "nhncloud_igw_state", nhn_region=region, tenant_id=tenant)
                # One poll's data: the count, the info series and 4 one-hot series each.
                assert count == len(info)
                assert len(state) == 4 * len(info)
            return int(cycles)

        try:
            with ThreadPoolExecutor(8) as pool:
                cycles = list(pool.map(scrape, range(48)))
        finally:
            stop.set()
            churner.join()
        # The scrapes spanned several polls.
        assert max(cycles) - min(cycles) >= 2
