"""Domain values: gateways as read from the API, targets, and per-poll snapshots.

This module imports nothing from the package, so every other module may use it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Documented values from the API guide. Anything else the API returns is kept as-is
# (lower-cased), because a new state is exactly the kind of thing an operator must see.
STATES: tuple[str, ...] = ("available", "unavailable", "migrating", "error")
MIGRATE_STATUSES: tuple[str, ...] = (
    "none",
    "unbinding_progress",
    "unbinding_error",
    "binding_progress",
    "binding_error",
)

UNKNOWN = "unknown"

# A string field longer than this is cut: a label value of megabytes would be an
# attack on the Prometheus server, not a gateway name.
MAX_FIELD_LENGTH = 1024


class ParseError(ValueError):
    """A gateway item or an API answer is not of the documented shape."""


@dataclass(frozen=True, slots=True, order=True)
class TargetKey:
    """One (region, tenant) pair: the unit that is polled and reported on."""

    region: str
    tenant_id: str


@dataclass(frozen=True, slots=True)
class Gateway:
    """One internet gateway, normalised. Unknown fields of the API are dropped."""

    id: str
    name: str
    tenant_id: str
    external_network_id: str
    routingtable_id: str
    state: str
    migrate_status: str
    migrate_error: str
    create_time: float | None  # Unix seconds, UTC; None when missing or unparsable


@dataclass(frozen=True, slots=True)
class GatewayList:
    """The gateways of one answer, with a reason for every item that was skipped."""

    gateways: tuple[Gateway, ...]
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Observation:
    """A gateway as last seen by the exporter, with when it entered its current state."""

    gateway: Gateway
    state_since: float


@dataclass(frozen=True, slots=True)
class TargetStatus:
    """Everything known about one target after a poll cycle.

    ``observations`` always holds the last successfully polled gateways, so that a
    target that recovers is diffed against what was last seen; ``exported`` says
    whether they are still published (a failing target's data expires after
    ``stale_after``).
    """

    key: TargetKey
    tenant_name: str
    up: bool
    error: str  # short reason of the last failure; "" when up
    last_success: float | None  # Unix time of the last successful poll
    duration: float  # seconds the last poll took
    observations: Mapping[str, Observation] = field(default_factory=dict)
    exported: bool = True
    ever_succeeded: bool = False
    skipped: tuple[str, ...] = ()  # why items of the last answer were skipped

    @property
    def stale(self) -> bool:
        """True while published gateways come from an older poll than the last one."""
        return not self.up and self.exported and self.ever_succeeded

    @property
    def exported_count(self) -> int:
        return len(self.observations) if self.exported else 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The immutable result of one poll cycle. Readers never lock: it is swapped whole."""

    taken_at: float
    targets: Mapping[TargetKey, TargetStatus]
    cycle: int = 0

    @classmethod
    def empty(cls) -> Snapshot:
        return cls(taken_at=0.0, targets={}, cycle=0)


def normalize_value(raw: object) -> str:
    """Lower-case a state-like value; ``ERROR`` and ``error`` are the same state."""
    return _text(raw).strip().lower()


def parse_create_time(raw: object) -> float | None:
    """Read ``create_time`` as UTC Unix seconds.

    The API sends ``"2025-02-11 00:44:18"`` without a zone: it is UTC, never local
    time. Microseconds, a ``T`` separator and a ``Z`` or offset suffix are accepted
    too. Anything else gives None rather than an error: a bad timestamp must not
    hide the gateway.
    """
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not text or len(text) > 64:
        return None
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        value = parsed.timestamp()
    except (OverflowError, OSError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _text(raw: object) -> str:
    """A string field: strings as-is, numbers as text, null/absent as ""."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, str):
        value = raw
    elif isinstance(raw, int | float):
        value = repr(raw)
    else:
        raise ParseError(f"expected a string, got {type(raw).__name__}")
    return _valid_utf8(value[:MAX_FIELD_LENGTH])


def _valid_utf8(value: str) -> str:
    """JSON may carry lone surrogates (``"\\udc80"``), which cannot be encoded as
    UTF-8: one such name must not make the whole exposition unwritable."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


def parse_gateway(item: object) -> Gateway:
    """Normalise one item of ``internetgateways``; raise ParseError if it is unusable."""
    if not isinstance(item, Mapping):
        raise ParseError(f"item is {type(item).__name__}, not an object")
    gateway_id = item.get("id")
    if gateway_id is not None and not isinstance(gateway_id, str):
        raise ParseError(f"item id is {_json_kind(gateway_id)}, not a string")
    if not isinstance(gateway_id, str) or not gateway_id.strip():
        raise ParseError("item has no id")
    try:
        return Gateway(
            id=_valid_utf8(gateway_id.strip()[:MAX_FIELD_LENGTH]),
            name=_text(item.get("name")),
            tenant_id=_text(item.get("tenant_id")),
            external_network_id=_text(item.get("external_network_id")),
            routingtable_id=_text(item.get("routingtable_id")),
            # A missing value is shown as "unknown", not as an empty label.
            state=normalize_value(item.get("state")) or UNKNOWN,
            migrate_status=normalize_value(item.get("migrate_status")) or UNKNOWN,
            migrate_error=_text(item.get("migrate_error")),
            create_time=parse_create_time(item.get("create_time")),
        )
    except ParseError as exc:
        raise ParseError(f"gateway {gateway_id[:64]!r}: {exc}") from None


def parse_gateway_list(body: object) -> GatewayList:
    """Parse a list answer. A body not of the documented shape raises ParseError;
    single bad items are skipped and reported, the rest kept."""
    return parse_items(gateway_items(body))


def gateway_items(body: object) -> list[object]:
    """The raw ``internetgateways`` items of one answer; ParseError if it has none."""
    if not isinstance(body, Mapping):
        raise ParseError(f"answer is a JSON {_json_kind(body)}, not an object")
    if "internetgateways" not in body:
        raise ParseError("answer has no 'internetgateways' key")
    items = body["internetgateways"]
    if not isinstance(items, list):
        raise ParseError(f"'internetgateways' is {_json_kind(items)}, not a list")
    return items


def parse_items(items: list[object]) -> GatewayList:
    """Parse raw items, skipping (with a reason) the unusable ones.

    Duplicate ids keep their first occurrence, so the result is deterministic and no
    series is written twice.
    """
    gateways: list[Gateway] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        try:
            gateway = parse_gateway(item)
        except ParseError as exc:
            skipped.append(f"item {index}: {exc}")
            continue
        if gateway.id in seen:
            skipped.append(f"item {index}: duplicate id {gateway.id[:64]!r}")
            continue
        seen.add(gateway.id)
        gateways.append(gateway)
    if items and not gateways:
        # Not one usable item: the answer is not a list of gateways at all. Taking it
        # as "every gateway deleted" would resolve every alert on them.
        raise ParseError(f"no usable item among the {len(items)} of 'internetgateways'")
    return GatewayList(tuple(gateways), tuple(skipped))


def next_link(body: Mapping[str, Any]) -> str | None:
    """The ``rel=next`` href of ``internetgateways_links``, if any.

    Pagination is not documented; Neutron-style links are followed if they appear.
    """
    links = body.get("internetgateways_links")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, Mapping) and link.get("rel") == "next":
            href = link.get("href")
            if isinstance(href, str) and href:
                return href
    return None


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "object" if isinstance(value, Mapping) else type(value).__name__
