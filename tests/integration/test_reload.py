"""SIGHUP and POST /-/reload: a valid config is applied, an invalid one changes nothing."""

from __future__ import annotations

import signal
from pathlib import Path

import requests

from igw_exporter.simulator import Simulator
from tests.integration.harness import (
    TENANTS,
    running_exporter,
    series,
    value,
    wait_for,
    write_config,
)

PROD = TENANTS["production"][0]
STG = TENANTS["staging"][0]


def targets(samples: dict) -> set[tuple[str, str]]:  # type: ignore[type-arg]
    return {(s["nhn_region"], s["tenant_id"]) for s in series(samples, "igw_exporter_target_up")}


def test_reload_adds_and_removes_targets_and_rejects_bad_files(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.create_gateway("kr1", STG, name="igw-staging", state="available")
    config = tmp_path / "c.yml"
    write_config(config, sim, tenants=["production"], regions=["kr1"], interval=30)
    with running_exporter(config) as exporter:
        assert targets(exporter.scrape()) == {("kr1", PROD)}

        write_config(config, sim, tenants=["production", "staging"], regions=["kr1"], interval=30)
        exporter.process.send_signal(signal.SIGHUP)
        wait_for(lambda: targets(exporter.scrape()) == {("kr1", PROD), ("kr1", STG)})
        samples = exporter.scrape()
        assert series(samples, "nhncloud_igw_info", tenant_id=STG)[0]["name"] == "igw-staging"
        assert value(samples, "igw_exporter_config_last_reload_successful") == 1

        good = config.read_text()
        config.write_text(good + "bogus_key: 1\n")
        response = requests.post(exporter.url + "/-/reload", timeout=10)
        assert response.status_code == 500
        assert "bogus_key: unknown key" in response.text
        samples = exporter.scrape()
        assert value(samples, "igw_exporter_config_last_reload_successful") == 0
        assert targets(samples) == {("kr1", PROD), ("kr1", STG)}  # old config goes on
        [failed] = exporter.events("config_reload_failed")
        assert any("bogus_key" in p for p in failed["problems"])

        write_config(config, sim, tenants=["staging"], regions=["kr1"], interval=30)
        assert requests.post(exporter.url + "/-/reload", timeout=10).status_code == 200
        wait_for(lambda: targets(exporter.scrape()) == {("kr1", STG)})
        samples = exporter.scrape()
        assert value(samples, "igw_exporter_config_last_reload_successful") == 1
        assert series(samples, "igw_exporter_token_expiry_timestamp_seconds", tenant_id=PROD) == []
        assert len(exporter.events("config_reloaded")) == 2
        assert [(e["nhn_region"], e["tenant_id"]) for e in exporter.events("target_removed")] == [
            ("kr1", PROD)
        ]


def test_a_reload_during_a_poll_never_brings_back_removed_targets(
    sim: Simulator, tmp_path: Path
) -> None:
    from igw_exporter.simulator import Fault

    config = tmp_path / "c.yml"
    write_config(
        config, sim, tenants=["production", "staging"], regions=["kr1"], interval=30, timeout=2
    )
    with running_exporter(config) as exporter:
        sim.add_fault(Fault(service="kr1", delay=1.5))
        exporter.process.send_signal(signal.SIGHUP)  # a poll starts now and takes 1.5 s
        wait_for(lambda: len(exporter.events("config_reloaded")) == 1)
        write_config(config, sim, tenants=["production"], regions=["kr1"], interval=30, timeout=2)
        assert requests.post(exporter.url + "/-/reload", timeout=10).status_code == 200
        # The running poll is discarded and the next one uses the new config at once.
        wait_for(lambda: exporter.events("poll_discarded"))
        wait_for(lambda: targets(exporter.scrape()) == {("kr1", PROD)}, timeout=10)
        for _ in range(5):
            assert targets(exporter.scrape()) == {("kr1", PROD)}
        assert [e for e in exporter.events("target_down") if e["tenant_id"] == STG] == []
