"""Token provider and network client on recorded JSON (``responses``), no network."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests
import responses

from igw_exporter.auth import AuthError, TokenProvider, parse_catalog
from igw_exporter.client import NetworkClient
from igw_exporter.config import TenantSpec
from igw_exporter.log import Redactor
from igw_exporter.metrics import SelfMetrics
from igw_exporter.secret import Secret
from igw_exporter.transport import ApiError, Caller
from tests.conftest import guide_json

IDENTITY = "https://identity.example"
KR1 = "https://kr1-api-network-infrastructure.nhncloudservice.com"
TENANT = TenantSpec(
    "130f20670ac34949b64b10ad8a5989c8",
    "production",
    None,
    "ops@example.com",
    Secret("api-password"),
)


def token_body(token_id: str = "tok-1", expires: str = "2099-01-01T00:00:00Z") -> dict[str, object]:
    body = guide_json("token.json")  # shaped as in nhn-api-notes.md section 1
    body["access"]["token"]["id"] = token_id
    body["access"]["token"]["expires"] = expires
    return body


def make(
    timeout: float = 2.0, sleeps: list[float] | None = None
) -> tuple[NetworkClient, TokenProvider, SelfMetrics]:
    metrics = SelfMetrics()
    caller = Caller(
        requests.Session(),
        metrics,
        timeout,
        sleep=(sleeps.append if sleeps is not None else time.sleep),
    )
    tokens = TokenProvider(IDENTITY, caller, Redactor(), failure_backoff=30.0)
    return NetworkClient(caller, tokens, {}), tokens, metrics


def deadline() -> float:
    return time.monotonic() + 10


def count(metrics: SelfMetrics, region: str, operation: str, code: str) -> float:
    value = metrics.registry.get_sample_value(
        "igw_exporter_api_requests_total",
        {"nhn_region": region, "operation": operation, "code": code},
    )
    return value or 0.0


def test_catalog_regions_are_case_insensitive_and_slash_stripped() -> None:
    catalog = parse_catalog(token_body()["access"]["serviceCatalog"])  # type: ignore[index]
    assert catalog == {
        "kr1": KR1,
        "jp1": "https://jp1-api-network-infrastructure.nhncloudservice.com",
    }


@responses.activate
def test_list_uses_catalog_endpoint_and_token() -> None:
    responses.post(f"{IDENTITY}/v2.0/tokens", json=token_body())
    listing = responses.get(f"{KR1}/v2.0/internetgateways", json=guide_json("list.json"))
    client, _, metrics = make()
    assert client.regions(TENANT, deadline()) == ("jp1", "kr1")
    result = client.list_gateways(TENANT, "kr1", deadline())
    assert [g.id for g in result.gateways] == ["71f8e19a-8af3-4d3f-9b0e-b45a547fd7a7"]
    assert listing.calls[0].request.headers["X-Auth-Token"] == "tok-1"
    sent = json.loads(responses.calls[0].request.body)  # type: ignore[arg-type]
    assert sent == {
        "auth": {
            "tenantId": TENANT.id,
            "passwordCredentials": {"username": "ops@example.com", "password": "api-password"},
        }
    }
    assert count(metrics, "kr1", "list_internetgateways", "200") == 1
    assert count(metrics, "global", "issue_token", "200") == 1
    assert (
        metrics.registry.get_sample_value(
            "igw_exporter_token_expiry_timestamp_seconds", {"tenant_id": TENANT.id}
        )
        == 4070908800.0
    )


@responses.activate
@pytest.mark.parametrize(
    ("lifetime", "reuse_until"),
    [(43200.0, 43200.0 - 300), (120.0, 90.0)],  # 5 min margin; a quarter of a short life
)
def test_token_is_cached_until_shortly_before_expiry(lifetime: float, reuse_until: float) -> None:
    issued_at = 1_800_000_000.0
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(issued_at + lifetime))
    issue = responses.post(f"{IDENTITY}/v2.0/tokens", json=token_body("tok", expires))
    now = [issued_at]
    caller = Caller(requests.Session(), SelfMetrics(), 2.0)
    tokens = TokenProvider(
        IDENTITY, caller, Redactor(), failure_backoff=30.0, wall_clock=lambda: now[0]
    )
    tokens.get(TENANT, deadline())
    now[0] = issued_at + reuse_until - 1
    tokens.get(TENANT, deadline())
    assert issue.call_count == 1
    now[0] = issued_at + reuse_until + 1
    tokens.get(TENANT, deadline())
    assert issue.call_count == 2


@responses.activate
def test_revoked_token_is_reissued_once_and_the_call_retried() -> None:
    responses.post(f"{IDENTITY}/v2.0/tokens", json=token_body("old"))
    responses.post(f"{IDENTITY}/v2.0/tokens", json=token_body("new"))
    responses.get(
        f"{KR1}/v2.0/internetgateways",
        status=401,
        json={"error": {"code": 401, "title": "Unauthorized", "message": "x"}},
    )
    responses.get(f"{KR1}/v2.0/internetgateways", json=guide_json("list.json"))
    client, _, metrics = make()
    assert len(client.list_gateways(TENANT, "kr1", deadline()).gateways) == 1
    sent = [
        c.request.headers.get("X-Auth-Token")
        for c in responses.calls
        if "internet" in c.request.url
    ]
    assert sent == ["old", "new"]
    assert count(metrics, "kr1", "list_internetgateways", "401") == 1


@responses.activate
def test_second_401_is_a_failure_not_a_loop() -> None:
    issue = responses.post(f"{IDENTITY}/v2.0/tokens", json=token_body())
    responses.get(f"{KR1}/v2.0/internetgateways", status=401, json={})
    client, _, _ = make()
    with pytest.raises(ApiError, match="HTTP 401"):
        client.list_gateways(TENANT, "kr1", deadline())
    assert issue.call_count == 2


@responses.activate
def test_wrong_password_is_reported_and_not_hammered() -> None:
    issue = responses.post(
        f"{IDENTITY}/v2.0/tokens",
        status=401,
        json={
            "error": {"code": 401, "message": "The request you have made requires authentication."}
        },
    )
    client, _, _ = make()
    for _ in range(5):
        with pytest.raises(AuthError, match=r"^authentication failed$"):
            client.list_gateways(TENANT, "kr1", deadline())
    assert issue.call_count == 1


@responses.activate
def test_concurrent_callers_share_one_token_request() -> None:
    def slow_token(_request: object) -> tuple[int, dict[str, str], str]:
        time.sleep(0.3)
        return 200, {}, json.dumps(token_body())

    responses.add_callback(responses.POST, f"{IDENTITY}/v2.0/tokens", callback=slow_token)
    _, tokens, _ = make()
    threads = [threading.Thread(target=tokens.get, args=(TENANT, deadline())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(responses.calls) == 1


@responses.activate
def test_region_missing_from_catalog_fails_that_call_only() -> None:
    responses.post(f"{IDENTITY}/v2.0/tokens", json=token_body())
    client, _, _ = make()
    with pytest.raises(ApiError, match="'kr2' has no network endpoint in the service catalog"):
        client.list_gateways(TENANT, "kr2", deadline())


@responses.activate
def test_configured_endpoint_overrides_catalog() -> None:
    responses.post(f"{IDENTITY}/v2.0/tokens", json=token_body())
    responses.get("https://override.example/v2.0/internetgateways", json={"internetgateways": []})
    metrics = SelfMetrics()
    caller = Caller(requests.Session(), metrics, 2.0)
    tokens = TokenProvider(IDENTITY, caller, Redactor(), failure_backoff=30.0)
    client = NetworkClient(
        caller, tokens, {"kr1": "https://override.example", "kr3": "https://kr3.example"}
    )
    assert client.list_gateways(TENANT, "kr1", deadline()).gateways == ()
    assert client.regions(TENANT, deadline()) == ("jp1", "kr1", "kr3")


@responses.activate
def test_429_honours_retry_after_then_succeeds() -> None:
    responses.post(f"{IDENTITY}/v2.0/tokens", json=token_body())
    responses.get(f"{KR1}/v2.0/internetgateways", status=429, headers={"Retry-After": "3"}, json={})
    responses.get(f"{KR1}/v2.0/internetgateways", json=guide_json("list.json"))
    sleeps: list[float] = []
    client, _, metrics = make(sleeps=sleeps)
    assert len(client.list_gateways(TENANT, "kr1", deadline()).gateways) == 1
    assert sleeps == [3.0]
    assert count(metrics, "kr1", "list_internetgateways", "429") == 1


@responses.activate
def test_5xx_retries_are_bounded_by_the_deadline() -> None:
    responses.post(f"{IDENTITY}/v2.0/tokens", json=token_body())
    responses.get(
        f"{KR1}/v2.0/internetgateways",
        status=503,
        body="<html><title>503 Service Unavailable</title></html>",
    )
    client, _, metrics = make()
    start = time.monotonic()
    with pytest.raises(ApiError, match=r"^HTTP 503: Service Unavailable$"):
        client.list_gateways(TENANT, "kr1", time.monotonic() + 2.0)
    assert time.monotonic() - start < 2.0
    assert count(metrics, "kr1", "list_internetgateways", "503") >= 2


@responses.activate
@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        ("<html>oops</html>", "text/html", "answer is not JSON (text/html): oops"),
        ('{"internetgateways": [', "application/json", "answer is not JSON"),
        ('{"internetgateways": null}', "application/json", "'internetgateways' is null"),
        ("[]", "application/json", "answer is a JSON list"),
    ],
)
def test_bad_bodies_fail_with_a_short_reason(body: str, content_type: str, reason: str) -> None:
    responses.post(f"{IDENTITY}/v2.0/tokens", json=token_body())
    responses.get(f"{KR1}/v2.0/internetgateways", body=body, content_type=content_type)
    client, _, metrics = make()
    with pytest.raises(ApiError) as caught:
        client.list_gateways(TENANT, "kr1", deadline())
    assert caught.value.reason.startswith(reason)
    assert caught.value.code == "invalid_response"
    assert count(metrics, "kr1", "list_internetgateways", "invalid_response") == (
        1 if "not JSON" in reason else 0
    )


@responses.activate
def test_pagination_is_followed_and_loops_are_caught() -> None:
    responses.post(f"{IDENTITY}/v2.0/tokens", json=token_body())
    item = guide_json("list.json")["internetgateways"][0]
    page1 = {
        "internetgateways": [item],
        "internetgateways_links": [
            {"rel": "next", "href": f"{KR1}/v2.0/internetgateways?marker=1"}
        ],
    }
    page2 = {"internetgateways": [dict(item, id="second")]}
    responses.get(
        f"{KR1}/v2.0/internetgateways?marker=1",
        json=page2,
        match=[responses.matchers.query_param_matcher({"marker": "1"})],
    )
    responses.get(
        f"{KR1}/v2.0/internetgateways",
        json=page1,
        match=[responses.matchers.query_param_matcher({})],
    )
    client, _, _ = make()
    assert [g.id for g in client.list_gateways(TENANT, "kr1", deadline()).gateways] == [
        item["id"],
        "second",
    ]

    loop = {
        "internetgateways": [],
        "internetgateways_links": [{"rel": "next", "href": f"{KR1}/v2.0/internetgateways"}],
    }
    responses.replace(responses.GET, f"{KR1}/v2.0/internetgateways", json=loop)
    with pytest.raises(ApiError, match="loops back"):
        client.list_gateways(TENANT, "kr1", deadline())


@responses.activate
def test_pagination_never_sends_the_token_to_another_host() -> None:
    responses.post(f"{IDENTITY}/v2.0/tokens", json=token_body())
    responses.get(
        f"{KR1}/v2.0/internetgateways",
        json={
            "internetgateways": [],
            "internetgateways_links": [{"rel": "next", "href": "https://evil.example/steal"}],
        },
    )
    client, _, _ = make()
    with pytest.raises(ApiError, match="another host"):
        client.list_gateways(TENANT, "kr1", deadline())
    assert all("evil" not in c.request.url for c in responses.calls)


@responses.activate
def test_a_token_due_for_refresh_is_used_while_identity_is_down() -> None:
    issued_at = 1_800_000_000.0
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(issued_at + 43200))
    responses.post(f"{IDENTITY}/v2.0/tokens", json=token_body("still-valid", expires))
    responses.post(f"{IDENTITY}/v2.0/tokens", status=503, body="down")
    now = [issued_at]
    caller = Caller(requests.Session(), SelfMetrics(), 2.0, sleep=lambda _s: None)
    tokens = TokenProvider(
        IDENTITY, caller, Redactor(), failure_backoff=30.0, wall_clock=lambda: now[0]
    )
    tokens.get(TENANT, deadline())
    now[0] = issued_at + 43200 - 100  # inside the refresh margin, not expired
    # Every caller gets the old token, the one that tried the refresh and the ones
    # within the backoff after its failure alike.
    for _ in range(3):
        assert tokens.get(TENANT, deadline()).value.reveal() == "still-valid"
    now[0] = issued_at + 43200 + 1  # expired: now the failure shows
    with pytest.raises(AuthError, match="identity service: HTTP 503"):
        tokens.get(TENANT, deadline())
