"""For any input, the parsers return a value or raise their module's own error."""

from __future__ import annotations

import json

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from igw_exporter.config import ConfigError, parse_config
from igw_exporter.models import (
    Gateway,
    GatewayList,
    ParseError,
    parse_create_time,
    parse_gateway,
    parse_gateway_list,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=30,
)
gateway_like = st.fixed_dictionaries(
    {},
    optional={
        key: json_values
        for key in (
            "id",
            "name",
            "state",
            "migrate_status",
            "migrate_error",
            "routingtable_id",
            "external_network_id",
            "create_time",
            "tenant_id",
        )
    },
)


@given(json_values | gateway_like)
def test_parse_gateway_returns_a_gateway_or_raises_parse_error(item: object) -> None:
    try:
        gateway = parse_gateway(item)
    except ParseError:
        return
    assert isinstance(gateway, Gateway) and gateway.id
    assert gateway.state == gateway.state.lower()


@given(
    json_values | st.fixed_dictionaries({"internetgateways": st.lists(gateway_like | json_values)})
)
def test_parse_gateway_list_returns_a_list_or_raises_parse_error(body: object) -> None:
    try:
        result = parse_gateway_list(body)
    except ParseError:
        return
    assert isinstance(result, GatewayList)
    ids = [g.id for g in result.gateways]
    assert len(ids) == len(set(ids))


@given(json_values | st.text() | st.datetimes().map(str))
def test_parse_create_time_returns_a_finite_float_or_none(raw: object) -> None:
    value = parse_create_time(raw)
    assert value is None or isinstance(value, float)


yaml_documents = st.one_of(
    st.text(max_size=300),
    json_values.map(yaml.safe_dump),
    st.fixed_dictionaries(
        {},
        optional={
            "identity": json_values,
            "tenants": json_values | st.lists(json_values),
            "poll": json_values
            | st.dictionaries(
                st.sampled_from(["interval", "timeout", "concurrency", "stale_after"]), json_values
            ),
            "regions": json_values,
            "endpoints": json_values,
        },
    ).map(json.dumps),
)


@settings(max_examples=300)
@given(yaml_documents)
def test_config_loader_returns_settings_or_raises_config_error(text: str) -> None:
    try:
        parse_config(text, "c.yml", {})
    except ConfigError as exc:
        assert exc.problems and all(p.startswith("c.yml") for p in exc.problems)
