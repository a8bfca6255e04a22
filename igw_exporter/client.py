"""The Internet Gateway API of one region, as seen by one tenant."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urljoin, urlsplit

from .auth import Token, TokenProvider
from .config import TenantSpec
from .models import GatewayList, ParseError, gateway_items, next_link, parse_items
from .transport import ApiError, Caller, call

LIST_PATH = "/v2.0/internetgateways"
# Pagination is not documented; if it ever appears, a runaway chain must still end.
MAX_PAGES = 100


class NetworkClient:
    """Lists gateways; endpoints come from the token's catalog unless configured."""

    def __init__(self, caller: Caller, tokens: TokenProvider, endpoints: Mapping[str, str]) -> None:
        self._caller = caller
        self._tokens = tokens
        self._endpoints = dict(endpoints)

    def close(self) -> None:
        """Close the pooled connections (after a reload replaced this client)."""
        self._caller.session.close()

    def regions(self, tenant: TenantSpec, deadline: float) -> tuple[str, ...]:
        """The tenant's regions: configured, or every network region of its catalog
        plus any configured endpoint."""
        if tenant.regions is not None:
            return tenant.regions
        token = self._tokens.get(tenant, deadline)
        regions = tuple(sorted(set(token.catalog) | set(self._endpoints)))
        if not regions:
            self._tokens.recheck_catalog(tenant.id, token)
            raise ApiError("the service catalog has no network endpoint", "no_endpoint")
        return regions

    def list_gateways(self, tenant: TenantSpec, region: str, deadline: float) -> GatewayList:
        token = self._tokens.get(tenant, deadline)
        base = self._endpoint(tenant, token, region)
        try:
            return self._list(base, token, region, deadline)
        except ApiError as exc:
            if exc.status != 401:
                raise
        # The token died before its ``expires`` (password changed, revoked): one new
        # token, one more try. A second 401 is a real permission problem.
        self._tokens.invalidate(tenant.id, token)
        token = self._tokens.get(tenant, deadline)
        return self._list(self._endpoint(tenant, token, region), token, region, deadline)

    def _endpoint(self, tenant: TenantSpec, token: Token, region: str) -> str:
        base = self._endpoints.get(region) or token.catalog.get(region)
        if not base:
            # The catalog comes with the token: a new token may bring the region back.
            self._tokens.recheck_catalog(tenant.id, token)
            raise ApiError(
                f"region {region!r} has no network endpoint in the service catalog",
                "no_endpoint",
            )
        return base

    def _list(self, base: str, token: Token, region: str, deadline: float) -> GatewayList:
        url = base + LIST_PATH
        headers = {"X-Auth-Token": token.value.reveal()}
        # Items of every page, parsed together so that duplicates across pages are
        # caught like duplicates within one.
        items: list[object] = []
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            seen.add(url)
            response = call(
                self._caller,
                "GET",
                url,
                region=region,
                operation="list_internetgateways",
                deadline=deadline,
                headers=headers,
            )
            try:
                items.extend(gateway_items(response.body))
            except ParseError as exc:
                raise ApiError(str(exc), "invalid_response") from None
            href = next_link(response.body)
            if href is None:
                try:
                    return parse_items(items)
                except ParseError as exc:
                    raise ApiError(str(exc), "invalid_response") from None
            try:
                url = urljoin(url, href)
                other_host = urlsplit(url)[:2] != urlsplit(base)[:2]
            except ValueError:
                raise ApiError("invalid pagination link", "invalid_response") from None
            if url in seen:
                raise ApiError("pagination loops back to a page already read", "invalid_response")
            if other_host:
                # The token goes with every request: never to another host.
                raise ApiError("pagination link points to another host", "invalid_response")
        raise ApiError(f"more than {MAX_PAGES} pages of gateways", "invalid_response")
