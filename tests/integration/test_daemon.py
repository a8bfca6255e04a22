"""The daemon end to end: simulator <-HTTP-> exporter process <-HTTP-> test."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from igw_exporter.simulator import Fault, Simulator
from tests.integration.harness import (
    TENANTS,
    Exporter,
    add_users,
    free_port,
    running_exporter,
    series,
    value,
    wait_for,
    write_config,
)
from tests.promtool import check_metrics

PROD = TENANTS["production"][0]
STG = TENANTS["staging"][0]


def seed(sim: Simulator) -> dict[str, dict[str, object]]:
    return {
        "web": sim.create_gateway(
            "kr1", PROD, name="igw-web", state="available", routingtable_id="rt-web"
        ),
        "spare": sim.create_gateway("kr1", PROD, name="igw-spare"),
        "moving": sim.create_gateway(
            "kr2",
            PROD,
            name="igw-moving",
            state="migrating",
            migrate_status="binding_progress",
            routingtable_id="rt-2",
        ),
        "broken": sim.create_gateway(
            "jp1", STG, name="igw-broken", state="error", routingtable_id="rt-3"
        ),
    }


def test_gateways_of_every_target_are_exported(sim: Simulator, tmp_path: Path) -> None:
    gws = seed(sim)
    config = write_config(tmp_path / "c.yml", sim)
    with running_exporter(config) as exporter:
        samples = exporter.scrape()
        for name in ("production", "staging"):
            tenant_id = TENANTS[name][0]
            for region in ("kr1", "kr2", "jp1"):
                assert (
                    value(
                        samples,
                        "igw_exporter_target_up",
                        nhn_region=region,
                        tenant_id=tenant_id,
                        tenant=name,
                    )
                    == 1
                )
        web = gws["web"]
        assert value(samples, "nhncloud_igw_state", id=str(web["id"]), state="available") == 1
        assert (
            value(
                samples,
                "nhncloud_igw_state",
                id=str(gws["broken"]["id"]),
                state="error",
                nhn_region="jp1",
                tenant_id=STG,
            )
            == 1
        )
        assert (
            value(
                samples,
                "nhncloud_igw_migrate_status",
                id=str(gws["moving"]["id"]),
                migrate_status="binding_progress",
            )
            == 1
        )
        info = series(samples, "nhncloud_igw_info", id=str(web["id"]))
        assert info == [
            {
                "nhn_region": "kr1",
                "tenant_id": PROD,
                "id": str(web["id"]),
                "name": "igw-web",
                "tenant": "production",
                "external_network_id": str(web["external_network_id"]),
                "routingtable_id": "rt-web",
            }
        ]
        assert value(samples, "igw_exporter_target_gateways", nhn_region="kr1", tenant_id=PROD) == 2
        # The exposition served over HTTP, gzip or not, is promtool-clean and identical.
        plain = exporter.raw_metrics()
        assert check_metrics(plain) == ""
        assert exporter.get("/readyz").status_code == 200
        assert exporter.get("/healthz").status_code == 200
        page = exporter.get("/").text
        assert "igw-web" not in page and "production" in page and "/metrics" in page
        # The first poll is a baseline: one line per target, no burst of gateway_added.
        assert exporter.events("gateway_added") == []
        baselines = {
            (e["nhn_region"], e["tenant_id"]): e["gateways"]
            for e in exporter.events("target_baseline")
        }
        assert baselines[("kr1", PROD)] == 2
        assert len(baselines) == 6


def test_gzip_exposition_equals_plain(sim: Simulator, tmp_path: Path) -> None:
    seed(sim)
    with running_exporter(write_config(tmp_path / "c.yml", sim, interval=30)) as exporter:
        plain = exporter.raw_metrics()
        zipped = exporter.raw_metrics(gzip_ok=True)
        # The live part (process metrics) may differ between two scrapes; the
        # snapshot part is the same bytes.
        cut = plain.index(b"# HELP igw_exporter_api_requests_total")
        assert zipped[:cut] == plain[:cut]
        assert b"process_resident_memory_bytes" in zipped


def test_transitions_show_in_metrics_and_logs_within_one_interval(
    sim: Simulator, tmp_path: Path
) -> None:
    gws = seed(sim)
    with running_exporter(write_config(tmp_path / "c.yml", sim)) as exporter:
        web, moving, spare = gws["web"]["id"], gws["moving"]["id"], gws["spare"]["id"]
        sim.update_gateway("kr1", str(web), state="ERROR")
        sim.update_gateway(
            "kr2",
            str(moving),
            migrate_status="binding_error",
            migrate_error="NAT rule synchronization failed",
        )
        sim.delete_gateway("kr1", str(spare))
        new = sim.create_gateway("jp1", STG, name="igw-new")
        changed_at = time.monotonic()
        exporter.wait_cycles(2)

        samples = exporter.scrape()
        assert value(samples, "nhncloud_igw_state", id=str(web), state="error") == 1
        assert (
            value(
                samples,
                "nhncloud_igw_migrate_status",
                id=str(moving),
                migrate_status="binding_error",
            )
            == 1
        )
        assert value(samples, "nhncloud_igw_migrate_error", id=str(moving)) == 1
        assert series(samples, "nhncloud_igw_info", id=str(spare)) == []
        assert series(samples, "nhncloud_igw_state", id=str(spare)) == []
        assert value(samples, "nhncloud_igw_state", id=str(new["id"]), state="unavailable") == 1
        since = value(samples, "nhncloud_igw_state_since_timestamp_seconds", id=str(web))
        assert since is not None and since > time.time() - (time.monotonic() - changed_at) - 2

        [state] = exporter.events("gateway_state_changed")
        assert (state["nhn_region"], state["tenant_id"], state["gateway_id"]) == ("kr1", PROD, web)
        assert (state["gateway_name"], state["from"], state["to"]) == (
            "igw-web",
            "available",
            "error",
        )
        assert state["level"] == "warning"
        [migrate] = exporter.events("gateway_migrate_status_changed")
        assert (migrate["from"], migrate["to"]) == ("binding_progress", "binding_error")
        assert migrate["migrate_error"] == "NAT rule synchronization failed"
        [removed] = exporter.events("gateway_removed")
        assert (removed["gateway_id"], removed["gateway_name"]) == (spare, "igw-spare")
        [added] = exporter.events("gateway_added")
        assert (added["gateway_id"], added["nhn_region"], added["tenant_id"]) == (
            new["id"],
            "jp1",
            STG,
        )
        for event in exporter.events():
            assert event["timestamp"].endswith("Z") and "level" in event
        counts = exporter.scrape()
        assert (
            value(
                counts,
                "igw_exporter_transitions_total",
                nhn_region="kr1",
                tenant_id=PROD,
                kind="state_changed",
            )
            == 1
        )


def test_token_expiry_and_revocation_cause_no_gap(tmp_path: Path) -> None:
    # Tokens live 2 s, well inside the refresh margin: a new one nearly every poll.
    sim = Simulator(regions=("kr1", "jp1"), token_lifetime=2.0)
    add_users(sim)
    sim.start()
    try:
        seed_gw = sim.create_gateway("kr1", PROD, name="igw-web", state="available")
        with running_exporter(
            write_config(tmp_path / "c.yml", sim, regions=["kr1", "jp1"])
        ) as exporter:
            for _ in range(3):
                sim.revoke_tokens()
                exporter.wait_cycles(1)
                samples = exporter.scrape()
                assert (
                    value(samples, "igw_exporter_target_up", nhn_region="kr1", tenant_id=PROD) == 1
                )
                assert (
                    value(samples, "nhncloud_igw_state", id=str(seed_gw["id"]), state="available")
                    == 1
                )
            assert exporter.events("target_down") == []
            assert sim.token_requests(PROD) >= 3
    finally:
        sim.stop()


def test_sigterm_mid_poll_exits_zero_quickly(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yml", sim, timeout=10, interval=30)
    sim.add_fault(Fault(service="kr1", hang=True))
    port = free_port()
    exporter = Exporter(
        ["--config.file", str(config), "--web.listen-address", f"127.0.0.1:{port}"],
        tmp_path / "exporter.log",
        port,
    )
    try:
        # The first poll starts at once and hangs on kr1.
        wait_for(lambda: sim.request_count("kr1", "/v2.0/internetgateways") > 0)
        start = time.monotonic()
        assert exporter.stop(signal.SIGTERM, timeout=8) == 0
        assert time.monotonic() - start < 5
        assert exporter.events("exporter_stopped")
    finally:
        exporter.kill()


def test_a_stop_right_after_start_is_never_lost(sim: Simulator, tmp_path: Path) -> None:
    # Regression: a Python signal handler setting an Event could deadlock when the
    # signal landed while the main thread was inside Event.wait (seen 6/100 runs).
    config = write_config(tmp_path / "c.yml", sim, interval=30)
    for attempt in range(12):
        port = free_port()
        exporter = Exporter(
            ["--config.file", str(config), "--web.listen-address", f"127.0.0.1:{port}"],
            tmp_path / f"run{attempt}.log",
            port,
        )
        try:
            wait_for(lambda e=exporter: "exporter_started" in e.log_text(), interval=0.002)
            sig = signal.SIGTERM if attempt % 2 else signal.SIGINT
            assert exporter.stop(sig, timeout=5) == 0
        finally:
            exporter.kill()
