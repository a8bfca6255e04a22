"""The simulator's HTTP API, tokens, faults and reachability, over real HTTP."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from igw_exporter.simulator import Fault, Simulator

TENANT_A = "130f20670ac34949b64b10ad8a5989c8"
TENANT_B = "9d2c0e7f4b1a48c6a3e5f70812b4c6d9"
ROUTING_TABLE = "7ef985c1-8568-4faa-a1ce-6a7116ba0e4d"
TIMEOUT = 5.0


def token_body(tenant: str, username: str, password: str) -> dict[str, Any]:
    return {
        "auth": {
            "tenantId": tenant,
            "passwordCredentials": {"username": username, "password": password},
        }
    }


def issue(
    sim: Simulator, tenant: str = TENANT_A, user: str = "alice", password: str = "pw-a"
) -> requests.Response:
    return requests.post(
        sim.identity_url + "/v2.0/tokens",
        json=token_body(tenant, user, password),
        timeout=TIMEOUT,
    )


def token(sim: Simulator, tenant: str = TENANT_A) -> str:
    user, password = ("alice", "pw-a") if tenant == TENANT_A else ("bob", "pw-b")
    response = issue(sim, tenant, user, password)
    assert response.status_code == 200, response.text
    return str(response.json()["access"]["token"]["id"])


def gw_url(sim: Simulator, region: str = "kr1", suffix: str = "") -> str:
    return sim.endpoint(region) + "/v2.0/internetgateways" + suffix


def get(url: str, tok: str | None, **kwargs: Any) -> requests.Response:
    headers = {} if tok is None else {"X-Auth-Token": tok}
    kwargs.setdefault("timeout", TIMEOUT)
    return requests.get(url, headers=headers, **kwargs)


def make_sim(**kwargs: Any) -> Simulator:
    sim = Simulator(**kwargs)
    sim.add_user(TENANT_A, "alice", "pw-a", "production")
    sim.add_user(TENANT_B, "bob", "pw-b", "staging")
    return sim


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with make_sim() as s:
        yield s


# ----- identity -----


def test_token_issue_ok(sim: Simulator) -> None:
    response = issue(sim)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    access = response.json()["access"]
    tok = access["token"]
    assert len(tok["id"]) > 150
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", tok["expires"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", tok["issued_at"])
    assert tok["tenant"] == {
        "id": TENANT_A,
        "name": "production",
        "enabled": True,
        "description": None,
    }
    assert access["user"]["name"] == "alice"
    assert sim.issued_tokens() == [tok["id"]]
    assert sim.token_requests(TENANT_A) == 1
    assert sim.token_requests(TENANT_B) == 0
    assert sim.token_requests() == 1


def test_expires_reflects_token_lifetime() -> None:
    with make_sim(token_lifetime=3600.0) as s:
        tok = issue(s).json()["access"]["token"]
    expires = time.mktime(time.strptime(tok["expires"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs(expires - (time.time() + 3600)) < 5


def test_user_in_several_tenants() -> None:
    with make_sim() as s:
        s.add_user(TENANT_B, "alice", "pw-a")
        assert issue(s, TENANT_B, "alice", "pw-a").status_code == 200
        assert issue(s, TENANT_A, "alice", "pw-a").status_code == 200


@pytest.mark.parametrize(
    ("tenant", "user", "password"),
    [
        (TENANT_A, "alice", "wrong"),
        (TENANT_A, "mallory", "pw-a"),
        ("0" * 32, "alice", "pw-a"),
        (TENANT_A, "bob", "pw-b"),  # bob exists, but not in tenant A
    ],
)
def test_token_401(sim: Simulator, tenant: str, user: str, password: str) -> None:
    response = issue(sim, tenant, user, password)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == 401
    assert error["title"] == "Unauthorized"
    assert error["message"]
    assert sim.issued_tokens() == []
    assert sim.token_requests() == 1


@pytest.mark.parametrize(
    "body",
    [b"not json", b"{}", b'{"auth": {"tenantId": "x"}}', b'{"auth": {"tenantId": 1, '
     b'"passwordCredentials": {"username": "u", "password": "p"}}}'],
)  # fmt: skip
def test_token_malformed_400(sim: Simulator, body: bytes) -> None:
    response = requests.post(sim.identity_url + "/v2.0/tokens", data=body, timeout=TIMEOUT)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 400


def network_catalog(response: requests.Response) -> list[dict[str, Any]]:
    catalog = response.json()["access"]["serviceCatalog"]
    (network,) = [entry for entry in catalog if entry["type"] == "network"]
    assert network["name"] == "neutron"
    return list(network["endpoints"])


def test_catalog_defaults_upper_case_with_trailing_slash(sim: Simulator) -> None:
    response = issue(sim)
    catalog = response.json()["access"]["serviceCatalog"]
    # Network is not the first entry: clients must select by type.
    assert catalog[0]["type"] == "compute"
    endpoints = network_catalog(response)
    assert [e["region"] for e in endpoints] == ["KR1", "KR2", "JP1"]
    for endpoint in endpoints:
        assert endpoint["publicURL"] == sim.endpoint(endpoint["region"]) + "/"
    assert not sim.endpoint("kr1").endswith("/")
    assert sim.endpoint("KR1") == sim.endpoint("kr1")


def test_catalog_lower_case_without_slash() -> None:
    with make_sim(catalog_region_case="lower", trailing_slash=False, regions=("kr1", "jp1")) as s:
        endpoints = network_catalog(issue(s))
        assert [e["region"] for e in endpoints] == ["kr1", "jp1"]
        assert endpoints[1]["publicURL"] == s.endpoint("jp1")
        assert not endpoints[1]["publicURL"].endswith("/")


def test_identity_unknown_path(sim: Simulator) -> None:
    response = requests.get(sim.identity_url + "/v3/auth/tokens", timeout=TIMEOUT)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == 404


# ----- network API -----


def test_list_filters_and_shape(sim: Simulator) -> None:
    attached = sim.create_gateway(
        "kr1",
        TENANT_A,
        name="igw-web",
        state="available",
        routingtable_id=ROUTING_TABLE,
        create_time="2025-02-11 00:44:18",
    )
    spare = sim.create_gateway("kr1", TENANT_A, name="igw-spare")
    sim.create_gateway("kr2", TENANT_A, name="igw-other-region")
    tok = token(sim)

    listed = get(gw_url(sim), tok).json()["internetgateways"]
    assert [g["id"] for g in listed] == [attached["id"], spare["id"]]
    assert listed[0] == {
        "id": attached["id"],
        "name": "igw-web",
        "external_network_id": sim.external_network_id("kr1"),
        "routingtable_id": ROUTING_TABLE,
        "state": "available",
        "create_time": "2025-02-11 00:44:18",
        "tenant_id": TENANT_A,
        "migrate_status": "none",
        "migrate_error": None,
    }
    assert list(listed[0]) == list(attached)  # key order as in the guide
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", listed[1]["create_time"])
    assert listed[1]["routingtable_id"] is None

    def names(**params: str) -> list[str]:
        response = get(gw_url(sim), tok, params=params)
        assert response.status_code == 200
        return [g["name"] for g in response.json()["internetgateways"]]

    assert names(name="igw-spare") == ["igw-spare"]
    assert names(id=attached["id"]) == ["igw-web"]
    assert names(routingtable_id=ROUTING_TABLE) == ["igw-web"]
    assert names(external_network_id=sim.external_network_id("kr1")) == ["igw-web", "igw-spare"]
    assert names(external_network_id=sim.external_network_id("kr2")) == []
    assert names(tenant_id=TENANT_A) == ["igw-web", "igw-spare"]
    assert names(tenant_id=TENANT_B) == []
    assert names(name="nope") == []
    assert [g["name"] for g in get(gw_url(sim, "kr2"), tok).json()["internetgateways"]] == [
        "igw-other-region"
    ]


def test_odd_values_are_served_verbatim(sim: Simulator) -> None:
    gateway = sim.create_gateway("jp1", TENANT_A, state="ERROR", extra={"internal_host": "x"})
    sim.update_gateway("jp1", gateway["id"], migrate_status="rebalancing")
    sim.drop_gateway_fields("jp1", gateway["id"], "routingtable_id")
    (listed,) = get(gw_url(sim, "jp1"), token(sim)).json()["internetgateways"]
    assert listed["state"] == "ERROR"
    assert listed["migrate_status"] == "rebalancing"
    assert listed["internal_host"] == "x"
    assert "routingtable_id" not in listed


def test_show_and_404(sim: Simulator) -> None:
    gateway = sim.create_gateway("kr1", TENANT_A, name="igw-1")
    other = sim.create_gateway("kr1", TENANT_B, name="igw-b")
    tok = token(sim)
    response = get(gw_url(sim, suffix="/" + gateway["id"]), tok)
    assert response.status_code == 200
    assert response.json() == {"internetgateway": gateway}

    for missing in ("4d7a1f7e-0000-4000-8000-000000000000", other["id"]):
        response = get(gw_url(sim, suffix="/" + missing), tok)
        assert response.status_code == 404
        assert response.json() == {
            "NeutronError": {
                "type": "InternetGatewayNotFound",
                "message": f"Not found internetgateway {missing}",
                "detail": "",
            }
        }


def test_create_and_delete(sim: Simulator) -> None:
    tok = token(sim)
    headers = {"X-Auth-Token": tok}
    body = {
        "internetgateway": {"name": "new", "external_network_id": sim.external_network_id("kr2")}
    }
    response = requests.post(gw_url(sim, "kr2"), json=body, headers=headers, timeout=TIMEOUT)
    assert response.status_code == 201
    created = response.json()["internetgateway"]
    assert created["state"] == "unavailable"
    assert created["migrate_status"] == "none"
    assert created["tenant_id"] == TENANT_A
    assert "routingtable_id" not in created
    assert "migrate_error" not in created
    assert [g["id"] for g in sim.gateways("kr2", TENANT_A)] == [created["id"]]
    assert get(gw_url(sim, "kr2", "/" + created["id"]), tok).json()["internetgateway"] == created

    delete_url = gw_url(sim, "kr2", "/" + created["id"])
    response = requests.delete(delete_url, headers=headers, timeout=TIMEOUT)
    assert response.status_code == 204
    assert response.content == b""
    assert sim.gateways("kr2", TENANT_A) == []
    assert get(delete_url, tok).status_code == 404
    again = requests.delete(delete_url, headers=headers, timeout=TIMEOUT)
    assert again.status_code == 404
    assert again.json()["NeutronError"]["type"] == "InternetGatewayNotFound"


@pytest.mark.parametrize(
    "body",
    [{}, {"internetgateway": {"name": "x"}}, {"internetgateway": {"external_network_id": 1}}],
)
def test_create_missing_fields_400(sim: Simulator, body: dict[str, Any]) -> None:
    response = requests.post(
        gw_url(sim), json=body, headers={"X-Auth-Token": token(sim)}, timeout=TIMEOUT
    )
    assert response.status_code == 400
    assert set(response.json()["NeutronError"]) == {"type", "message", "detail"}
    assert sim.gateways("kr1") == []


def test_cannot_delete_other_tenants_gateway(sim: Simulator) -> None:
    other = sim.create_gateway("kr1", TENANT_B)
    response = requests.delete(
        gw_url(sim, suffix="/" + other["id"]),
        headers={"X-Auth-Token": token(sim, TENANT_A)},
        timeout=TIMEOUT,
    )
    assert response.status_code == 404
    assert sim.gateway("kr1", other["id"]) is not None


def test_tenant_isolation(sim: Simulator) -> None:
    a = sim.create_gateway("kr1", TENANT_A)
    b = sim.create_gateway("kr1", TENANT_B)
    listed_a = get(gw_url(sim), token(sim, TENANT_A)).json()["internetgateways"]
    listed_b = get(gw_url(sim), token(sim, TENANT_B)).json()["internetgateways"]
    assert [g["id"] for g in listed_a] == [a["id"]]
    assert [g["id"] for g in listed_b] == [b["id"]]


def test_external_networks(sim: Simulator) -> None:
    response = get(sim.endpoint("jp1") + "/v2.0/vpcs?router:external=true", token(sim))
    (vpc,) = response.json()["vpcs"]
    assert vpc["id"] == sim.external_network_id("jp1")
    assert vpc["router:external"] is True
    assert vpc["name"] == "Public Network"
    assert sim.external_network_id("jp1") != sim.external_network_id("kr1")


def test_unknown_path_404(sim: Simulator) -> None:
    tok = token(sim)
    for path in ("/v2.0/routers", "//v2.0/internetgateways", "/v2.0/internetgateways/a/b"):
        response = get(sim.endpoint("kr1") + path, tok)
        assert response.status_code == 404, path
        assert "NeutronError" in response.json()


def assert_unauthorized(response: requests.Response) -> None:
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": 401, "title": "Unauthorized", "message": "Authentication required"}
    }


def test_401_missing_or_unknown_token(sim: Simulator) -> None:
    assert_unauthorized(get(gw_url(sim), None))
    assert_unauthorized(get(gw_url(sim), "gAAAAAnot-a-real-token"))
    # Auth comes before routing, as with keystonemiddleware.
    assert_unauthorized(get(sim.endpoint("kr1") + "/nope", None))


def test_401_revoked_token_only_for_that_tenant(sim: Simulator) -> None:
    tok_a, tok_b = token(sim, TENANT_A), token(sim, TENANT_B)
    sim.revoke_tokens(TENANT_A)
    assert_unauthorized(get(gw_url(sim), tok_a))
    assert get(gw_url(sim), tok_b).status_code == 200
    fresh = token(sim, TENANT_A)  # new tokens work again
    assert get(gw_url(sim), fresh).status_code == 200
    sim.revoke_tokens()
    assert_unauthorized(get(gw_url(sim), tok_b))
    assert_unauthorized(get(gw_url(sim), fresh))


def test_401_expired_token() -> None:
    with make_sim(token_lifetime=0.3) as s:
        tok = token(s)
        assert get(gw_url(s), tok).status_code == 200
        time.sleep(0.4)
        assert_unauthorized(get(gw_url(s), tok))


def test_pagination_follows_next_links() -> None:
    with make_sim(page_size=2) as s:
        ids = {s.create_gateway("kr1", TENANT_A)["id"] for _ in range(5)}
        s.create_gateway("kr1", TENANT_B)
        tok = token(s)
        url: str | None = gw_url(s)
        seen: list[str] = []
        pages = 0
        while url is not None:
            body = get(url, tok).json()
            pages += 1
            page = [g["id"] for g in body["internetgateways"]]
            assert len(page) <= 2
            seen += page
            nexts = [
                link for link in body.get("internetgateways_links", []) if link["rel"] == "next"
            ]
            url = nexts[0]["href"] if nexts else None
            if url is not None:
                assert url.startswith(s.endpoint("kr1") + "/v2.0/internetgateways?")
                assert "marker=" + page[-1] in url
            assert pages < 10
        assert pages == 3
        assert sorted(seen) == sorted(ids)
        # Without pagination everything comes in one page with no links.
        s.page_size = None
        body = get(gw_url(s), tok).json()
        assert len(body["internetgateways"]) == 5
        assert "internetgateways_links" not in body


def test_pagination_keeps_filters_and_survives_deleted_marker() -> None:
    with make_sim(page_size=1) as s:
        gateways = [s.create_gateway("kr1", TENANT_A, name="x") for _ in range(3)]
        s.create_gateway("kr1", TENANT_A, name="y")
        tok = token(s)
        first = get(gw_url(s), tok, params={"name": "x"}).json()
        href = first["internetgateways_links"][0]["href"]
        assert "name=x" in href
        s.delete_gateway("kr1", first["internetgateways"][0]["id"])
        rest: list[str] = []
        url: str | None = href
        while url:
            body = get(url, tok).json()
            rest += [g["id"] for g in body["internetgateways"]]
            links = body.get("internetgateways_links", [])
            url = links[0]["href"] if links else None
        ids = sorted(g["id"] for g in gateways)
        assert first["internetgateways"][0]["id"] == ids[0]
        assert rest == ids[1:]


# ----- faults -----


def test_fault_status_with_retry_after_then_normal(sim: Simulator) -> None:
    tok = token(sim)
    fault = sim.add_fault(Fault(service="kr1", status=503, headers={"Retry-After": "7"}, times=1))
    response = get(gw_url(sim), tok)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    assert response.headers["Content-Type"] == "text/html"
    assert b"503" in response.content
    assert fault.served == 1
    assert get(gw_url(sim), tok).status_code == 200
    assert fault.served == 1


def test_fault_429_default_body_is_json_on_every_service(sim: Simulator) -> None:
    tok = token(sim)
    sim.add_fault(Fault(status=429))  # service "*": identity too
    response = get(gw_url(sim), tok)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == 429
    assert issue(sim).status_code == 429


def test_fault_body_override_keeps_status(sim: Simulator) -> None:
    tok = token(sim)
    sim.add_fault(Fault(service="kr1", body='{"internetgateways": {"oops": 1}}'))
    response = get(gw_url(sim), tok)
    assert response.status_code == 200
    assert response.json() == {"internetgateways": {"oops": 1}}
    assert response.headers["Content-Type"] == "application/json"


def test_fault_status_skips_the_api(sim: Simulator) -> None:
    tok = token(sim)
    sim.add_fault(Fault(method="POST", status=500))
    body = {"internetgateway": {"name": "n", "external_network_id": sim.external_network_id("kr1")}}
    response = requests.post(gw_url(sim), json=body, headers={"X-Auth-Token": tok}, timeout=5)
    assert response.status_code == 500
    assert response.json()["NeutronError"]["type"] == "HTTPInternalServerError"
    assert sim.gateways("kr1") == []  # the request never reached the API


def test_fault_matching_service_tenant_path_and_order(sim: Simulator) -> None:
    tok_a, tok_b = token(sim, TENANT_A), token(sim, TENANT_B)
    first = sim.add_fault(Fault(service="KR1", tenant_id=TENANT_A, status=500))
    sim.add_fault(Fault(service="kr1", tenant_id=TENANT_A, status=502))
    sim.add_fault(Fault(service="kr2", path_prefix="/v2.0/vpcs", status=403))
    assert get(gw_url(sim), tok_a).status_code == 500  # first match wins
    assert get(gw_url(sim), tok_b).status_code == 200
    assert get(gw_url(sim, "kr2"), tok_a).status_code == 200
    assert get(sim.endpoint("kr2") + "/v2.0/vpcs", tok_a).status_code == 403
    sim.remove_fault(first)
    assert get(gw_url(sim), tok_a).status_code == 502
    sim.clear_faults()
    assert get(gw_url(sim), tok_a).status_code == 200


def test_identity_fault_by_tenant_is_counted(sim: Simulator) -> None:
    sim.add_fault(Fault(service="identity", tenant_id=TENANT_B, status=500, times=2))
    assert issue(sim, TENANT_B, "bob", "pw-b").status_code == 500
    assert issue(sim, TENANT_A).status_code == 200
    assert issue(sim, TENANT_B, "bob", "pw-b").status_code == 500
    assert issue(sim, TENANT_B, "bob", "pw-b").status_code == 200
    assert sim.token_requests(TENANT_B) == 3
    assert sim.token_requests() == 4
    assert len(sim.issued_tokens()) == 2


def test_fault_delay(sim: Simulator) -> None:
    tok = token(sim)
    sim.add_fault(Fault(service="kr1", delay=0.3))
    started = time.monotonic()
    assert get(gw_url(sim), tok).status_code == 200
    assert time.monotonic() - started >= 0.28


def test_fault_hang_times_out_client(sim: Simulator) -> None:
    tok = token(sim)
    sim.add_fault(Fault(service="kr1", hang=True, times=1))
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(gw_url(sim), tok, timeout=0.3)
    assert time.monotonic() - started < 2
    assert get(gw_url(sim), tok).status_code == 200


def test_fault_drip_sends_the_body_slowly(sim: Simulator) -> None:
    tok = token(sim)
    sim.add_fault(Fault(service="kr1", drip=0.02, body="x" * 20))
    started = time.monotonic()
    # Each byte arrives well within the read timeout, so the client waits it out.
    response = get(gw_url(sim), tok, timeout=1.0)
    assert response.content == b"x" * 20
    assert time.monotonic() - started >= 0.3


def test_fault_truncate_gives_incomplete_read(sim: Simulator) -> None:
    tok = token(sim)
    sim.add_fault(Fault(service="kr1", truncate=5, times=1))
    sim.create_gateway("kr1", TENANT_A)
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"):
        get(gw_url(sim), tok)
    assert get(gw_url(sim), tok).status_code == 200


def test_fault_reset_gives_connection_error(sim: Simulator) -> None:
    tok = token(sim)
    sim.add_fault(Fault(service="kr1", reset=True, times=1))
    with pytest.raises(requests.exceptions.ConnectionError, match="reset"):
        get(gw_url(sim), tok)
    assert get(gw_url(sim), tok).status_code == 200


def test_stop_is_quick_with_hanging_request() -> None:
    sim = make_sim()
    sim.start()
    tok = token(sim)
    sim.add_fault(Fault(service="kr1", hang=True))
    errors: list[Exception] = []

    def client() -> None:
        try:
            get(gw_url(sim), tok, timeout=30)
        except requests.RequestException as exc:
            errors.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    deadline = time.monotonic() + 5
    while sim.request_count("kr1") == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 1.5
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert len(errors) == 1  # the client saw the connection go, not an answer


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="drip"):
        Fault(drip=0)
    with pytest.raises(ValueError, match="status"):
        Fault(status=42)


# ----- reachability and accounting -----


def test_region_unreachable_then_back_on_same_port(sim: Simulator) -> None:
    tok = token(sim)
    session = requests.Session()
    session.headers["X-Auth-Token"] = tok
    before = sim.endpoint("kr2")
    assert session.get(gw_url(sim, "kr2"), timeout=TIMEOUT).status_code == 200
    sim.set_region_reachable("kr2", False)
    # Both a fresh connection and the session's pooled keep-alive one fail.
    with pytest.raises(requests.exceptions.ConnectionError, match="refused"):
        get(gw_url(sim, "kr2"), tok)
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(gw_url(sim, "kr2"), timeout=TIMEOUT)
    assert get(gw_url(sim, "kr1"), tok).status_code == 200  # other regions unaffected
    sim.set_region_reachable("kr2", True)
    assert sim.endpoint("kr2") == before
    assert session.get(gw_url(sim, "kr2"), timeout=TIMEOUT).status_code == 200


def test_request_count(sim: Simulator) -> None:
    tok = token(sim)
    gateway = sim.create_gateway("kr1", TENANT_A)
    get(gw_url(sim), tok)
    get(gw_url(sim, suffix="/" + gateway["id"]), tok)
    get(sim.endpoint("kr1") + "/v2.0/vpcs", tok)
    get(gw_url(sim, "jp1"), None)
    assert sim.request_count("identity") == 1
    assert sim.request_count("identity", "/v2.0/tokens") == 1
    assert sim.request_count("kr1") == 3
    assert sim.request_count("KR1", "/v2.0/internetgateways") == 2
    assert sim.request_count("jp1") == 1
    assert sim.request_count("kr2") == 0


def test_restart_after_stop_keeps_ports_and_state() -> None:
    sim = make_sim()
    with sim:
        identity = sim.identity_url
        sim.create_gateway("kr1", TENANT_A)
    with sim:
        assert sim.identity_url == identity
        assert len(get(gw_url(sim), token(sim)).json()["internetgateways"]) == 1


def test_concurrent_requests_while_state_changes(sim: Simulator) -> None:
    tok = token(sim)
    for _ in range(50):
        sim.create_gateway("kr1", TENANT_A)
    stop = threading.Event()
    failures: list[str] = []

    def mutate() -> None:
        while not stop.is_set():
            gateway = sim.create_gateway("kr1", TENANT_A, state="available")
            sim.update_gateway("kr1", gateway["id"], state="error", extra_field=[1, 2])
            sim.delete_gateway("kr1", gateway["id"])

    def read() -> None:
        with requests.Session() as session:
            for _ in range(20):
                response = session.get(gw_url(sim), headers={"X-Auth-Token": tok}, timeout=5)
                if response.status_code != 200 or len(response.json()["internetgateways"]) < 50:
                    failures.append(response.text[:200])

    mutator = threading.Thread(target=mutate)
    readers = [threading.Thread(target=read) for _ in range(6)]
    mutator.start()
    for thread in readers:
        thread.start()
    for thread in readers:
        thread.join(timeout=20)
    stop.set()
    mutator.join(timeout=5)
    assert failures == []
    assert len(sim.gateways("kr1", TENANT_A)) == 50
