"""Fault kinds 11-14 of issue 4: tokens, credentials, identity and its catalog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from igw_exporter.simulator import Fault, Simulator
from tests.faults.checks import (
    ALL_TARGETS,
    PROD,
    REGIONS,
    STG,
    TIMEOUT,
    FaultWatch,
    Key,
    assert_process_sound,
    gateway_ids,
    of,
    requests_total,
    seed,
    up,
)
from tests.integration.harness import (
    TENANTS,
    Samples,
    running_exporter,
    series,
    value,
    wait_for,
    write_config,
)

PROD_TARGETS = [k for k in ALL_TARGETS if k[1] == PROD]
STG_TARGETS = [k for k in ALL_TARGETS if k[1] == STG]


def config(
    tmp_path: Path, sim: Simulator, prod_regions: list[str] | None = None, **kwargs: Any
) -> Path:
    """The usual config; ``prod_regions`` configures production's regions only
    (staging keeps taking its regions from the catalog)."""
    path = write_config(tmp_path / "c.yml", sim, timeout=TIMEOUT, **kwargs)
    if prod_regions is not None:
        text = path.read_text().replace(
            "    name: production\n",
            f"    name: production\n    regions: [{', '.join(prod_regions)}]\n",
        )
        path.write_text(text)
    return path


def polls(samples: Samples) -> float:
    return value(samples, "igw_exporter_polls_total") or 0.0


def token_answer(
    sim: Simulator, tenant: str, *, without_regions: set[str] = frozenset(), network: bool = True
) -> Fault:
    """An identity answer with a real, valid token but a damaged service catalog,
    as a fault for that tenant's token requests."""
    tenant_id, username, password = TENANTS[tenant]
    auth = {
        "tenantId": tenant_id,
        "passwordCredentials": {"username": username, "password": password},
    }
    body = requests.post(sim.identity_url + "/v2.0/tokens", json={"auth": auth}, timeout=5).json()
    catalog = []
    for service in body["access"]["serviceCatalog"]:
        if service["type"] == "network":
            if not network:
                continue
            service["endpoints"] = [
                e for e in service["endpoints"] if e["region"].lower() not in without_regions
            ]
        catalog.append(service)
    body["access"]["serviceCatalog"] = catalog
    return Fault(
        service="identity",
        tenant_id=tenant_id,
        body=json.dumps(body),
        content_type="application/json",
    )


def force_new_token(sim: Simulator, tenant_id: str) -> Fault:
    """One 401 from the network API: the exporter drops its token and asks identity."""
    return sim.add_fault(
        Fault(service="kr1", tenant_id=tenant_id, path_prefix="/v2.0/", status=401, times=1)
    )


def test_11_token_revoked_before_expiry_is_reissued_once_without_a_gap(
    sim: Simulator, tmp_path: Path
) -> None:
    seed(sim)
    with running_exporter(config(tmp_path, sim)) as exporter:
        # Every target must stay up, so all of them are "others" of this watch.
        watch = FaultWatch(exporter, [])
        stg_tokens = sim.token_requests(STG)
        for _ in range(2):
            tokens = sim.token_requests(PROD)
            sim.revoke_tokens(PROD)
            wait_for(lambda t=tokens: sim.token_requests(PROD) > t)
            exporter.wait_cycles(2)
            # One new token for the tenant, not one per region or per poll.
            assert sim.token_requests(PROD) == tokens + 1
        samples = exporter.scrape()
        watch.check_contained(samples)
        # Each region met a revoked token at most once per revocation, then retried
        # with the new token (a region starting after the new token never meets it).
        met = [watch.delta(samples, region, "401") for region in REGIONS]
        assert all(n <= 2 for n in met) and sum(met) >= 2, met
        assert watch.delta(samples, "global", "200") == 2
        assert sim.token_requests(STG) == stg_tokens
        # No poll failed: no gap in any series.
        assert watch.events("target_down") == []


def test_12_wrong_api_password(sim: Simulator, tmp_path: Path) -> None:
    seed(sim)
    _, username, password = TENANTS["staging"]
    with running_exporter(config(tmp_path, sim)) as exporter:
        watch = FaultWatch(exporter, STG_TARGETS)
        tokens, prod_tokens = sim.token_requests(STG), sim.token_requests(PROD)
        # The API password is changed in the console, which revokes the tokens.
        sim.add_user(STG, username, "changed-in-the-console")
        sim.revoke_tokens(STG)
        watch.wait_down(polls=3)
        watch.check_reasons("authentication failed")
        # Identity is not hammered: about one token request per poll for the tenant,
        # not one per region (3), per retry or per second. (+2: the first failing
        # poll, and one in progress that may have asked already.)
        asked = sim.token_requests(STG) - tokens
        elapsed_polls = polls(exporter.scrape()) - watch.cycles_before
        assert 1 <= asked <= elapsed_polls + 2, (asked, elapsed_polls)
        assert sim.token_requests(PROD) == prod_tokens
        # The password is changed back: the exporter recovers without a restart.
        sim.add_user(STG, username, password)
        after = watch.wait_recovered()
        # Every refusal was counted; then one token was issued.
        refused = sim.token_requests(STG) - tokens - 1
        assert refused >= 1 and watch.delta(after, "global", "401") == refused
        assert watch.delta(after, "global", "200") == 1


def test_13_identity_down_at_start(sim: Simulator, tmp_path: Path) -> None:
    gateways = seed(sim)
    fault = sim.add_fault(Fault(service="identity", status=503))
    # Production's regions are configured; staging takes its regions from the
    # catalog, so without a token it is one target with nhn_region="".
    path = config(tmp_path, sim, prod_regions=["kr1", "kr2"])
    prod_keys: list[Key] = [("kr1", PROD), ("kr2", PROD)]
    unknown: Key = ("", STG)
    with running_exporter(path) as exporter:
        # Serving, ready (the first poll finished), every target down.
        assert exporter.get("/healthz").status_code == 200
        assert exporter.get("/readyz").status_code == 200
        watch = FaultWatch(exporter, [*prod_keys, unknown], targets=[], from_start=True)
        samples = watch.wait_down(stale=False)
        watch.check_reasons("identity service: HTTP 503: Service Unavailable")
        for key in watch.affected:
            assert of(samples, "igw_exporter_target_gateways", key) == 0
            assert of(samples, "igw_exporter_target_stale", key) == 0
        # Retried within each poll's deadline, but not more: at most 2 tries per
        # tenant per poll.
        assert fault.served <= 2 * 2 * (polls(exporter.scrape()) + 2)
        sim.remove_fault(fault)

        def all_up() -> bool:
            s = exporter.scrape()
            return all(up(s, k) == 1 for k in [*prod_keys, *STG_TARGETS])

        wait_for(all_up, timeout=10)
        after = exporter.scrape()
        assert requests_total(after, "global", "503") == fault.served
        recovered = sorted(
            (e["nhn_region"], e["tenant_id"]) for e in watch.events("target_recovered")
        )
        assert recovered == prod_keys
        # The placeholder target of staging gives way to its real regions.
        [removed] = watch.events("target_removed")
        assert (removed["nhn_region"], removed["tenant_id"]) == unknown
        assert series(after, "igw_exporter_target_up", nhn_region="") == []
        for key in [*prod_keys, *STG_TARGETS]:
            assert gateway_ids(after, key) == {str(g["id"]) for g in gateways[key]}
        assert len(watch.events("target_down")) == 3
        assert_process_sound(exporter)


def test_14_catalog_without_a_network_entry_configured_regions(
    sim: Simulator, tmp_path: Path
) -> None:
    seed(sim)
    path = config(tmp_path, sim, prod_regions=["kr1", "kr2", "jp1"])
    with running_exporter(path) as exporter:
        watch = FaultWatch(exporter, PROD_TARGETS)
        catalog = sim.add_fault(token_answer(sim, "production", network=False))
        force_new_token(sim, PROD)
        samples = watch.wait_down()
        watch.check_reasons(
            {
                k: f"region {k[0]!r} has no network endpoint in the service catalog"
                for k in PROD_TARGETS
            }
        )
        # Identity did answer (200): what is wrong is its catalog, as the reason says.
        assert watch.delta(samples, "global", "200") >= 1
        # The catalog is whole again: the exporter must notice by itself, not
        # only when its (12 h) token is next refreshed.
        sim.remove_fault(catalog)
        watch.wait_recovered()


def test_14_catalog_without_a_network_entry_catalog_regions(sim: Simulator, tmp_path: Path) -> None:
    seed(sim)
    with running_exporter(config(tmp_path, sim)) as exporter:
        watch = FaultWatch(exporter, STG_TARGETS)
        catalog = sim.add_fault(token_answer(sim, "staging", network=False))
        force_new_token(sim, STG)
        try:
            # A catalog that lost the whole network service is a broken answer, not
            # the tenant leaving every region: its targets stay, down and stale.
            watch.wait_down(polls=2)
        finally:
            removed = [(e["nhn_region"], e["tenant_id"]) for e in watch.events("target_removed")]
            assert removed == [], f"targets silently removed: {removed}"
        downs = watch.events("target_down")
        assert all("catalog" in e["error"] for e in downs), downs
        watch.check_reasons({(e["nhn_region"], e["tenant_id"]): e["error"] for e in downs})
        sim.remove_fault(catalog)
        # The first poll may fail on the new token's catalog, later ones on the regions.
        watch.wait_recovered(same_reason=False)


def test_14_catalog_missing_one_configured_region(sim: Simulator, tmp_path: Path) -> None:
    seed(sim)
    key = ("jp1", PROD)
    path = config(tmp_path, sim, prod_regions=["kr1", "kr2", "jp1"])
    with running_exporter(path) as exporter:
        watch = FaultWatch(exporter, [key])
        catalog = sim.add_fault(token_answer(sim, "production", without_regions={"jp1"}))
        force_new_token(sim, PROD)
        watch.wait_down()
        watch.check_reasons("region 'jp1' has no network endpoint in the service catalog")
        # The catalog is whole again: the exporter must notice by itself, not
        # only when its (12 h) token is next refreshed.
        sim.remove_fault(catalog)
        watch.wait_recovered()


def test_14_catalog_regions_in_lower_case(sim: Simulator, tmp_path: Path) -> None:
    seed(sim)
    # Production's regions configured in upper case; staging's from the catalog.
    path = config(tmp_path, sim, prod_regions=["KR1", "Kr2", "jp1"])
    with running_exporter(path) as exporter:
        watch = FaultWatch(exporter, [])
        tokens = sim.token_requests()
        sim.catalog_region_case = "lower"
        force_new_token(sim, PROD)
        force_new_token(sim, STG)
        wait_for(lambda: sim.token_requests() >= tokens + 2)
        exporter.wait_cycles(2)
        samples = exporter.scrape()
        # Same targets, same series, nothing down, added or removed.
        watch.check_contained(samples)
        assert {
            (s["nhn_region"], s["tenant_id"]) for s in series(samples, "igw_exporter_target_up")
        } == set(ALL_TARGETS)
        for event in ("target_down", "target_removed", "target_baseline", "gateway_added"):
            assert watch.events(event) == [], event
