"""Every metric a dashboard or rule reads is one the exporter exposes (or a rule records)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Demo
from tests.e2e.tools import (
    all_exprs,
    annotation_exprs,
    exposed_names,
    metric_names,
    recorded_names,
)

pytestmark = pytest.mark.e2e

# Made by Prometheus itself, not by the exporter.
PROMETHEUS_SERIES = {"up"}


def test_every_metric_used_is_exposed(demo: Demo) -> None:
    exposition = demo.exporter.get("/metrics").text
    exposed = exposed_names(exposition)
    assert "nhncloud_igw_state" in exposed and "igw_exporter_transitions_total" in exposed
    known = exposed | recorded_names() | PROMETHEUS_SERIES
    used: dict[str, set[str]] = {}
    # Annotation templates run PromQL too (``printf "..." | query``).
    templates = list(annotation_exprs())
    for expr in all_exprs() + templates:
        for name in metric_names(expr.text):
            used.setdefault(name, set()).add(expr.id)
    # The parse found what the shipped files read (a broken parser would pass vacuously).
    assert {"nhncloud_igw_info", "igw_exporter_api_request_duration_seconds_bucket"} <= set(used)
    assert {name for expr in templates for name in metric_names(expr.text)} >= {
        "igw_exporter_target_up",
        "nhncloud_igw_migrate_status",
    }
    unknown = {name: sorted(where) for name, where in used.items() if name not in known}
    assert not unknown, f"metrics not exposed by igw-exporter: {unknown}"


def test_every_recording_rule_is_used() -> None:
    # A recording rule nobody uses is dead weight; one used but never defined is a typo.
    used = {name for expr in all_exprs() for name in metric_names(expr.text)}
    assert recorded_names() <= used, recorded_names() - used


@pytest.mark.parametrize(
    ("promql", "names"),
    [
        ('sum by (state) (x_total{a="b(c)"})', {"x_total"}),
        ("rate(a_bucket[5m]) / on (id) group_left (tenant) b:rec:info", {"a_bucket", "b:rec:info"}),
        ("histogram_quantile(0.95, sum by (le) (rate(h_bucket[1m]))) > 1e3", {"h_bucket"}),
        ("time() - last_over_time(ts[10m]) > 300 and bool up offset 5m", {"ts", "up"}),
        ('absent(up{job="x"}) or vector(0) unless on () nan', {"up"}),
        ('label_join(m, "dst", " / ", "a", "b")', {"m"}),
    ],
)
def test_metric_names_of_promql(promql: str, names: set[str]) -> None:
    assert metric_names(promql) == names


def test_annotation_queries_are_found() -> None:
    found = {expr.where: expr.text for expr in annotation_exprs()}
    assert found["alert IGWExporterAuthFailing annotation description"] == (
        'igw_exporter_target_up{job="x",instance="x"} == 0'
    )
    assert (
        'migrate_status=~"unbinding_error|binding_error"'
        in (found["alert NHNCloudIGWMigrationFailed annotation description"])
    )
