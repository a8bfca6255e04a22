"""Parsing gateways as the API guide shows them, and the quirks the notes warn about."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from igw_exporter.models import (
    Gateway,
    ParseError,
    next_link,
    parse_create_time,
    parse_gateway,
    parse_gateway_list,
)
from tests.conftest import guide_json

GUIDE_CREATED = datetime(2025, 2, 11, 0, 44, 18, tzinfo=UTC).timestamp()


def test_guide_list_example() -> None:
    result = parse_gateway_list(guide_json("list.json"))
    assert result.skipped == ()
    assert result.gateways == (
        Gateway(
            id="71f8e19a-8af3-4d3f-9b0e-b45a547fd7a7",
            name="ig-7ef985c1-8568",
            tenant_id="130f20670ac34949b64b10ad8a5989c8",
            external_network_id="50687905-7b9d-423a-b929-ab8b296a7f35",
            routingtable_id="7ef985c1-8568-4faa-a1ce-6a7116ba0e4d",
            state="available",
            migrate_status="none",
            migrate_error="",
            create_time=GUIDE_CREATED,
        ),
    )


def test_guide_show_example_has_same_item() -> None:
    shown = parse_gateway(guide_json("show.json")["internetgateway"])
    assert shown == parse_gateway_list(guide_json("list.json")).gateways[0]


def test_guide_create_example_lacks_routingtable_and_migrate_error() -> None:
    created = parse_gateway(guide_json("create.json")["internetgateway"])
    assert created.state == "unavailable"
    assert created.routingtable_id == ""
    assert created.migrate_error == ""
    assert created.create_time == GUIDE_CREATED


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-02-11 00:44:18", GUIDE_CREATED),
        ("2025-02-11 00:44:18.037777", GUIDE_CREATED + 0.037777),
        ("2025-02-11T00:44:18Z", GUIDE_CREATED),
        ("2025-02-11T09:44:18+09:00", GUIDE_CREATED),
        ("garbage", None),
        ("", None),
        (None, None),
        (1739234658, None),
        ("9999-99-99 00:00:00", None),
    ],
)
def test_create_time_is_utc_whatever_the_spelling(raw: object, expected: float | None) -> None:
    value = parse_create_time(raw)
    if expected is None:
        assert value is None
    else:
        assert value == pytest.approx(expected)


def test_create_time_does_not_depend_on_local_timezone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "Asia/Seoul")
    time.tzset()
    try:
        assert parse_create_time("2025-02-11 00:44:18") == GUIDE_CREATED
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_state_values_are_lower_cased_and_unknown_values_kept() -> None:
    item = dict(guide_json("list.json")["internetgateways"][0])
    item.update(state="ERROR", migrate_status="Rebalancing", extra_field={"x": 1})
    gateway = parse_gateway(item)
    assert gateway.state == "error"
    assert gateway.migrate_status == "rebalancing"


def test_bad_items_are_skipped_and_the_rest_kept() -> None:
    good = guide_json("list.json")["internetgateways"][0]
    body = {
        "internetgateways": [
            "not an object",
            {"name": "no id"},
            good,
            dict(good, name="duplicate"),
            {"id": "x", "name": {"nested": True}},
        ]
    }
    result = parse_gateway_list(body)
    assert [g.name for g in result.gateways] == ["ig-7ef985c1-8568"]
    assert len(result.skipped) == 4
    assert "duplicate id" in result.skipped[2]


def test_numbers_where_strings_belong_are_kept_as_text() -> None:
    gateway = parse_gateway({"id": "a", "name": 42, "routingtable_id": None})
    assert gateway.name == "42"
    assert gateway.routingtable_id == ""


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "list"),
        (None, "null"),
        ({}, "no 'internetgateways'"),
        ({"internetgateways": None}, "null"),
        ({"internetgateways": {"id": "x"}}, "object"),
    ],
)
def test_wrong_shape_raises_parse_error(body: object, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_gateway_list(body)


def test_next_link() -> None:
    assert next_link({"internetgateways": []}) is None
    assert next_link({"internetgateways_links": [{"rel": "previous", "href": "a"}]}) is None
    assert next_link({"internetgateways_links": [{"rel": "next", "href": "http://x/y"}]}) == (
        "http://x/y"
    )


def test_lone_surrogates_are_replaced_not_fatal() -> None:
    import json

    item = json.loads('{"id": "a\\udc80", "name": "bad \\udc80 name", "state": "av\\ud800"}')
    gateway = parse_gateway(item)
    for text in (gateway.id, gateway.name, gateway.state):
        text.encode("utf-8")  # would raise on a lone surrogate
    assert gateway.name == "bad ? name"


def test_a_list_with_no_usable_item_is_the_wrong_shape() -> None:
    # Read as "every gateway deleted", it would resolve every alert on them.
    with pytest.raises(ParseError, match="no usable item among the 2"):
        parse_gateway_list({"internetgateways": ["igw-web", "igw-batch"]})
    assert parse_gateway_list({"internetgateways": []}).gateways == ()


def test_a_numeric_id_is_named_as_such() -> None:
    with pytest.raises(ParseError, match="item id is number, not a string"):
        parse_gateway({"id": 42})
