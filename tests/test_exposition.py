"""The exposition built from a snapshot: byte-for-byte golden file, promtool-clean, gzip."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from igw_exporter.exposition import Body, gzip_join, render
from igw_exporter.models import Gateway, Observation, Snapshot, TargetKey, TargetStatus
from tests.promtool import check_metrics

GOLDEN = Path(__file__).parent / "fixtures" / "golden" / "snapshot.prom"
T1 = "130f20670ac34949b64b10ad8a5989c8"
T2 = "0123456789abcdef0123456789abcdef"
NOW = 1764755000.0


def gw(gid: str, **fields: object) -> Gateway:
    base: dict[str, object] = {
        "id": gid,
        "name": f"igw-{gid}",
        "tenant_id": T1,
        "external_network_id": "ext-net",
        "routingtable_id": "rt-1",
        "state": "available",
        "migrate_status": "none",
        "migrate_error": "",
        "create_time": NOW - 86400.5,
    }
    base.update(fields)
    return Gateway(**base)  # type: ignore[arg-type]


def status(key: TargetKey, gateways: list[Gateway], **fields: object) -> TargetStatus:
    values: dict[str, object] = {
        "key": key,
        "tenant_name": "production" if key.tenant_id == T1 else "",
        "up": True,
        "error": "",
        "last_success": NOW,
        "duration": 0.25,
        "observations": {g.id: Observation(g, NOW - 60) for g in gateways},
        "exported": True,
        "ever_succeeded": True,
    }
    values.update(fields)
    return TargetStatus(**values)  # type: ignore[arg-type]


def sample_snapshot() -> Snapshot:
    kr1, jp1 = TargetKey("kr1", T1), TargetKey("jp1", T2)
    kr2, us1 = TargetKey("kr2", T1), TargetKey("us1", T1)
    targets = {
        kr1: status(
            kr1,
            [
                gw("a"),
                gw("b", state="error", routingtable_id="", create_time=None),
                gw("c", state="rebalancing", migrate_status="binding_error", migrate_error="boom"),
                gw("d", name='quote" back\\slash\nnewline 🚀', create_time=NOW + 3600),
            ],
        ),
        # Failing, still within stale_after: last values kept, stale.
        jp1: status(
            jp1, [gw("e", tenant_id=T2)], up=False, error="HTTP 503: down", last_success=NOW - 120
        ),
        # Failing past stale_after: gateways dropped.
        kr2: status(
            kr2, [gw("f")], up=False, error="timeout", last_success=NOW - 900, exported=False
        ),
        # Never succeeded.
        us1: status(
            us1,
            [],
            up=False,
            error="authentication failed",
            last_success=None,
            ever_succeeded=False,
            exported=False,
        ),
    }
    return Snapshot(taken_at=NOW, targets=targets, cycle=7)


def test_exposition_matches_golden_file() -> None:
    text = render(sample_snapshot())
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_bytes(text)
    assert text == GOLDEN.read_bytes(), "run with UPDATE_GOLDEN=1 and review the diff"


def test_exposition_is_promtool_clean() -> None:
    assert check_metrics(render(sample_snapshot())) == ""


def test_values_parse_back() -> None:
    families = {
        f.name: f for f in text_string_to_metric_families(render(sample_snapshot()).decode())
    }
    states = {
        (s.labels["id"], s.labels["state"]): s.value for s in families["nhncloud_igw_state"].samples
    }
    # Documented states are one-hot; an undocumented one is added and is the 1.
    assert states[("a", "available")] == 1 and states[("a", "error")] == 0
    assert states[("b", "error")] == 1
    assert states[("c", "rebalancing")] == 1 and states[("c", "available")] == 0
    assert {gid for gid, _ in states} == {"a", "b", "c", "d", "e"}  # f dropped, us1 empty
    names = {s.labels["id"]: s.labels["name"] for s in families["nhncloud_igw_info"].samples}
    assert names["d"] == 'quote" back\\slash\nnewline 🚀'
    ages = {s.labels["id"]: s.value for s in families["nhncloud_igw_age_seconds"].samples}
    assert ages["a"] == 86400.5
    assert ages["d"] == 0  # created "in the future": never a negative age
    assert ages["e"] == 86400.5 - 120  # stale: age as of its last successful poll
    assert "b" not in ages
    up = {s.labels["nhn_region"]: s.value for s in families["igw_exporter_target_up"].samples}
    assert up == {"kr1": 1, "jp1": 0, "kr2": 0, "us1": 0}
    stale = {s.labels["nhn_region"]: s.value for s in families["igw_exporter_target_stale"].samples}
    assert stale == {"kr1": 0, "jp1": 1, "kr2": 0, "us1": 0}
    count = {
        s.labels["nhn_region"]: s.value for s in families["igw_exporter_target_gateways"].samples
    }
    assert count == {"kr1": 4, "jp1": 1, "kr2": 0, "us1": 0}
    last = {
        s.labels["nhn_region"]
        for s in families["igw_exporter_target_last_success_timestamp_seconds"].samples
    }
    assert last == {"kr1", "jp1", "kr2"}


def test_gzip_join_is_one_valid_gzip_member() -> None:
    head = Body.of(render(sample_snapshot()))
    tail = b"# HELP x y\n# TYPE x gauge\nx 1\n"
    joined = gzip_join(head, tail)
    assert gzip.decompress(joined) == head.data + tail
    # A single member: a reader that stops after the first member sees everything.
    import zlib

    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert decompressor.decompress(joined) == head.data + tail
    assert decompressor.eof and decompressor.unused_data == b""
