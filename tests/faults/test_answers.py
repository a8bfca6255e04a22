"""Fault kinds 7-10, 15 and 16 of issue 4: answers that are HTTP 200 but odd."""

from __future__ import annotations

import json
import math
import random
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from igw_exporter.simulator import Fault, Simulator, bulk_populate, servers
from tests.faults.checks import (
    ALL_TARGETS,
    GATEWAY_FAMILIES,
    PROD,
    STG,
    TIMEOUT,
    FaultWatch,
    Key,
    assert_polls_bounded,
    assert_process_sound,
    gateway_ids,
    of,
    seed,
    up,
)
from tests.integration.harness import (
    parse,
    running_exporter,
    series,
    value,
    wait_for,
    write_config,
)
from tests.promtool import check_metrics

LIST = "/v2.0/internetgateways"


def config(tmp_path: Path, sim: Simulator, **kwargs: Any) -> Path:
    return write_config(tmp_path / "c.yml", sim, timeout=TIMEOUT, **kwargs)


def answer(body: object) -> Fault:
    return Fault(path_prefix=LIST, body=json.dumps(body), content_type="application/json")


def on(key: Key, fault: Fault) -> Fault:
    fault.service, fault.tenant_id = key
    return fault


def sample_lines(exposition: bytes) -> list[bytes]:
    return [line for line in exposition.splitlines() if line and not line.startswith(b"#")]


def test_07_valid_json_of_the_wrong_shape(sim: Simulator, tmp_path: Path) -> None:
    gateways = seed(sim)
    null, no_key, top_list = ("kr1", PROD), ("kr2", PROD), ("kr2", STG)
    bodies = {
        null: {"internetgateways": None},
        no_key: {"internet_gateways": gateways[no_key]},
        top_list: gateways[top_list],
    }
    with running_exporter(config(tmp_path, sim)) as exporter:
        watch = FaultWatch(exporter, bodies)
        faults = [sim.add_fault(on(key, answer(body))) for key, body in bodies.items()]
        samples = watch.wait_down()
        watch.check_reasons(
            {
                null: "'internetgateways' is null, not a list",
                no_key: "answer has no 'internetgateways' key",
                top_list: "answer is a JSON list, not an object",
            }
        )
        # The status page shows the reason too (escaped).
        assert "&#x27;internetgateways&#x27; is null, not a list" in exporter.get("/").text
        # The HTTP exchanges themselves succeeded: those answers are counted as 200s.
        assert watch.delta(samples, "kr1", "200") >= 2
        assert watch.delta(samples, "kr2", "200") >= 2
        for fault in faults:
            sim.remove_fault(fault)
        watch.wait_recovered()
        assert watch.events("gateway_removed") == []


def test_07_a_list_of_strings_is_the_wrong_shape(sim: Simulator, tmp_path: Path) -> None:
    gateways = seed(sim)
    key = ("kr1", STG)
    with running_exporter(config(tmp_path, sim)) as exporter:
        watch = FaultWatch(exporter, [key])
        fault = sim.add_fault(on(key, answer({"internetgateways": ["igw-web", "igw-batch"]})))
        try:
            # Not one usable gateway: the answer is of the wrong shape. It must fail
            # the target (last-known gateways kept, stale), not read as "every
            # gateway was deleted" (which would resolve the alerts on them).
            watch.wait_down()
        finally:
            removed = watch.events("gateway_removed")
            assert removed == [], f"{len(removed)} gateways reported deleted: {removed[0]}"
        [down] = watch.events("target_down")
        assert "internetgateways" in down["error"]
        watch.check_reasons(down["error"])
        sim.remove_fault(fault)
        after = watch.wait_recovered()
        assert gateway_ids(after, key) == {str(g["id"]) for g in gateways[key]}


def test_08_bad_items_duplicates_and_shared_ids(sim: Simulator, tmp_path: Path) -> None:
    gateways = seed(sim)
    prod, stg = ("kr1", PROD), ("kr1", STG)
    a, b = gateways[prod]
    prod_items = [
        a,
        {"name": "igw-without-id", "state": "available"},
        {"id": 12345, "name": "igw-numeric-id", "state": "available"},
        dict(b, name=42, routingtable_id=7, external_network_id=3.5, create_time=1739234658),
        dict(a, name="igw-duplicate-of-a", state="error"),
    ]
    # The same gateway id listed by another tenant too.
    stg_items = [dict(a, tenant_id=STG), *gateways[stg]]
    untouched = [k for k in ALL_TARGETS if k[0] != "kr1"]
    with running_exporter(config(tmp_path, sim)) as exporter:
        watch = FaultWatch(exporter, [], targets=untouched)
        faults = [
            sim.add_fault(on(prod, answer({"internetgateways": prod_items}))),
            sim.add_fault(on(stg, answer({"internetgateways": stg_items}))),
        ]
        wait_for(lambda: all(f.served >= 1 for f in faults))
        exporter.wait_cycles(1)
        first = exporter.raw_metrics()
        exporter.wait_cycles(2)
        second = exporter.raw_metrics()
        samples = parse(second.decode())
        watch.check_contained(samples)
        for key in ALL_TARGETS:
            assert up(samples, key) == 1
        # Every usable item exported once, the first of duplicates kept.
        assert gateway_ids(samples, prod) == {a["id"], b["id"]}
        assert gateway_ids(samples, stg) == {a["id"]} | {g["id"] for g in gateways[stg]}
        [info_a] = series(samples, "nhncloud_igw_info", tenant_id=PROD, id=a["id"])
        assert info_a["name"] == a["name"]
        assert value(samples, "nhncloud_igw_state", tenant_id=PROD, id=a["id"], state="error") == 0
        [info_b] = series(samples, "nhncloud_igw_info", tenant_id=PROD, id=b["id"])
        assert (info_b["name"], info_b["routingtable_id"], info_b["external_network_id"]) == (
            "42",
            "7",
            "3.5",
        )
        # A number is not a create_time: absent, not a guess.
        assert series(samples, "nhncloud_igw_created_timestamp_seconds", id=b["id"]) == []
        [shared] = series(samples, "nhncloud_igw_info", tenant_id=STG, id=a["id"])
        assert shared["tenant"] == "staging"
        # No series written twice, and the same answer gives the same exposition.
        lines = sample_lines(second)
        assert len(lines) == len(set(lines))
        assert check_metrics(second) == ""

        def stable(exposition: bytes) -> set[bytes]:
            return {
                line
                for line in sample_lines(exposition)
                if line.startswith(tuple(f.encode() for f in GATEWAY_FAMILIES))
                and not line.startswith(b"nhncloud_igw_age_seconds")
            }

        assert stable(first) == stable(second)
        # One line per reason, not one per poll.
        skipped = sorted((e["tenant_id"], e["reason"]) for e in watch.events("gateway_skipped"))
        assert skipped == [
            (PROD, "item 1: item has no id"),
            (PROD, "item 2: item id is number, not a string"),
            (PROD, f"item 4: duplicate id {a['id']!r}"),
        ]
        assert watch.events("target_down") == []
        for fault in faults:
            sim.remove_fault(fault)


NAMES = {
    "quotes": "igw \"edge\" 'prod'",
    "backslashes": "C:\\igw\\path\\",
    "newlines": "igw\nsecond line\n",
    "label syntax": 'igw{name="x"},state="error"} 1',
    "emoji": "igw-\U0001f680-\u6771\u4eac-prod",
    "500 characters": "igw-" + "\u9577" * 496,
}


def test_09_names_that_need_escaping_are_exported_intact(sim: Simulator, tmp_path: Path) -> None:
    seed(sim)
    key = ("kr1", PROD)
    with running_exporter(config(tmp_path, sim)) as exporter:
        watch = FaultWatch(exporter, [], targets=[k for k in ALL_TARGETS if k != key])
        created = {
            kind: sim.create_gateway("kr1", PROD, name=name, state="available")
            for kind, name in NAMES.items()
        }
        wait_for(
            lambda: of(exporter.scrape(), "igw_exporter_target_gateways", key) == 2 + len(NAMES)
        )
        raw = exporter.raw_metrics()
        assert check_metrics(raw) == ""
        samples = parse(raw.decode())
        for kind, gateway in created.items():
            [info] = series(samples, "nhncloud_igw_info", id=gateway["id"])
            assert info["name"] == NAMES[kind], kind
            assert value(samples, "nhncloud_igw_state", id=gateway["id"], state="available") == 1
        assert len(NAMES["500 characters"]) == 500
        # Each sample is one line: nothing in a name can start a new series.
        lines = sample_lines(raw)
        assert len(lines) == len(samples)
        # The log carries the names intact too (one JSON object per line).
        added = {e["gateway_id"]: e["gateway_name"] for e in watch.events("gateway_added")}
        assert added == {g["id"]: NAMES[kind] for kind, g in created.items()}
        assert exporter.raw_metrics(gzip_ok=True).startswith(raw[: raw.index(b"# HELP igw_")])
        watch.check_contained(exporter.scrape())
        assert watch.events("target_down") == [] and watch.events("gateway_skipped") == []


def _utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_10_create_time_in_every_spelling(sim: Simulator, tmp_path: Path) -> None:
    seed(sim)
    tomorrow = datetime.fromtimestamp(time.time() + 86400, UTC).strftime("%Y-%m-%d %H:%M:%S")
    spellings: dict[str, tuple[object, float | None]] = {
        "documented": ("2025-02-11 00:44:18", 1739234658.0),
        "microseconds": ("2025-02-11 00:44:18.250000", 1739234658.25),
        "T and Z": ("2025-02-11T00:44:18Z", 1739234658.0),
        "offset": ("2025-02-11T09:44:18+09:00", 1739234658.0),
        "future": (tomorrow, _utc(tomorrow)),
        "far future": ("9999-12-31 23:59:59", 253402300799.0),
        "epoch": ("1970-01-01 00:00:00", 0.0),
        "far past": ("0001-01-01 00:00:00", -62135596800.0),
        "garbage": ("yesterday", None),
        "impossible date": ("2025-13-45 25:61:61", None),
        "empty": ("", None),
        "null": (None, None),
        "number": (1739234658, None),
    }
    ids = {}
    for kind, (raw, _) in spellings.items():
        gateway = sim.create_gateway("kr1", PROD, name=f"igw-{kind}", state="available")
        sim.update_gateway("kr1", gateway["id"], create_time=raw)
        ids[kind] = gateway["id"]
    missing = sim.create_gateway("kr1", PROD, name="igw-missing", state="available")
    sim.drop_gateway_fields("kr1", missing["id"], "create_time")
    spellings["missing"], ids["missing"] = (None, None), missing["id"]
    with running_exporter(config(tmp_path, sim)) as exporter:
        exporter.wait_cycles(1)
        raw = exporter.raw_metrics()
        assert check_metrics(raw) == ""
        samples = parse(raw.decode())
        key = ("kr1", PROD)
        polled = of(samples, "igw_exporter_target_last_success_timestamp_seconds", key)
        assert polled is not None
        for kind, (_, expected) in spellings.items():
            gid = ids[kind]
            # Bad or missing timestamps never hide the gateway.
            assert value(samples, "nhncloud_igw_state", id=gid, state="available") == 1, kind
            created = value(samples, "nhncloud_igw_created_timestamp_seconds", id=gid)
            age = value(samples, "nhncloud_igw_age_seconds", id=gid)
            if expected is None:
                assert (created, age) == (None, None), kind
                continue
            assert created == expected, kind
            assert age is not None and math.isfinite(age) and age >= 0, (kind, age)
            assert abs(age - max(0.0, polled - expected)) < 0.01, (kind, age)
            since = value(samples, "nhncloud_igw_state_since_timestamp_seconds", id=gid)
            assert since is not None and since <= time.time(), kind
        assert value(samples, "nhncloud_igw_age_seconds", id=ids["future"]) == 0
        assert exporter.events("target_down") == [] and exporter.events("gateway_skipped") == []
        assert_process_sound(exporter)


def test_15_pagination_loop_and_endless_chain_are_bounded(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The simulator's handler leaves Nagle's algorithm on: with the client's delayed
    # ACKs every answer then costs about 40 ms, and 101 pages would need 4 s. Real
    # servers (nginx: tcp_nodelay on) answer at once; so does the simulator here.
    monkeypatch.setattr(servers._Handler, "disable_nagle_algorithm", True)
    gateways = seed(sim)
    loop, chain = ("kr1", PROD), ("kr2", STG)
    # 2 + 100 gateways: one page each is 102 pages, over the 100-page bound.
    bulk_populate(sim, "kr2", STG, 100, random.Random(15))
    timeout = 2.0  # 100 requests within the deadline, even on a busy machine
    targets = [k for k in ALL_TARGETS if k[0] != "jp1"]
    with running_exporter(
        write_config(tmp_path / "c.yml", sim, timeout=timeout, regions=["kr1", "kr2"])
    ) as exporter:
        watch = FaultWatch(exporter, [loop, chain], targets=targets, timeout=timeout)
        self_link = {
            "internetgateways": gateways[loop],
            "internetgateways_links": [{"rel": "next", "href": sim.endpoint("kr1") + LIST}],
        }
        fault = sim.add_fault(on(loop, answer(self_link)))
        requests_before = sim.request_count("kr2", LIST)
        # Every target now pages; the small ones (2 gateways) take 2 pages.
        sim.page_size = 1
        samples = watch.wait_down(polls=1)
        watch.check_reasons(
            {
                loop: "pagination loops back to a page already read",
                chain: "more than 100 pages of gateways",
            }
        )
        polls = (value(samples, "igw_exporter_polls_total") or 0) - watch.cycles_before
        # Bounded: the looping page is read once per poll, the chain at most 100
        # pages per poll (plus the pages of the other kr2 tenant).
        assert fault.served <= polls + 2
        assert sim.request_count("kr2", LIST) - requests_before <= (polls + 2) * (100 + 3)
        sim.remove_fault(fault)
        sim.page_size = None
        watch.wait_recovered()
        # The pages were read fine; it is their links that fail the target.
        assert watch.delta(samples, "kr1", "200") >= 1
        assert watch.delta(samples, "kr2", "200") >= 100


def _polls(raw: bytes) -> float:
    """``igw_exporter_polls_total`` without parsing 750,000 samples."""
    start = raw.index(b"\nigw_exporter_polls_total ") + len(b"\nigw_exporter_polls_total ")
    return float(raw[start : raw.index(b"\n", start)])


def test_16_fifty_thousand_gateways_in_one_answer(sim: Simulator, tmp_path: Path) -> None:
    count = 50_000
    key = ("kr1", PROD)
    bulk_populate(sim, "kr1", PROD, count, random.Random(16))
    timeout = 10.0
    path = write_config(
        tmp_path / "c.yml", sim, interval=4, timeout=timeout, regions=["kr1", "kr2"]
    )
    with running_exporter(path) as exporter:
        first = _polls(exporter.raw_metrics())
        # A scrape while the next poll reads and parses the 50k answer is still fast.
        requests_before = sim.request_count("kr1", LIST)
        wait_for(lambda: sim.request_count("kr1", LIST) > requests_before, timeout=10)
        start = time.monotonic()
        exporter.raw_metrics()
        during_poll = time.monotonic() - start
        # The exposition is 135 MB: no full parse here, it would take a minute.
        wait_for(lambda: _polls(exporter.raw_metrics()) > first, timeout=4 + 2 * timeout)
        start = time.monotonic()
        raw = exporter.raw_metrics()
        plain = time.monotonic() - start
        start = time.monotonic()
        zipped = exporter.raw_metrics(gzip_ok=True)
        gzipped = time.monotonic() - start
        assert max(during_poll, plain, gzipped) < 5.0, (during_poll, plain, gzipped)
        # Complete: every gateway, once, in every family.
        info = re.findall(rb'\nnhncloud_igw_info\{[^\n]*?,id="([^"]+)"', raw)
        assert len(info) == len(set(info)) == count
        assert raw.count(b"\nnhncloud_igw_state{") == 4 * count
        assert raw.count(b"\nnhncloud_igw_migrate_status{") == 5 * count
        assert raw.count(b"\nnhncloud_igw_state_since_timestamp_seconds{") == count
        cut = raw.index(b"# HELP igw_exporter_api_requests_total")
        assert zipped[:cut] == raw[:cut]
        # The small families, parsed without the gateway samples.
        small = parse(raw[raw.index(b"# HELP igw_exporter_target_up") :].decode())
        assert up(small, key) == 1
        assert of(small, "igw_exporter_target_gateways", key) == count
        assert_polls_bounded(small, [key], timeout)
        rss = value(small, "process_resident_memory_bytes")
        assert rss is not None and rss < 1024**3, rss
        assert exporter.events("target_down") == []
        assert_process_sound(exporter)
