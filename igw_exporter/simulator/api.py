"""The simulated APIs: identity (Keystone v2 tokens) and the per-region network API.

Each app is a plain object mapping a :class:`Request` to a :class:`Response`;
the HTTP layer owns sockets and faults. Error bodies follow what NHN's stack
sends: Keystone's ``{"error": {...}}`` for identity, ``{"NeutronError": {...}}``
for the network API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlencode

from igw_exporter.simulator.records import Record, created_record
from igw_exporter.simulator.state import TOKENS_PATH, SimState, TokenRecord, copy_record
from igw_exporter.simulator.wire import (
    Request,
    Response,
    json_response,
    keystone_error,
    neutron_error,
)

RegionCase = Literal["upper", "lower"]

GATEWAYS_PATH = "/v2.0/internetgateways"
VPCS_PATH = "/v2.0/vpcs"
LIST_FILTERS = ("tenant_id", "id", "name", "external_network_id", "routingtable_id")


def _expires(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _issued_at(epoch: float) -> str:
    # Keystone prints issued_at without a zone and with microseconds.
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


class IdentityApp:
    service = "identity"

    def __init__(
        self,
        state: SimState,
        network_urls: Callable[[], dict[str, str]],
        region_case: RegionCase,
        trailing_slash: bool,
    ) -> None:
        self._state = state
        self._network_urls = network_urls
        self.region_case: RegionCase = region_case
        self.trailing_slash = trailing_slash

    def tenant_of(self, request: Request) -> str | None:
        if request.path != TOKENS_PATH:
            return None
        try:
            tenant = request.json_body()["auth"]["tenantId"]
        except (ValueError, KeyError, TypeError):
            return None
        return tenant if isinstance(tenant, str) else None

    def handle(self, request: Request) -> Response:
        if request.path != TOKENS_PATH:
            return keystone_error(404, "Not Found", "The resource could not be found.")
        if request.method != "POST":
            return keystone_error(405, "Method Not Allowed", "The method is not allowed.")
        credentials = _parse_auth(request.body)
        if isinstance(credentials, Response):
            return credentials
        result = self._state.authenticate(*credentials)
        if isinstance(result, str):
            return keystone_error(401, "Unauthorized", result)
        return json_response(200, self._access(result))

    def _access(self, token: TokenRecord) -> dict[str, Any]:
        tenant = {
            "id": token.tenant_id,
            "name": self._state.tenant_name(token.tenant_id),
            "enabled": True,
            "description": None,
        }
        return {
            "access": {
                "token": {
                    "id": token.token_id,
                    "expires": _expires(token.expires_at),
                    "issued_at": _issued_at(token.issued_at),
                    "tenant": tenant,
                    "audit_ids": [token.token_id[-22:]],
                },
                "serviceCatalog": self._catalog(token.tenant_id),
                "user": {
                    "id": "u" + token.tenant_id[:31],
                    "name": token.username,
                    "username": token.username,
                    "roles": [{"name": "member"}],
                    "roles_links": [],
                },
                "metadata": {"is_admin": 0, "roles": []},
            }
        }

    def _region_label(self, region: str) -> str:
        return region.upper() if self.region_case == "upper" else region.lower()

    def _catalog(self, tenant_id: str) -> list[dict[str, Any]]:
        suffix = "/" if self.trailing_slash else ""
        regions = self._state.regions

        def unused(kind: str, path: str) -> list[dict[str, str]]:
            # Other services are listed (the exporter must pick "network"), on
            # reserved .invalid hosts so a wrong pick fails fast and offline.
            return [
                {
                    "region": self._region_label(r),
                    "publicURL": f"https://{r}-api-{kind}-infrastructure.nhncloudservice.invalid"
                    + path,
                }
                for r in regions
            ]

        network = [
            {"region": self._region_label(r), "publicURL": url + suffix}
            for r, url in self._network_urls().items()
        ]
        return [
            {
                "type": "compute",
                "name": "nova",
                "endpoints": unused("instance", f"/v2/{tenant_id}"),
            },
            {"type": "network", "name": "neutron", "endpoints": network},
            {"type": "image", "name": "glance", "endpoints": unused("image", "")},
            {
                "type": "volumev2",
                "name": "cinderv2",
                "endpoints": unused("block", f"/v2/{tenant_id}"),
            },
        ]


def _parse_auth(body: bytes) -> tuple[str, str, str] | Response:
    try:
        auth = json.loads(body)["auth"]
        tenant = auth["tenantId"]
        creds = auth["passwordCredentials"]
        username, password = creds["username"], creds["password"]
    except (ValueError, KeyError, TypeError):
        return keystone_error(
            400, "Bad Request", "Expecting to find auth.tenantId and passwordCredentials."
        )
    if not all(isinstance(v, str) for v in (tenant, username, password)):
        return keystone_error(400, "Bad Request", "Credentials must be strings.")
    return tenant, username, password


class NetworkApp:
    def __init__(self, state: SimState, region: str) -> None:
        self._state = state
        self.region = region
        self.service = region

    def tenant_of(self, request: Request) -> str | None:
        return self._state.token_tenant(request.header("X-Auth-Token"))

    def handle(self, request: Request) -> Response:
        # keystonemiddleware runs first: every path needs a valid token.
        tenant = self._state.valid_token_tenant(request.header("X-Auth-Token"))
        if tenant is None:
            return keystone_error(401, "Unauthorized", "Authentication required")
        path = request.path.rstrip("/") if request.path != "/" else request.path
        method = request.method
        if path == GATEWAYS_PATH:
            if method == "GET":
                return self._list(request, tenant)
            if method == "POST":
                return self._create(request, tenant)
            return _not_allowed()
        if path.startswith(GATEWAYS_PATH + "/") and "/" not in path[len(GATEWAYS_PATH) + 1 :]:
            gateway_id = path[len(GATEWAYS_PATH) + 1 :]
            if method == "GET":
                return self._show(gateway_id, tenant)
            if method == "DELETE":
                return self._delete(gateway_id, tenant)
            return _not_allowed()
        if path == VPCS_PATH:
            return self._vpcs(request) if method == "GET" else _not_allowed()
        return neutron_error(404, "HTTPNotFound", "The resource could not be found.")

    def _visible(self, gateway_id: str, tenant: str) -> Record | None:
        record = self._state.get_gateway(self.region, gateway_id)
        if record is None or record.get("tenant_id") != tenant:
            return None
        return record

    def _list(self, request: Request, tenant: str) -> Response:
        records = self._state.list_gateways(self.region, tenant)
        for key in LIST_FILTERS:
            wanted = request.query.get(key)
            if wanted:
                records = [r for r in records if r.get(key) in wanted]
        limit = self._state.page_size
        raw_limit = request.param("limit")
        if raw_limit is not None:
            try:
                limit = int(raw_limit)
            except ValueError:
                limit = -1
            if limit < 1:
                return neutron_error(400, "BadRequest", f"Invalid limit {raw_limit!r}.")
        marker = request.param("marker")
        payload: dict[str, Any] = {}
        if limit is not None or marker is not None:
            # Neutron-style native pagination: sorted by id, marker = last id
            # seen, so deletions between pages cannot derail it.
            records = sorted(records, key=lambda r: str(r.get("id")))
            if marker is not None:
                records = [r for r in records if str(r.get("id")) > marker]
            if limit is not None and len(records) > limit:
                records = records[:limit]
                payload["internetgateways_links"] = [
                    {"rel": "next", "href": _next_href(request, limit, str(records[-1]["id"]))}
                ]
        payload = {"internetgateways": records, **payload}
        return json_response(200, payload)

    def _show(self, gateway_id: str, tenant: str) -> Response:
        record = self._visible(gateway_id, tenant)
        if record is None:
            return _gateway_not_found(gateway_id)
        return json_response(200, {"internetgateway": record})

    def _create(self, request: Request, tenant: str) -> Response:
        try:
            spec = request.json_body()["internetgateway"]
            name, network_id = spec["name"], spec["external_network_id"]
        except (ValueError, KeyError, TypeError):
            return neutron_error(
                400,
                "HTTPBadRequest",
                "Invalid input: internetgateway.name and "
                "internetgateway.external_network_id are required.",
            )
        if not isinstance(name, str) or not isinstance(network_id, str):
            return neutron_error(400, "HTTPBadRequest", "Invalid input: expected strings.")
        if network_id != self._state.external_networks[self.region]:
            return neutron_error(
                404, "NetworkNotFound", f"Network {network_id} could not be found."
            )
        record = created_record(name=name, external_network_id=network_id, tenant_id=tenant)
        self._state.insert_gateways(self.region, [record])
        return json_response(201, {"internetgateway": copy_record(record)})

    def _delete(self, gateway_id: str, tenant: str) -> Response:
        if self._visible(gateway_id, tenant) is None:
            return _gateway_not_found(gateway_id)
        self._state.delete_gateway(self.region, gateway_id)
        return Response(204, b"", None)

    def _vpcs(self, request: Request) -> Response:
        external = (request.param("router:external") or "true").lower()
        vpcs = []
        if external == "true":
            vpcs.append(
                {
                    "id": self._state.external_networks[self.region],
                    "name": "Public Network",
                    "router:external": True,
                    "tenant_id": self._state.admin_tenant_id,
                    "state": "available",
                    "shared": False,
                    "cidrv4": "",
                }
            )
        return json_response(200, {"vpcs": vpcs})


def _next_href(request: Request, limit: int, marker: str) -> str:
    params = [(k, v) for k, values in request.query.items() for v in values]
    params = [(k, v) for k, v in params if k not in ("limit", "marker")]
    params += [("limit", str(limit)), ("marker", marker)]
    return f"{request.base_url}{request.path}?{urlencode(params)}"


def _gateway_not_found(gateway_id: str) -> Response:
    return neutron_error(404, "InternetGatewayNotFound", f"Not found internetgateway {gateway_id}")


def _not_allowed() -> Response:
    return neutron_error(405, "HTTPMethodNotAllowed", "The method is not allowed.")
