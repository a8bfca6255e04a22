"""Transport-neutral request/response values shared by the API and HTTP layers.

Keeping these free of ``http.server`` lets the API logic stay plain functions
of (state, request) and keeps the socket tricks in one place (``servers.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

JSON_TYPE = "application/json"


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]  # keys lower-cased
    body: bytes
    base_url: str  # "http://host:port" of the server that received it

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json_body(self) -> Any:
        """Decoded JSON body; raises ValueError when it is not JSON."""
        return json.loads(self.body)


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any) -> Response:
    # Compact separators: the 50k-gateway list is ~15 MB even so.
    return Response(status, json.dumps(payload, separators=(",", ":")).encode("utf-8"))


def neutron_error(status: int, error_type: str, message: str) -> Response:
    return json_response(
        status, {"NeutronError": {"type": error_type, "message": message, "detail": ""}}
    )


def keystone_error(status: int, title: str, message: str) -> Response:
    return json_response(status, {"error": {"code": status, "title": title, "message": message}})
