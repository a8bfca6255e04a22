"""Bad answers, slow polls, identity trouble and secrets, against the running daemon."""

from __future__ import annotations

import json
from pathlib import Path

from igw_exporter.simulator import Fault, Simulator
from tests.integration.harness import (
    TENANTS,
    running_exporter,
    value,
    wait_for,
    write_config,
)

PROD = TENANTS["production"][0]
STG = TENANTS["staging"][0]


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
