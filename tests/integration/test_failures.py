"""Bad answers, slow polls, identity trouble and secrets, against the running daemon."""

from __future__ import annotations

import json
from pathlib import Path

from igw_exporter.simulator import Fault, Simulator
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


def test_wrong_shape_fails_only_its_target_and_is_logged_once(
    sim: Simulator, tmp_path: Path
) -> None:
    ok = sim.create_gateway("kr1", PROD, name="igw-ok", state="available")
    with running_exporter(write_config(tmp_path / "c.yml", sim)) as exporter:
        sim.add_fault(
            Fault(
                service="jp1",
                tenant_id=PROD,
                body='{"internetgateways": null}',
                content_type="application/json",
            )
        )
        exporter.wait_cycles(3)
        samples = exporter.scrape()
        assert value(samples, "igw_exporter_target_up", nhn_region="jp1", tenant_id=PROD) == 0
        assert value(samples, "igw_exporter_target_up", nhn_region="jp1", tenant_id=STG) == 1
        assert value(samples, "igw_exporter_target_up", nhn_region="kr1", tenant_id=PROD) == 1
        assert value(samples, "nhncloud_igw_state", id=str(ok["id"]), state="available") == 1
        [down] = exporter.events("target_down")
        assert (down["nhn_region"], down["tenant_id"]) == ("jp1", PROD)
        assert down["error"] == "'internetgateways' is null, not a list"
        page = exporter.get("/").text
        assert "&#x27;internetgateways&#x27; is null, not a list" in page


def test_malformed_item_is_skipped_logged_once_and_the_rest_exported(
    sim: Simulator, tmp_path: Path
) -> None:
    good = sim.create_gateway("kr1", PROD, name="igw-good", state="available")
    body = json.dumps(
        {
            "internetgateways": [
                {"name": "no id here", "state": "available"},
                good,
                dict(good, name="duplicate of good"),
            ]
        }
    )
    sim.add_fault(
        Fault(
            service="kr1",
            tenant_id=PROD,
            path_prefix="/v2.0/internetgateways",
            body=body,
            content_type="application/json",
        )
    )
    with running_exporter(write_config(tmp_path / "c.yml", sim)) as exporter:
        exporter.wait_cycles(2)
        samples = exporter.scrape()
        assert value(samples, "igw_exporter_target_up", nhn_region="kr1", tenant_id=PROD) == 1
        assert series(samples, "nhncloud_igw_info", nhn_region="kr1", tenant_id=PROD) == [
            {
                "nhn_region": "kr1",
                "tenant_id": PROD,
                "id": str(good["id"]),
                "name": "igw-good",
                "tenant": "production",
                "external_network_id": str(good["external_network_id"]),
                "routingtable_id": "",
            }
        ]
        reasons = sorted(e["reason"] for e in exporter.events("gateway_skipped"))
        assert reasons == ["item 0: item has no id", f"item 2: duplicate id {str(good['id'])!r}"]


def test_a_poll_longer_than_the_interval_is_skipped_not_doubled(
    sim: Simulator, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.yml", sim, interval=1, timeout=3)
    with running_exporter(config) as exporter:
        sim.add_fault(Fault(service="kr1", delay=2.5))
        wait_for(lambda: (value(exporter.scrape(), "igw_exporter_skipped_polls_total") or 0) >= 1)
        assert exporter.events("poll_skipped")
        # Slow, but within its deadline: still up.
        samples = exporter.scrape()
        assert value(samples, "igw_exporter_target_up", nhn_region="kr1", tenant_id=PROD) == 1


def test_identity_down_at_start_then_back(sim: Simulator, tmp_path: Path) -> None:
    fault = sim.add_fault(Fault(service="identity", status=503))
    with running_exporter(write_config(tmp_path / "c.yml", sim, regions=["kr1"])) as exporter:
        samples = exporter.scrape()
        assert value(samples, "igw_exporter_target_up", nhn_region="kr1", tenant_id=PROD) == 0
        [down, _] = exporter.events("target_down")
        assert down["error"].startswith("identity service: HTTP 503")
        sim.remove_fault(fault)
        wait_for(
            lambda: (
                value(exporter.scrape(), "igw_exporter_target_up", nhn_region="kr1", tenant_id=PROD)
                == 1
            )
        )
        assert len(exporter.events("target_recovered")) == 2


def test_wrong_password_is_reported_and_identity_not_hammered(
    sim: Simulator, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.yml", sim, regions=["kr1", "kr2", "jp1"])
    (tmp_path / "secrets" / "staging").write_text("wrong-password")
    with running_exporter(config) as exporter:
        exporter.wait_cycles(3)
        samples = exporter.scrape()
        for region in ("kr1", "kr2", "jp1"):
            assert value(samples, "igw_exporter_target_up", nhn_region=region, tenant_id=STG) == 0
            assert value(samples, "igw_exporter_target_up", nhn_region=region, tenant_id=PROD) == 1
        cycles = value(samples, "igw_exporter_polls_total") or 0
        # One token request per failing tenant per poll at most, not one per region.
        assert sim.token_requests(STG) <= cycles + 1
        downs = exporter.events("target_down")
        assert {e["error"] for e in downs} == {"authentication failed"}
        assert len(downs) == 3


def test_no_secret_ever_leaves_the_process(sim: Simulator, tmp_path: Path) -> None:
    sim.create_gateway("kr1", PROD, name="igw-a", state="available")
    config = write_config(tmp_path / "c.yml", sim)
    (tmp_path / "secrets" / "staging").write_text("wrong-password-of-staging")
    with running_exporter(config) as exporter:
        for _ in range(2):
            sim.revoke_tokens()
            exporter.wait_cycles(2)
        outputs = [
            exporter.raw_metrics(),
            exporter.get("/").content,
            exporter.raw_metrics(gzip_ok=True),
        ]
        exporter.stop()
        outputs.append(exporter.log_path.read_bytes())
        outputs.append(exporter.process.stdout.read() if exporter.process.stdout else b"")
    secrets = [TENANTS["production"][2], "wrong-password-of-staging", *sim.issued_tokens()]
    assert len(secrets) >= 4
    for output in outputs:
        for secret in secrets:
            assert secret.encode() not in output


def test_a_secret_echoed_by_the_api_is_not_shown(sim: Simulator, tmp_path: Path) -> None:
    password = TENANTS["production"][2]
    sim.add_fault(
        Fault(
            service="identity",
            tenant_id=PROD,
            status=400,
            body=json.dumps({"error": {"message": f"password '{password}' too weak"}}),
            content_type="application/json",
        )
    )
    with running_exporter(write_config(tmp_path / "c.yml", sim, regions=["kr1"])) as exporter:
        page = exporter.get("/").text
        metrics = exporter.raw_metrics()
        log = exporter.log_text()
    assert "too weak" in page and "&lt;redacted&gt;" in page
    for output in (page, metrics.decode(), log):
        assert password not in output
