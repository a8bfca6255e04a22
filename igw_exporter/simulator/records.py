"""Gateway records shaped exactly like the API guide's examples."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

Record = dict[str, Any]

# Documented values (API guide v2). Tests may still store anything else.
STATES = ("available", "unavailable", "migrating", "error")
MIGRATE_STATUSES = (
    "none",
    "unbinding_progress",
    "unbinding_error",
    "binding_progress",
    "binding_error",
)

CREATE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_create_time(value: datetime | str | None) -> str:
    """``"YYYY-MM-DD HH:MM:SS"`` in UTC with no zone marker, as NHN sends it.

    A ``str`` is stored verbatim so tests can use odd formats (microseconds...).
    A naive ``datetime`` is taken to be UTC already.
    """
    if isinstance(value, str):
        return value
    moment = utc_now() if value is None else value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(CREATE_TIME_FORMAT)


def new_uuid() -> str:
    return str(uuid.uuid4())


def default_name(gateway_id: str) -> str:
    # Mirrors the console's default naming seen in the guide ("ig-7ef985c1-8568").
    return "ig-" + gateway_id[:13]


def gateway_record(
    *,
    gateway_id: str,
    name: str,
    external_network_id: str,
    tenant_id: str,
    state: str,
    migrate_status: str,
    routingtable_id: str | None,
    migrate_error: str | None,
    create_time: str,
) -> Record:
    """A full record in the guide's list/show key order."""
    return {
        "id": gateway_id,
        "name": name,
        "external_network_id": external_network_id,
        "routingtable_id": routingtable_id,
        "state": state,
        "create_time": create_time,
        "tenant_id": tenant_id,
        "migrate_status": migrate_status,
        "migrate_error": migrate_error,
    }


def created_record(*, name: str, external_network_id: str, tenant_id: str) -> Record:
    """A record as ``POST /v2.0/internetgateways`` returns it.

    The guide's create example has no ``routingtable_id`` / ``migrate_error``
    keys at all; keeping them absent lets clients be tested against that.
    """
    return {
        "id": new_uuid(),
        "name": name,
        "external_network_id": external_network_id,
        "state": "unavailable",
        "create_time": format_create_time(None),
        "tenant_id": tenant_id,
        "migrate_status": "none",
    }
