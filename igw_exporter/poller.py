"""One poll cycle: every (region x tenant) target concurrently, into a new snapshot."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any

from .client import NetworkClient
from .config import PollSettings, TenantSpec
from .log import get_logger
from .metrics import SelfMetrics
from .models import GatewayList, Snapshot, TargetKey, TargetStatus
from .store import Store
from .transitions import diff, observe
from .transport import ApiError

# A region name for a tenant whose regions come from the catalog while no token can
# be had: its failure must still show up as a target that is down.
UNKNOWN_REGION = ""
_ERROR_VALUES = ("error",)


@dataclass(frozen=True, slots=True)
class _Outcome:
    key: TargetKey
    tenant: TenantSpec
    result: GatewayList | None
    error: str
    duration: float


class Poller:
    """Runs poll cycles. Owns the previous snapshot; publishes each new one to the store."""

    def __init__(
        self,
        tenants: tuple[TenantSpec, ...],
        poll: PollSettings,
        client: NetworkClient,
        store: Store,
        metrics: SelfMetrics,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tenants = tenants
        self._poll = poll
        self._client = client
        self._store = store
        self._metrics = metrics
        self._wall = wall_clock
        self._mono = monotonic
        self._pool = ThreadPoolExecutor(poll.concurrency, thread_name_prefix="igw-poll")
        self._log = get_logger()
        self._retired = False

    @property
    def deadline_seconds(self) -> float:
        """How long one target may take: retries included, about twice the timeout."""
        return 2 * self._poll.timeout

    def retire(self) -> None:
        """A reload replaced this poller: a cycle still running publishes nothing (it
        would bring back targets the new configuration removed)."""
        self._retired = True

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def run_cycle(self) -> Snapshot:
        started, started_wall = self._mono(), self._wall()
        previous = self._store.current.snapshot
        outcomes = self._poll_targets(self._targets(previous))
        if self._retired:
            self._log.info("poll_discarded", reason="configuration reloaded during the poll")
            return previous
        snapshot = self._build(previous, outcomes, started_wall)
        self._store.publish(snapshot)
        self._metrics.polls.inc()
        up = sum(1 for t in snapshot.targets.values() if t.up)
        self._log.info(
            "poll_finished",
            cycle=snapshot.cycle,
            duration_seconds=round(self._mono() - started, 3),
            targets=len(snapshot.targets),
            targets_up=up,
            targets_down=len(snapshot.targets) - up,
            gateways=sum(t.exported_count for t in snapshot.targets.values()),
        )
        return snapshot

    # -- targets ---------------------------------------------------------------------

    def _targets(self, previous: Snapshot) -> list[tuple[TenantSpec, str, str]]:
        """(tenant, region, error) for every target of this cycle; error "" to poll it."""
        futures = {
            t.id: self._pool.submit(self._regions, t) for t in self._tenants if t.regions is None
        }
        wait(futures.values(), timeout=self._bound(len(futures)))
        targets: list[tuple[TenantSpec, str, str]] = []
        for tenant in self._tenants:
            if tenant.regions is not None:
                targets.extend((tenant, region, "") for region in tenant.regions)
                continue
            future = futures[tenant.id]
            if future.done():
                regions, error = future.result()
            else:
                future.cancel()
                regions, error = (), "service catalog not read within the poll deadline"
            if error:
                # Keep reporting the regions known so far, so that their gateways go
                # stale (not vanish) and their targets show as down.
                known = sorted(k.region for k in previous.targets if k.tenant_id == tenant.id)
                targets.extend((tenant, region, error) for region in known or [UNKNOWN_REGION])
            else:
                targets.extend((tenant, region, "") for region in regions)
        return targets

    def _regions(self, tenant: TenantSpec) -> tuple[tuple[str, ...], str]:
        try:
            deadline = self._mono() + self.deadline_seconds
            return self._client.regions(tenant, deadline), ""
        except ApiError as exc:
            return (), exc.reason
        except Exception as exc:  # a bug must not stop the other tenants
            return (), _unexpected(exc)

    def _bound(self, jobs: int) -> float:
        """How long ``jobs`` deadline-bounded jobs can take on the pool, plus a margin
        that only matters if a bug defeats the deadlines."""
        rounds = -(-jobs // self._poll.concurrency)
        return rounds * self.deadline_seconds + 5

    def _poll_targets(self, targets: list[tuple[TenantSpec, str, str]]) -> list[_Outcome]:
        pending: dict[TargetKey, tuple[TenantSpec, Future[_Outcome]]] = {}
        outcomes: list[_Outcome] = []
        for tenant, region, error in targets:
            key = TargetKey(region, tenant.id)
            if error:
                outcomes.append(_Outcome(key, tenant, None, error, 0.0))
            else:
                pending[key] = (tenant, self._pool.submit(self._poll_one, key, tenant))
        wait([f for _, f in pending.values()], timeout=self._bound(len(pending)))
        for key, (tenant, future) in pending.items():
            if future.done():
                outcomes.append(future.result())
            else:
                future.cancel()
                outcomes.append(_Outcome(key, tenant, None, "poll deadline exceeded", 0.0))
        return outcomes

    def _poll_one(self, key: TargetKey, tenant: TenantSpec) -> _Outcome:
        # The deadline starts when the target's turn comes, not when it was queued:
        # with more targets than ``concurrency``, waiting is not the target's fault.
        start = self._mono()
        deadline = start + self.deadline_seconds
        try:
            result = self._client.list_gateways(tenant, key.region, deadline)
            return _Outcome(key, tenant, result, "", self._mono() - start)
        except ApiError as exc:
            return _Outcome(key, tenant, None, exc.reason, self._mono() - start)
        except Exception as exc:  # one target's bug fails that target only
            return _Outcome(key, tenant, None, _unexpected(exc), self._mono() - start)

    # -- snapshot and transitions -----------------------------------------------------

    def _build(self, previous: Snapshot, outcomes: list[_Outcome], now: float) -> Snapshot:
        targets: dict[TargetKey, TargetStatus] = {}
        for outcome in sorted(outcomes, key=lambda o: o.key):
            before = previous.targets.get(outcome.key)
            if outcome.result is not None:
                targets[outcome.key] = self._succeeded(before, outcome, outcome.result, now)
            else:
                targets[outcome.key] = self._failed(before, outcome, now)
        for key in sorted(set(previous.targets) - set(targets)):
            self._log.info("target_removed", nhn_region=key.region, tenant_id=key.tenant_id)
        return Snapshot(taken_at=now, targets=targets, cycle=previous.cycle + 1)

    def _succeeded(
        self, before: TargetStatus | None, outcome: _Outcome, result: GatewayList, now: float
    ) -> TargetStatus:
        key = outcome.key
        log = self._log.bind(nhn_region=key.region, tenant_id=key.tenant_id)
        old = before.observations if before is not None else {}
        observations = observe(old, result.gateways, now)
        if before is not None and not before.up:
            log.info(
                "target_recovered",
                tenant=outcome.tenant.name,
                down_since_error=before.error,
                gateways=len(observations),
            )
        if before is None or not before.ever_succeeded:
            # The first answer is the baseline, not a burst of "added" events.
            log.info("target_baseline", tenant=outcome.tenant.name, gateways=len(observations))
        else:
            self._log_transitions(log, key, old, observations)
        # Logged when first seen, not on every poll that still returns the bad item.
        already = set(before.skipped) if before is not None else set()
        for reason in result.skipped:
            if reason not in already:
                log.warning("gateway_skipped", reason=reason)
        return TargetStatus(
            key=key,
            tenant_name=outcome.tenant.name,
            up=True,
            error="",
            last_success=now,
            duration=outcome.duration,
            observations=observations,
            exported=True,
            ever_succeeded=True,
            skipped=result.skipped,
        )

    def _failed(self, before: TargetStatus | None, outcome: _Outcome, now: float) -> TargetStatus:
        key = outcome.key
        log = self._log.bind(nhn_region=key.region, tenant_id=key.tenant_id)
        if before is None or before.up:
            log.warning("target_down", tenant=outcome.tenant.name, error=outcome.error)
        base = before or TargetStatus(
            key=key,
            tenant_name=outcome.tenant.name,
            up=False,
            error="",
            last_success=None,
            duration=0.0,
        )
        last = base.last_success
        exported = last is not None and now - last <= self._poll.stale_after
        if base.exported and base.ever_succeeded and not exported:
            log.warning(
                "target_data_expired",
                gateways=len(base.observations),
                stale_after_seconds=self._poll.stale_after,
            )
        return replace(
            base,
            tenant_name=outcome.tenant.name,
            up=False,
            error=outcome.error,
            duration=outcome.duration,
            exported=exported,
        )

    def _log_transitions(
        self, log: Any, key: TargetKey, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> None:
        for change in diff(old, new):
            g = change.gateway
            self._metrics.transitions.labels(key.region, key.tenant_id, change.kind).inc()
            fields: dict[str, Any] = {"gateway_id": g.id, "gateway_name": g.name}
            if change.kind in ("state_changed", "migrate_status_changed"):
                fields["from"], fields["to"] = change.before, change.after
            else:
                fields["state"] = change.after or change.before
            if g.migrate_error:
                fields["migrate_error"] = g.migrate_error
            bad = change.after in _ERROR_VALUES or change.after.endswith("_error")
            (log.warning if bad else log.info)(f"gateway_{change.kind}", **fields)


def _unexpected(exc: BaseException) -> str:
    # The type only: an unexpected exception's text could carry anything.
    return f"internal error ({type(exc).__name__})"
