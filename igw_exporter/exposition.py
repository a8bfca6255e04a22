"""The text exposition of a snapshot, built once per poll and served as-is.

At 50,000 gateways the per-gateway families are about 750,000 samples. Building
them once per poll, as bytes and as pre-compressed deflate, makes a scrape cost
about what serving a file costs. Sample output::

    # HELP nhncloud_igw_state Internet gateway state, as of the last poll: 1 for ...
    # TYPE nhncloud_igw_state gauge
    nhncloud_igw_state{nhn_region="kr1",tenant_id="130f...",id="71f8...",name="ig-1",
        state="available"} 1
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from . import metrics as m
from .models import MIGRATE_STATUSES, STATES, Observation, Snapshot, TargetStatus

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_AS_OF = "as of the last poll"
_HELP = {
    m.IGW_INFO: f"Internet gateway metadata, {_AS_OF} (always 1).",
    m.IGW_STATE: f"Internet gateway state, {_AS_OF}: 1 for the current state, 0 for the others.",
    m.IGW_MIGRATE_STATUS: (
        f"Internet gateway maintenance migration status, {_AS_OF}: 1 for the current one."
    ),
    m.IGW_MIGRATE_ERROR: f"1 if the gateway reports a migration error message, {_AS_OF}.",
    m.IGW_CREATED: "When the internet gateway was created (create_time, UTC).",
    m.IGW_AGE: f"Seconds since the internet gateway was created, {_AS_OF}.",
    m.IGW_STATE_SINCE: (f"When the exporter first saw the gateway in its current state, {_AS_OF}."),
    m.TARGET_UP: f"1 if the last poll of this region and tenant succeeded, {_AS_OF}.",
    m.TARGET_LAST_SUCCESS: f"When this region and tenant was last polled successfully, {_AS_OF}.",
    m.TARGET_DURATION: f"How long the last poll of this region and tenant took, {_AS_OF}.",
    m.TARGET_GATEWAYS: f"Gateways exported for this region and tenant, {_AS_OF}.",
    m.TARGET_STALE: (
        f"1 while this target's gateways come from an older, successful poll, {_AS_OF}."
    ),
}


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _header(name: str) -> str:
    return f"# HELP {name} {_HELP[name]}\n# TYPE {name} gauge\n"


def _one_hot(label: str, documented: tuple[str, ...], value: str, labels: str) -> Iterable[str]:
    for known in documented:
        yield f'{labels},{label}="{known}"}} {1 if known == value else 0}\n'
    if value not in documented:
        yield f'{labels},{label}="{escape_label(value)}"}} 1\n'


def render(snapshot: Snapshot) -> bytes:
    """The whole snapshot part of /metrics, in a stable order."""
    targets = [snapshot.targets[key] for key in sorted(snapshot.targets)]
    # Label text of each gateway, computed once and shared by its seven families.
    labels: list[tuple[TargetStatus, str, Observation]] = []
    for status in targets:
        if not status.exported:
            continue
        target = (
            f'nhn_region="{escape_label(status.key.region)}",'
            f'tenant_id="{escape_label(status.key.tenant_id)}"'
        )
        for gateway_id in sorted(status.observations):
            o = status.observations[gateway_id]
            gw = f'id="{escape_label(gateway_id)}",name="{escape_label(o.gateway.name)}"'
            labels.append((status, f"{target},{gw}", o))
    out: list[str] = []

    out.append(_header(m.IGW_INFO))
    for status, lbl, o in labels:
        g = o.gateway
        out.append(
            f'{m.IGW_INFO}{{{lbl},tenant="{escape_label(status.tenant_name)}",'
            f'external_network_id="{escape_label(g.external_network_id)}",'
            f'routingtable_id="{escape_label(g.routingtable_id)}"}} 1\n'
        )
    out.append(_header(m.IGW_STATE))
    for _, lbl, o in labels:
        out.extend(_one_hot("state", STATES, o.gateway.state, f"{m.IGW_STATE}{{{lbl}"))
    out.append(_header(m.IGW_MIGRATE_STATUS))
    for _, lbl, o in labels:
        out.extend(
            _one_hot(
                "migrate_status",
                MIGRATE_STATUSES,
                o.gateway.migrate_status,
                f"{m.IGW_MIGRATE_STATUS}{{{lbl}",
            )
        )
    out.append(_header(m.IGW_MIGRATE_ERROR))
    for _, lbl, o in labels:
        out.append(f"{m.IGW_MIGRATE_ERROR}{{{lbl}}} {1 if o.gateway.migrate_error else 0}\n")
    out.append(_header(m.IGW_CREATED))
    for _, lbl, o in labels:
        if o.gateway.create_time is not None:
            out.append(f"{m.IGW_CREATED}{{{lbl}}} {_number(o.gateway.create_time)}\n")
    out.append(_header(m.IGW_AGE))
    for status, lbl, o in labels:
        created = o.gateway.create_time
        if created is not None and status.last_success is not None:
            # A create_time in the future (clock skew) is age 0, never negative.
            age = max(0.0, status.last_success - created)
            out.append(f"{m.IGW_AGE}{{{lbl}}} {_number(round(age, 3))}\n")
    out.append(_header(m.IGW_STATE_SINCE))
    for _, lbl, o in labels:
        out.append(f"{m.IGW_STATE_SINCE}{{{lbl}}} {_number(round(o.state_since, 3))}\n")

    _render_targets(out, targets)
    # "replace": models already cleaned the values; this is the second wall.
    return "".join(out).encode("utf-8", "replace")


def _render_targets(out: list[str], targets: list[TargetStatus]) -> None:
    labels = [
        (
            t,
            f'nhn_region="{escape_label(t.key.region)}",tenant_id="{escape_label(t.key.tenant_id)}",'
            f'tenant="{escape_label(t.tenant_name)}"',
        )
        for t in targets
    ]
    families: list[tuple[str, Callable[[TargetStatus], float | None]]] = [
        (m.TARGET_UP, lambda t: 1 if t.up else 0),
        (m.TARGET_LAST_SUCCESS, lambda t: t.last_success),
        (m.TARGET_DURATION, lambda t: round(t.duration, 6)),
        (m.TARGET_GATEWAYS, lambda t: t.exported_count),
        (m.TARGET_STALE, lambda t: 1 if t.stale else 0),
    ]
    for name, value in families:
        out.append(_header(name))
        for target, lbl in labels:
            v = value(target)
            if v is not None:
                out.append(f"{name}{{{lbl}}} {_number(float(v))}\n")


@dataclass(frozen=True, slots=True)
class Body:
    """Exposition bytes with their deflate form prepared for joining (see gzip_join)."""

    data: bytes
    deflated: bytes
    crc: int

    @classmethod
    def of(cls, data: bytes) -> Body:
        compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        # A sync flush ends on a byte boundary without a final block, so another
        # deflate stream can follow it inside the same gzip member.
        deflated = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        return cls(data, deflated, zlib.crc32(data))


_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def gzip_join(head: Body, tail: bytes) -> bytes:
    """One gzip member: the pre-compressed ``head`` then ``tail`` compressed now.

    This is how pigz and zlib's gzjoin join streams; only the small, per-scrape
    ``tail`` costs CPU at scrape time.
    """
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    rest = compressor.compress(tail) + compressor.flush(zlib.Z_FINISH)
    crc = zlib.crc32(tail, head.crc)
    size = (len(head.data) + len(tail)) & 0xFFFFFFFF
    return b"".join((_GZIP_HEADER, head.deflated, rest, struct.pack("<II", crc, size)))
