"""Metric names, and the exporter's own live metrics (a private registry, never the global one)."""

from __future__ import annotations

import platform
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from . import __version__

GATEWAY_LABELS: Final = ("nhn_region", "tenant_id", "id", "name")
TARGET_LABELS: Final = ("nhn_region", "tenant_id", "tenant")

# Per-gateway families, rendered from the snapshot once per poll (see exposition).
IGW_INFO: Final = "nhncloud_igw_info"
IGW_STATE: Final = "nhncloud_igw_state"
IGW_MIGRATE_STATUS: Final = "nhncloud_igw_migrate_status"
IGW_MIGRATE_ERROR: Final = "nhncloud_igw_migrate_error"
IGW_CREATED: Final = "nhncloud_igw_created_timestamp_seconds"
IGW_AGE: Final = "nhncloud_igw_age_seconds"
IGW_STATE_SINCE: Final = "nhncloud_igw_state_since_timestamp_seconds"

# Per-target families, rendered from the snapshot too.
TARGET_UP: Final = "igw_exporter_target_up"
TARGET_LAST_SUCCESS: Final = "igw_exporter_target_last_success_timestamp_seconds"
TARGET_DURATION: Final = "igw_exporter_target_poll_duration_seconds"
TARGET_GATEWAYS: Final = "igw_exporter_target_gateways"
TARGET_STALE: Final = "igw_exporter_target_stale"

# Transition kinds, shared by the log events and the counter.
ADDED: Final = "added"
REMOVED: Final = "removed"
STATE_CHANGED: Final = "state_changed"
MIGRATE_STATUS_CHANGED: Final = "migrate_status_changed"

# The identity service serves every region; its requests are counted under this.
IDENTITY_REGION: Final = "global"

_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class SelfMetrics:
    """Counters and gauges updated as things happen (API calls, polls, transitions).

    They are small, so unlike the gateway families they are rendered at scrape time.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # ``_created`` series double the size of every counter for no use here.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.api_requests = Counter(
            "igw_exporter_api_requests",
            "Requests made to the NHN Cloud APIs, by HTTP status code or failure kind.",
            ["nhn_region", "operation", "code"],
            registry=r,
        )
        self.api_request_duration = Histogram(
            "igw_exporter_api_request_duration_seconds",
            "Duration of requests to the NHN Cloud APIs.",
            ["nhn_region", "operation"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.transitions = Counter(
            "igw_exporter_transitions",
            "Gateway transitions seen between polls (added, removed, state_changed, "
            "migrate_status_changed).",
            ["nhn_region", "tenant_id", "kind"],
            registry=r,
        )
        self.token_expiry = Gauge(
            "igw_exporter_token_expiry_timestamp_seconds",
            "When the cached IaaS token of a tenant expires, as of the last token issued.",
            ["tenant_id"],
            registry=r,
        )
        self.polls = Counter("igw_exporter_polls", "Poll cycles completed.", registry=r)
        self.skipped_polls = Counter(
            "igw_exporter_skipped_polls",
            "Poll cycles not started because the previous one was still running.",
            registry=r,
        )
        self.config_last_reload_successful = Gauge(
            "igw_exporter_config_last_reload_successful",
            "1 if the last configuration load (start or reload) succeeded.",
            registry=r,
        )
        self.config_last_reload_success = Gauge(
            "igw_exporter_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully.",
            registry=r,
        )
        build = Gauge(
            "igw_exporter_build_info",
            "Version of igw-exporter and of Python it runs on (always 1).",
            ["version", "python_version"],
            registry=r,
        )
        build.labels(__version__, platform.python_version()).set(1)
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
