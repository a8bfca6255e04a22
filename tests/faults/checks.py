"""What every fault case checks, over the running exporter's /metrics and log.

A case seeds the simulator, starts the exporter, opens a :class:`FaultWatch`,
injects a fault, and lets the watch check that

- only the affected targets went down, each with one ``target_down`` line whose
  ``error`` is the expected short reason, and no poll outlived its deadline;
- the affected targets' last-known gateways are still exported, marked stale;
- every other target stayed up and kept updating its last success;
- ``igw_exporter_api_requests_total`` counted what the simulator really served;
- once the fault ends, each affected target recovers by itself
  (``target_recovered``, up 1, stale 0);
- no exception escaped a job (no ``poll_failed``, nothing at level error) and the
  process is alive.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any

from igw_exporter.simulator import Simulator
from tests.integration.harness import TENANTS, Exporter, Samples, series, value, wait_for

PROD = TENANTS["production"][0]
STG = TENANTS["staging"][0]
REGIONS = ("kr1", "kr2", "jp1")

# Short settings so the suite stays fast: a target's poll may last 2 x TIMEOUT.
INTERVAL = 1.0
TIMEOUT = 1.0
DEADLINE = 2 * TIMEOUT
# Scheduling noise on a busy two-core machine, on top of the deadline.
MARGIN = 0.5

Key = tuple[str, str]  # (nhn_region, tenant_id)
ALL_TARGETS: tuple[Key, ...] = tuple((r, t) for r in REGIONS for t in (PROD, STG))

GATEWAY_FAMILIES = (
    "nhncloud_igw_info",
    "nhncloud_igw_state",
    "nhncloud_igw_migrate_status",
    "nhncloud_igw_migrate_error",
    "nhncloud_igw_created_timestamp_seconds",
    "nhncloud_igw_age_seconds",
    "nhncloud_igw_state_since_timestamp_seconds",
)


def of(samples: Samples, name: str, key: Key) -> float | None:
    return value(samples, name, nhn_region=key[0], tenant_id=key[1])


def up(samples: Samples, key: Key) -> float | None:
    return of(samples, "igw_exporter_target_up", key)


def requests_total(samples: Samples, region: str, code: str, operation: str = "") -> float:
    """``igw_exporter_api_requests_total`` for a region and code (0 when absent)."""
    operation = operation or ("issue_token" if region == "global" else "list_internetgateways")
    found = value(
        samples,
        "igw_exporter_api_requests_total",
        nhn_region=region,
        operation=operation,
        code=code,
    )
    return found or 0.0


def gateway_samples(samples: Samples, key: Key) -> Samples:
    """Every per-gateway sample of a target, with its value."""
    labels = {("nhn_region", key[0]), ("tenant_id", key[1])}
    return {
        (name, lbl): v
        for (name, lbl), v in samples.items()
        if name in GATEWAY_FAMILIES and labels <= lbl
    }


def gateway_ids(samples: Samples, key: Key) -> set[str]:
    return {
        s["id"] for s in series(samples, "nhncloud_igw_info", nhn_region=key[0], tenant_id=key[1])
    }


def seed(sim: Simulator, per_target: int = 2) -> dict[Key, list[dict[str, Any]]]:
    """A few gateways in every target, in assorted states."""
    states = ("available", "error", "migrating", "unavailable")
    gateways: dict[Key, list[dict[str, Any]]] = {}
    for n, (region, tenant) in enumerate(ALL_TARGETS):
        gateways[(region, tenant)] = [
            sim.create_gateway(
                region,
                tenant,
                name=f"igw-{region}-{tenant[:4]}-{i}",
                state=states[(n + i) % len(states)],
                routingtable_id=f"rt-{region}-{i}",
            )
            for i in range(per_target)
        ]
    return gateways


def assert_process_sound(exporter: Exporter) -> None:
    """Alive, and no exception escaped a job."""
    assert exporter.process.poll() is None, f"exporter exited: {exporter.log_text()[-2000:]}"
    events = exporter.events()
    assert [e for e in events if e["event"] == "poll_failed"] == []
    assert [e for e in events if e["level"] in ("error", "critical")] == []
    assert "Traceback" not in exporter.log_text()


def assert_polls_bounded(samples: Samples, keys: Iterable[Key], timeout: float = TIMEOUT) -> None:
    """No target's last poll outlived its deadline (2 x poll.timeout)."""
    for key in keys:
        duration = of(samples, "igw_exporter_target_poll_duration_seconds", key)
        assert duration is not None and duration <= 2 * timeout + MARGIN, (key, duration)


class FaultWatch:
    """One fault's life, as the exporter reports it: open before injecting it."""

    def __init__(
        self,
        exporter: Exporter,
        affected: Iterable[Key],
        targets: Iterable[Key] = ALL_TARGETS,
        from_start: bool = False,
        timeout: float = TIMEOUT,
    ) -> None:
        """``from_start``: the fault was there before the exporter started, so its
        ``target_down`` lines are already in the log."""
        self.exporter = exporter
        self.timeout = timeout
        self.affected = sorted(set(affected))
        self.others = sorted(set(targets) - set(self.affected))
        self.log_start = 0 if from_start else len(exporter.events())
        self.before = exporter.scrape()
        self.cycles_before = value(self.before, "igw_exporter_polls_total") or 0
        self.first_down: Samples | None = None  # the first scrape with all affected down
        for key in self.others:
            assert up(self.before, key) == 1, key

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.exporter.events()[self.log_start :] if e["event"] == name]

    def delta(self, samples: Samples, region: str, code: str, operation: str = "") -> float:
        return requests_total(samples, region, code, operation) - requests_total(
            self.before, region, code, operation
        )

    def wait_down(self, polls: int = 1, stale: bool = True) -> Samples:
        """Wait until every affected target is down, then ``polls`` more cycles, and
        check the fault stayed contained; returns the last scrape."""
        deadline = 2 * self.timeout
        self.first_down = self.wait_targets(0, timeout=6 + 2 * deadline)
        # Cycles keep completing while the fault lasts.
        self.exporter.wait_cycles(polls, timeout=5 + polls * (deadline + INTERVAL + 1))
        samples = self.exporter.scrape()
        self.check_contained(samples, stale=stale)
        return samples

    def wait_targets(self, wanted: int, timeout: float) -> Samples:
        """Wait until every affected target's up is ``wanted``; on failure, say which
        are not and why."""
        last: dict[Key, float | None] = {}

        def reached() -> Samples | None:
            samples = self.exporter.scrape()
            last.update({key: up(samples, key) for key in self.affected})
            return samples if all(v == wanted for v in last.values()) else None

        try:
            return wait_for(reached, timeout=timeout)
        except AssertionError:
            page = self.exporter.get("/").text
            rows = [
                " | ".join(html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row))
                for row in re.findall(r"<tr>(.*?)</tr>", page, re.S)
            ]
            off = {k: v for k, v in last.items() if v != wanted}
            raise AssertionError(
                f"after {timeout}s, targets not at up={wanted}: {off}; status page: {rows}"
            ) from None

    def check_contained(self, samples: Samples, stale: bool = True) -> None:
        for key in self.affected:
            assert up(samples, key) == 0, key
            if stale:
                # The last-known gateways stay, unchanged, marked stale.
                assert of(samples, "igw_exporter_target_stale", key) == 1, key
                assert gateway_ids(samples, key) == gateway_ids(self.before, key), key
                assert of(samples, "igw_exporter_target_gateways", key) == of(
                    self.before, "igw_exporter_target_gateways", key
                )
                # ... from the last poll that succeeded, however many failed since.
                last = "igw_exporter_target_last_success_timestamp_seconds"
                assert of(samples, last, key) == of(self.first_down or self.before, last, key)
        assert_polls_bounded(samples, self.affected, self.timeout)
        for key in self.others:
            assert up(samples, key) == 1, key
            assert of(samples, "igw_exporter_target_stale", key) == 0, key
            last = "igw_exporter_target_last_success_timestamp_seconds"
            before, now = of(self.before, last, key), of(samples, last, key)
            assert before is not None and now is not None and now > before, key
            assert gateway_ids(samples, key) == gateway_ids(self.before, key), key
        assert (value(samples, "igw_exporter_polls_total") or 0) > self.cycles_before
        assert_process_sound(self.exporter)

    def check_reasons(self, reasons: str | Mapping[Key, str]) -> None:
        """Exactly one ``target_down`` per affected target (none for the others),
        each with its expected short reason."""
        downs = self.events("target_down")
        got = sorted((e["nhn_region"], e["tenant_id"]) for e in downs)
        assert got == self.affected, downs
        expected = (
            reasons if isinstance(reasons, Mapping) else dict.fromkeys(self.affected, reasons)
        )
        for event in downs:
            key = (event["nhn_region"], event["tenant_id"])
            assert event["error"] == expected[key], (key, event["error"])
            assert event["level"] == "warning"
            assert len(event["error"]) <= 160
        # That one line is all: no warning repeated per poll or per retry.
        noise = [
            e
            for e in self.exporter.events()[self.log_start :]
            if e["level"] == "warning"
            and (e.get("nhn_region"), e.get("tenant_id")) in set(self.affected)
            and e["event"] not in ("target_down", "target_data_expired")
        ]
        assert noise == []

    def wait_recovered(self, same_reason: bool = True) -> Samples:
        """After the fault ended: every affected target comes back by itself.

        ``same_reason``: the fault failed every poll the same way, so the error the
        target recovers from is the one it went down with."""
        samples = self.wait_targets(1, timeout=6 + 4 * self.timeout)
        for key in self.affected:
            assert of(samples, "igw_exporter_target_stale", key) == 0, key
        downs = {(e["nhn_region"], e["tenant_id"]): e["error"] for e in self.events("target_down")}
        recovered = self.events("target_recovered")
        assert sorted((e["nhn_region"], e["tenant_id"]) for e in recovered) == self.affected
        for event in recovered:
            key = (event["nhn_region"], event["tenant_id"])
            if same_reason:
                assert event["down_since_error"] == downs[key], key
            else:
                assert event["down_since_error"], key
        # Still one line per outage, however many polls it lasted.
        assert len(self.events("target_down")) == len(self.affected)
        assert_process_sound(self.exporter)
        return samples
