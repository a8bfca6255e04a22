"""Against an NHN-compatible API that is not the built-in simulator.

A deliberately different fake, written here from the API notes: identity URL given
with ``/v2.0``, catalog regions in upper case, endpoints with a path and a trailing
slash, a long opaque token, fields absent, ``ERROR`` upper-case, microseconds, and
undocumented extra fields. Every exported value is checked exactly.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import running_exporter, series, value

TENANT = "9f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"
PASSWORD = "compatible-api-password"
TOKEN = "gAAAAAB" + "x-Y_z=0" * 40  # 287 characters, with URL-unsafe-looking symbols

ITEMS: dict[str, list[dict[str, Any]]] = {
    "kr1": [
        {
            "id": "0b1e7a52-0000-4000-8000-000000000001",
            "name": "igw-kr1-a",
            "external_network_id": "ext-kr1",
            "routingtable_id": "rt-kr1-a",
            "state": "ERROR",
            "create_time": "2024-01-02 03:04:05.678901",
            "tenant_id": TENANT,
            "migrate_status": "binding_error",
            "migrate_error": "bind failed",
            "internal_field": {"host": "gw-node-7"},
        },
        {
            "id": "0b1e7a52-0000-4000-8000-000000000002",
            "name": "igw-kr1-spare",
            "external_network_id": "ext-kr1",
            "state": "unavailable",
            "create_time": "2025-02-11 00:44:18",
            "tenant_id": TENANT,
            "migrate_status": "none",
        },
    ],
    "jp1": [
        {
            "id": "0b1e7a52-0000-4000-8000-000000000003",
            "name": "igw-jp1",
            "external_network_id": "ext-jp1",
            "routingtable_id": None,
            "state": "rebuilding",
            "create_time": None,
            "tenant_id": TENANT,
            "migrate_status": "none",
            "migrate_error": None,
        }
    ],
}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        auth = body["auth"]
        if (
            self.path != "/identity/v2.0/tokens"
            or auth["tenantId"] != TENANT
            or auth["passwordCredentials"] != {"username": "ops", "password": PASSWORD}
        ):
            self._reply(401, {"error": {"code": 401, "title": "Unauthorized", "message": "no"}})
            return
        base = f"http://127.0.0.1:{self.server.server_port}/network"
        self._reply(
            200,
            {
                "access": {
                    "token": {
                        "id": TOKEN,
                        "expires": "2099-12-31T23:59:59Z",
                        "issued_at": "2026-12-03T07:32:14.000441",
                        "tenant": {"id": TENANT},
                    },
                    "serviceCatalog": [
                        {
                            "type": "compute",
                            "name": "nova",
                            "endpoints": [{"region": "KR1", "publicURL": f"{base}/compute/"}],
                        },
                        {
                            "type": "network",
                            "name": "neutron",
                            "endpoints": [
                                {"region": "KR1", "publicURL": f"{base}/kr1/"},
                                {"region": "JP1", "publicURL": f"{base}/jp1/"},
                            ],
                        },
                    ],
                    "metadata": {"is_admin": 0},
                }
            },
        )

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        if self.headers.get("X-Auth-Token") != TOKEN:
            self._reply(401, {"error": {"code": 401, "message": "Authentication required"}})
            return
        for region, items in ITEMS.items():
            if self.path == f"/network/{region}/v2.0/internetgateways":
                self._reply(200, {"internetgateways": items})
                return
        self._reply(
            404, {"NeutronError": {"type": "HTTPNotFound", "message": "nope", "detail": ""}}
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    paths: list[str]


@pytest.fixture
def compatible_api() -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_every_value_is_right(compatible_api: _Server, tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD)
    config = tmp_path / "c.yml"
    config.write_text(
        f"identity:\n  url: http://127.0.0.1:{compatible_api.server_port}/identity/v2.0\n"
        f"  username: ops\n  password_file: {secret}\n"
        f"tenants:\n  - id: {TENANT}\n    name: compat\npoll:\n  interval: 30s\n"
    )
    with running_exporter(config) as exporter:
        samples = exporter.scrape()
        log = exporter.log_text()
    assert sorted(set(compatible_api.paths)) == [
        "/network/jp1/v2.0/internetgateways",
        "/network/kr1/v2.0/internetgateways",
    ]
    assert TOKEN not in log and PASSWORD not in log

    for region, count in (("kr1", 2), ("jp1", 1)):
        target = {"nhn_region": region, "tenant_id": TENANT, "tenant": "compat"}
        assert value(samples, "igw_exporter_target_up", **target) == 1
        assert value(samples, "igw_exporter_target_stale", **target) == 0
        assert value(samples, "igw_exporter_target_gateways", **target) == count
    last_success = value(
        samples,
        "igw_exporter_target_last_success_timestamp_seconds",
        nhn_region="kr1",
        tenant_id=TENANT,
    )
    assert last_success is not None

    a = "0b1e7a52-0000-4000-8000-000000000001"
    assert series(samples, "nhncloud_igw_info", id=a) == [
        {
            "nhn_region": "kr1",
            "tenant_id": TENANT,
            "id": a,
            "name": "igw-kr1-a",
            "tenant": "compat",
            "external_network_id": "ext-kr1",
            "routingtable_id": "rt-kr1-a",
        }
    ]
    states = {s["state"] for s in series(samples, "nhncloud_igw_state", id=a)}
    assert states == {"available", "unavailable", "migrating", "error"}
    assert value(samples, "nhncloud_igw_state", id=a, state="error") == 1
    assert (
        sum(v for (n, lbl), v in samples.items() if n == "nhncloud_igw_state" and ("id", a) in lbl)
        == 1
    )
    assert value(samples, "nhncloud_igw_migrate_status", id=a, migrate_status="binding_error") == 1
    assert value(samples, "nhncloud_igw_migrate_error", id=a) == 1
    created = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC).timestamp()
    assert value(samples, "nhncloud_igw_created_timestamp_seconds", id=a) == pytest.approx(created)
    assert value(samples, "nhncloud_igw_age_seconds", id=a) == pytest.approx(
        last_success - created, abs=0.01
    )
    since = value(samples, "nhncloud_igw_state_since_timestamp_seconds", id=a)
    assert since == pytest.approx(last_success, abs=0.01)

    spare = "0b1e7a52-0000-4000-8000-000000000002"
    assert series(samples, "nhncloud_igw_info", id=spare)[0]["routingtable_id"] == ""
    assert value(samples, "nhncloud_igw_state", id=spare, state="unavailable") == 1
    assert value(samples, "nhncloud_igw_migrate_error", id=spare) == 0
    assert (
        value(samples, "nhncloud_igw_created_timestamp_seconds", id=spare)
        == datetime(2025, 2, 11, 0, 44, 18, tzinfo=UTC).timestamp()
    )

    jp = "0b1e7a52-0000-4000-8000-000000000003"
    assert {s["state"] for s in series(samples, "nhncloud_igw_state", id=jp)} == {
        "available",
        "unavailable",
        "migrating",
        "error",
        "rebuilding",
    }
    assert value(samples, "nhncloud_igw_state", id=jp, state="rebuilding") == 1
    assert series(samples, "nhncloud_igw_created_timestamp_seconds", id=jp) == []
    assert series(samples, "nhncloud_igw_age_seconds", id=jp) == []
