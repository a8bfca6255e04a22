"""The shipped routing, grouping and inhibitions in a real Alertmanager.

Alerts are posted straight to its API (as Prometheus would), so the inhibitions are
proven in seconds, without waiting for rules. Receivers are emptied: nothing is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.tools import Daemon, alertmanager_alerts, start_alertmanager
from tests.integration.harness import wait_for

pytestmark = pytest.mark.e2e

PROD = "c98f83011ac9d7c816c3e9299900674b"
STG = "27d7c7d5f3acb14eca9f3ba6645e6e68"


JOB, INSTANCE = "igw-exporter", "igw-exporter:9936"


def gateway_alert(
    alertname: str,
    severity: str,
    region: str,
    tenant: str,
    gw: str,
    instance: str = INSTANCE,
    job: str = JOB,
) -> dict:
    # As the rules make them: every gateway alert carries the exporter's job and instance.
    return {
        "alertname": alertname,
        "severity": severity,
        "job": job,
        "instance": instance,
        "nhn_region": region,
        "tenant_id": tenant,
        "id": gw,
        "name": f"igw-{gw}",
    }


def target_alert(alertname: str, region: str, tenant: str, instance: str = INSTANCE) -> dict:
    return {
        "alertname": alertname,
        "severity": "warning",
        "job": JOB,
        "instance": instance,
        "nhn_region": region,
        "tenant_id": tenant,
    }


def exporter_alert(alertname: str, job: str, instance: str | None = None) -> dict:
    labels = {"alertname": alertname, "severity": "warning", "job": job}
    return labels | ({"instance": instance} if instance else {})


SENT = {
    # kr1/production: its target is down, so its gateway alerts are muted.
    "down": target_alert("IGWExporterTargetDown", "kr1", PROD),
    "muted-by-down": gateway_alert("NHNCloudIGWError", "critical", "kr1", PROD, "gw-a"),
    # jp1/production: stale data mutes too.
    "stale": target_alert("IGWExporterTargetStale", "jp1", PROD),
    "muted-by-stale": gateway_alert("NHNCloudIGWDetached", "warning", "jp1", PROD, "gw-b"),
    # Same region, other tenant; same tenant, other region: not muted.
    "other-tenant": gateway_alert("NHNCloudIGWError", "critical", "kr1", STG, "gw-c"),
    "other-region": gateway_alert("NHNCloudIGWError", "critical", "kr2", PROD, "gw-d"),
    # A failed migration mutes the error of the same gateway, not of another one.
    "migration": gateway_alert("NHNCloudIGWMigrationFailed", "critical", "kr2", STG, "gw-e"),
    "muted-by-migration": gateway_alert("NHNCloudIGWError", "critical", "kr2", STG, "gw-e"),
    "other-gateway": gateway_alert("NHNCloudIGWError", "critical", "kr2", STG, "gw-f"),
    # A critical alert mutes the warnings of its gateway only.
    "muted-by-critical": gateway_alert("NHNCloudIGWMigrationStuck", "warning", "kr2", STG, "gw-e"),
    "warning-elsewhere": gateway_alert("NHNCloudIGWMigrationStuck", "warning", "kr2", STG, "gw-g"),
    # A second exporter polling kr1/production is fine: its alerts are not muted by
    # the first one's target down.
    "other-exporter": gateway_alert(
        "NHNCloudIGWError", "critical", "kr1", PROD, "gw-h", instance="igw-exporter-b:9936"
    ),
    # An exporter Prometheus cannot scrape mutes the gateway alerts it made, whatever
    # their region and tenant; not those of another exporter.
    "exporter-down": exporter_alert("IGWExporterDown", JOB, "igw-exporter-c:9936"),
    "muted-by-exporter-down": gateway_alert(
        "NHNCloudIGWError", "critical", "jp1", STG, "gw-i", instance="igw-exporter-c:9936"
    ),
    "muted-by-exporter-down-2": gateway_alert(
        "NHNCloudIGWDetached", "warning", "kr2", PROD, "gw-j", instance="igw-exporter-c:9936"
    ),
    # No target at all in a job mutes that job's gateway alerts.
    "absent": exporter_alert("IGWExporterAbsent", "igw-exporter-dr"),
    "muted-by-absent": gateway_alert(
        "NHNCloudIGWError", "critical", "jp1", STG, "gw-k", job="igw-exporter-dr"
    ),
}
MUTED = {
    "muted-by-down",
    "muted-by-stale",
    "muted-by-migration",
    "muted-by-critical",
    "muted-by-exporter-down",
    "muted-by-exporter-down-2",
    "muted-by-absent",
}


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    daemon = start_alertmanager(Path(tmp_path_factory.mktemp("alertmanager")))
    try:
        response = requests.post(
            f"{daemon.url}/api/v2/alerts",
            json=[{"labels": labels} for labels in SENT.values()],
            timeout=10,
        )
        response.raise_for_status()
        wait_for(lambda: len(alertmanager_alerts(daemon.url)) == len(SENT), timeout=10)
        yield daemon
    finally:
        daemon.stop()


def received(alertmanager: Daemon) -> dict[str, dict[str, Any]]:
    by_labels = {frozenset(a["labels"].items()): a for a in alertmanager_alerts(alertmanager.url)}
    return {key: by_labels[frozenset(labels.items())] for key, labels in SENT.items()}


def test_inhibitions(alertmanager: Daemon) -> None:
    def states() -> dict[str, str]:
        return {key: a["status"]["state"] for key, a in received(alertmanager).items()}

    expected = {key: "suppressed" if key in MUTED else "active" for key in SENT}
    # Inhibition is computed as alerts arrive: wait for the posted batch to settle.
    wait_for(lambda: states() == expected, timeout=10)


def test_routing_by_severity(alertmanager: Daemon) -> None:
    for key, alert in received(alertmanager).items():
        receivers = [r["name"] for r in alert["receivers"]]
        if SENT[key]["severity"] == "critical":
            assert receivers == ["igw-pager", "igw-chat"], key
        else:
            assert receivers == ["igw-chat"], key


def test_grouped_by_region_and_tenant(alertmanager: Daemon) -> None:
    response = requests.get(f"{alertmanager.url}/api/v2/alerts/groups", timeout=10)
    response.raise_for_status()
    # Every alert goes to chat: there, one group per region and tenant.
    chat = [g for g in response.json() if g["receiver"]["name"] == "igw-chat"]
    # Exporter-wide alerts have no region nor tenant: one group of their own.
    assert all(set(g["labels"]) in ({"nhn_region", "tenant_id"}, set()) for g in chat), chat
    labels = [(g["labels"].get("nhn_region"), g["labels"].get("tenant_id")) for g in chat]
    sizes = {key: len(g["alerts"]) for key, g in zip(labels, chat, strict=True)}
    expected = {("kr1", PROD): 3, ("jp1", PROD): 2, ("kr1", STG): 1, ("kr2", PROD): 2}
    assert sizes == {**expected, ("kr2", STG): 5, ("jp1", STG): 2, (None, None): 2}
