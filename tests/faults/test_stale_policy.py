"""The stale policy of issue 4: a failing target's gateways keep their last values,
marked stale, for ``poll.stale_after``; then they are dropped.

Why: an alert on a gateway in ``error`` must not resolve, and fire again, because
one poll failed.
"""

from __future__ import annotations

import time
from pathlib import Path

from igw_exporter.simulator import Fault, Simulator
from tests.faults.checks import (
    DEADLINE,
    INTERVAL,
    MARGIN,
    PROD,
    STG,
    TIMEOUT,
    FaultWatch,
    Key,
    gateway_ids,
    gateway_samples,
    of,
    seed,
    up,
)
from tests.integration.harness import running_exporter, series, value, wait_for, write_config

LAST_SUCCESS = "igw_exporter_target_last_success_timestamp_seconds"


def test_stale_gateways_keep_their_last_values_then_are_dropped(
    sim: Simulator, tmp_path: Path
) -> None:
    gateways = seed(sim)
    stale_after = 4.0
    affected: list[Key] = [("kr2", PROD), ("kr2", STG)]
    path = write_config(tmp_path / "c.yml", sim, timeout=TIMEOUT, stale_after=stale_after)
    with running_exporter(path) as exporter:
        watch = FaultWatch(exporter, affected)
        fault = sim.add_fault(Fault(service="kr2", status=503))
        # A change upstream during the outage cannot be seen: the last values stay.
        changed = gateways[("kr2", PROD)][0]
        new_state = "available" if changed["state"] != "available" else "error"
        sim.update_gateway("kr2", changed["id"], state=new_state)

        first_down = watch.wait_targets(0, timeout=5 + DEADLINE)
        kept = {key: gateway_samples(first_down, key) for key in affected}
        last = {key: of(first_down, LAST_SUCCESS, key) for key in affected}
        for key in affected:
            assert kept[key] and gateway_ids(first_down, key) == gateway_ids(watch.before, key)
            assert last[key] is not None
        # Scrape until the data is dropped; every scrape shows either exactly the
        # last values (stale 1) or nothing (stale 0).
        seen: list[tuple[float, Key, bool]] = []

        def dropped() -> bool:
            samples = exporter.scrape()
            now = time.time()
            for key in affected:
                assert up(samples, key) == 0, key
                present = bool(gateway_samples(samples, key))
                if present:
                    assert gateway_samples(samples, key) == kept[key], key
                    assert of(samples, "igw_exporter_target_stale", key) == 1, key
                    assert of(samples, "igw_exporter_target_gateways", key) == len(gateways[key])
                else:
                    assert of(samples, "igw_exporter_target_stale", key) == 0, key
                    assert of(samples, "igw_exporter_target_gateways", key) == 0, key
                assert of(samples, LAST_SUCCESS, key) == last[key], key
                seen.append((now, key, present))
            return not any(p for _, _, p in seen[-len(affected) :])

        wait_for(dropped, timeout=stale_after + 10, interval=0.2)
        for now, key, present in seen:
            since = now - (last[key] or 0.0)
            # Never dropped before stale_after ...
            if since < stale_after - 0.05:
                assert present, (key, since)
            # ... and dropped at the first poll after it.
            if since > stale_after + INTERVAL + DEADLINE + MARGIN + 0.5:
                assert not present, (key, since)
        assert any(present for _, _, present in seen)

        samples = exporter.scrape()
        watch.check_contained(samples, stale=False)
        for key in affected:
            assert series(samples, "nhncloud_igw_info", nhn_region=key[0], tenant_id=key[1]) == []
            assert of(samples, LAST_SUCCESS, key) == last[key]
        expired = watch.events("target_data_expired")
        assert sorted((e["nhn_region"], e["tenant_id"]) for e in expired) == watch.affected
        for event in expired:
            assert (event["gateways"], event["stale_after_seconds"]) == (2, stale_after)
        watch.check_reasons("HTTP 503: Service Unavailable")

        # Back: the gateways return with what changed meanwhile, logged as a change.
        sim.remove_fault(fault)
        after = watch.wait_recovered()
        assert value(after, "nhncloud_igw_state", id=changed["id"], state=new_state) == 1
        [change] = watch.events("gateway_state_changed")
        assert (change["gateway_id"], change["from"], change["to"]) == (
            changed["id"],
            changed["state"],
            new_state,
        )
        for key in affected:
            assert gateway_ids(after, key) == {g["id"] for g in gateways[key]}
        assert len(watch.events("target_data_expired")) == len(affected)
