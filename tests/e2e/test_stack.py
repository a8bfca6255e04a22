"""Shipped dashboards and rules against a real Prometheus scraping the exporter.

The exporter polls the simulator's demo fleet every second; Prometheus runs the
shipped prometheus.yml (addresses and intervals changed) with the shipped rule
files, and sends alerts to a real Alertmanager running the shipped routing.
The alert test waits for the real ``for:`` of the critical alert, so it runs last.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.conftest import ANALYTICS, LOCKED_OUT, PRODUCTION, STAGING, Stack
from tests.e2e.tools import (
    Expr,
    alertmanager_alerts,
    alerts,
    all_exprs,
    all_values,
    annotation_exprs,
    prometheus_alerts,
    query,
    substitute,
)
from tests.integration.harness import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

EXPRS = all_exprs()

# Dashboard variables as a multi-value pick (Grafana joins the values with "|").
PICKED = {
    "nhn_region": "kr1|jp1",
    "tenant": "production|staging",
    "tenant_id": f"{PRODUCTION}|{STAGING}",
    "job": "igw-exporter",
}

# Expressions that must return nothing with a healthy demo (and do, or the test fails).
EXPECTED_EMPTY = {
    "igw-exporter-alerts.yml:alert IGWExporterTargetStale": "no data is 5 minutes old",
    "igw-exporter-alerts.yml:alert IGWExporterConfigReloadFailed": "the configuration loaded",
    "igw-exporter-alerts.yml:alert IGWExporterDown": "Prometheus scrapes the exporter",
    "igw-exporter-alerts.yml:alert IGWExporterAbsent": "the igw-exporter job exists",
}


def test_expected_empty_names_real_expressions() -> None:
    assert set(EXPECTED_EMPTY) <= {e.id for e in EXPRS}


@pytest.mark.parametrize("expr", EXPRS, ids=lambda e: e.id)
def test_expression_parses_and_returns_data(stack: Stack, expr: Expr) -> None:
    prometheus = stack.prometheus.url
    query(prometheus, substitute(expr.text, PICKED))
    promql = substitute(expr.text, all_values(expr))
    if expr.id in EXPECTED_EMPTY:
        assert query(prometheus, promql) == [], EXPECTED_EMPTY[expr.id]
        return
    result = wait_for(lambda: query(prometheus, promql), timeout=30, interval=0.5)
    if expr.kind == "variable":
        label = re.search(r"group by \((\w+)\)", promql)
        assert label, promql
        # Grafana lists the non-empty values (a tenant without a token has no region).
        assert [r for r in result if r["metric"].get(label[1])], result


@pytest.mark.parametrize("expr", list(annotation_exprs()), ids=lambda e: e.id)
def test_annotation_query_parses(stack: Stack, expr: Expr) -> None:
    query(stack.prometheus.url, expr.text)


def ids(result: list[dict[str, Any]]) -> set[str]:
    return {r["metric"]["id"] for r in result}


def test_gateway_counts_match_the_simulator(stack: Stack) -> None:
    sim = stack.demo.sim
    tenants = (PRODUCTION, STAGING, ANALYTICS)

    def counted() -> bool:
        expected = sum(len(sim.gateways(region, t)) for region in sim.regions for t in tenants)
        [row] = query(stack.prometheus.url, "sum(nhncloud_igw:state:count)")
        return float(row["value"][1]) == expected

    wait_for(counted, timeout=30, interval=0.5)


def test_only_a_gateway_that_was_available_counts_as_detached(stack: Stack) -> None:
    gateways = stack.demo.gateways
    prometheus = stack.prometheus.url
    detached = wait_for(lambda: ids(query(prometheus, "nhncloud_igw:detached:latch")), 30)
    # The demo fleet has spares created unavailable: none of them, nor ours, is latched.
    assert detached == {gateways["detach"]["id"]}
    spares = ids(query(prometheus, 'nhncloud_igw_state{state="unavailable"} == 1'))
    assert gateways["spare"]["id"] in spares and len(spares) > 2
    pending = wait_for(
        lambda: ids(query(prometheus, 'ALERTS{alertname="NHNCloudIGWDetached"}')), 30
    )
    assert pending == {gateways["detach"]["id"]}


def test_undocumented_values_are_reported(stack: Stack) -> None:
    prometheus = stack.prometheus.url
    for alert, role in (
        ("NHNCloudIGWUndocumentedState", "degraded"),
        ("NHNCloudIGWUndocumentedMigrateStatus", "rollback"),
    ):
        found = wait_for(lambda a=alert: ids(query(prometheus, alerts()[a]["expr"])), 30)
        assert found == {stack.demo.gateways[role]["id"]}, alert


def test_locked_out_tenant_is_a_target_down_with_refused_tokens(stack: Stack) -> None:
    prometheus = stack.prometheus.url
    down = wait_for(lambda: query(prometheus, alerts()["IGWExporterTargetDown"]["expr"]), 30)
    assert {r["metric"]["tenant_id"] for r in down} == {LOCKED_OUT}
    assert wait_for(lambda: query(prometheus, alerts()["IGWExporterAuthFailing"]["expr"]), 30)


def test_locked_out_tenant_counts_on_the_health_dashboard(stack: Stack) -> None:
    # It has no region yet: "All" regions must still include it.
    [expr] = [e for e in EXPRS if e.where == "panel 'Targets down' A"]
    [row] = query(stack.prometheus.url, substitute(expr.text, all_values(expr)))
    assert row["value"][1] == "1"


def seconds(duration: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", duration))


def unix(timestamp: str) -> float:
    # Prometheus writes nanoseconds; Python reads microseconds.
    trimmed = re.sub(r"(\.\d{6})\d*", r"\1", timestamp).replace("Z", "+00:00")
    return datetime.fromisoformat(trimmed).timestamp()


@pytest.mark.timeout(330)
def test_gateway_in_error_fires_reaches_alertmanager_and_resolves(stack: Stack) -> None:
    prometheus, alertmanager = stack.prometheus.url, stack.alertmanager.url
    gateway = stack.demo.gateways["critical"]
    rule = alerts()["NHNCloudIGWError"]
    hold = seconds(rule["for"])

    def ours() -> list[dict[str, Any]]:
        return [
            a
            for a in prometheus_alerts(prometheus)
            if a["labels"]["alertname"] == "NHNCloudIGWError" and a["labels"]["id"] == gateway["id"]
        ]

    last_pending = 0.0

    def firing() -> list[dict[str, Any]]:
        nonlocal last_pending
        found = ours()
        if any(a["state"] == "pending" for a in found):
            last_pending = time.time()
        return [a for a in found if a["state"] == "firing"]

    [alert] = wait_for(firing, hold + 60, 1)
    active_at = unix(alert["activeAt"])
    assert active_at >= stack.changed_at - 2, "pending before the gateway was in error"
    # Still pending shortly before its for: had elapsed, firing right after.
    assert last_pending >= active_at + hold - 5, (last_pending - active_at, hold)
    assert time.time() - active_at < hold + 15
    labels, annotations = alert["labels"], alert["annotations"]
    assert labels["severity"] == "critical"
    assert (labels["nhn_region"], labels["tenant_id"], labels["tenant"]) == (
        "kr1",
        PRODUCTION,
        "production",
    )
    assert labels["name"] == "igw-e2e-critical"
    for text in (annotations["summary"], annotations["description"]):
        for part in ("igw-e2e-critical", gateway["id"], "kr1", "production"):
            assert part in text, (part, text)
    assert annotations["runbook_url"].endswith("docs/runbook.md#nhncloudigwerror")

    # Alertmanager received it and routes it to the pager and to chat.
    def received() -> list[dict[str, Any]]:
        return [
            a
            for a in alertmanager_alerts(alertmanager)
            if a["labels"].get("alertname") == "NHNCloudIGWError"
            and a["labels"].get("id") == gateway["id"]
        ]

    [managed] = wait_for(received, 30)
    assert managed["status"]["state"] == "active"
    assert [r["name"] for r in managed["receivers"]] == ["igw-pager", "igw-chat"]

    # The demo's gateways in error after a failed migration page once: their
    # NHNCloudIGWError is inhibited by NHNCloudIGWMigrationFailed.
    failed = ids(query(prometheus, 'nhncloud_igw_migrate_status{migrate_status=~".+_error"} == 1'))
    assert failed

    def inhibited() -> bool:
        errors = [
            a
            for a in alertmanager_alerts(alertmanager)
            if a["labels"].get("alertname") == "NHNCloudIGWError" and a["labels"]["id"] in failed
        ]
        return len(errors) == len(failed) and all(
            a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"] for a in errors
        )

    wait_for(inhibited, 30)

    # Repaired: resolved on Prometheus at once, and on Alertmanager.
    stack.demo.sim.update_gateway(gateway["region"], gateway["id"], state="available")
    wait_for(lambda: not ours(), 30)
    wait_for(lambda: not received(), 30)
