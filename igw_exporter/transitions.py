"""What changed for one target between two successful polls (pure functions, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .metrics import ADDED, MIGRATE_STATUS_CHANGED, REMOVED, STATE_CHANGED
from .models import Gateway, Observation


@dataclass(frozen=True, slots=True)
class Transition:
    kind: str  # one of metrics.ADDED, REMOVED, STATE_CHANGED, MIGRATE_STATUS_CHANGED
    gateway: Gateway
    before: str = ""
    after: str = ""


def observe(
    previous: Mapping[str, Observation], gateways: Iterable[Gateway], now: float
) -> dict[str, Observation]:
    """The new observations: ``state_since`` carries over while the state is unchanged."""
    observations: dict[str, Observation] = {}
    for gateway in gateways:
        seen = previous.get(gateway.id)
        since = (
            seen.state_since if seen is not None and seen.gateway.state == gateway.state else now
        )
        observations[gateway.id] = Observation(gateway, since)
    return observations


def diff(
    previous: Mapping[str, Observation], current: Mapping[str, Observation]
) -> list[Transition]:
    """Transitions in a stable order: by gateway id, removals after the rest."""
    changes: list[Transition] = []
    for gateway_id in sorted(current):
        now = current[gateway_id].gateway
        seen = previous.get(gateway_id)
        if seen is None:
            changes.append(Transition(ADDED, now, "", now.state))
            continue
        before = seen.gateway
        if before.state != now.state:
            changes.append(Transition(STATE_CHANGED, now, before.state, now.state))
        if before.migrate_status != now.migrate_status:
            changes.append(
                Transition(MIGRATE_STATUS_CHANGED, now, before.migrate_status, now.migrate_status)
            )
    for gateway_id in sorted(set(previous) - set(current)):
        gone = previous[gateway_id].gateway
        changes.append(Transition(REMOVED, gone, gone.state, ""))
    return changes
