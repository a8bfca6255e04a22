"""Fault injection: what can go wrong between the exporter and NHN Cloud.

A :class:`Fault` is matched against each request before the simulated API
handles it; the first match (in insertion order) decides how the answer is
mangled. Matching and the ``served`` counter are updated under the simulator
lock by :class:`~igw_exporter.simulator.state.SimState`; the transport effects
(delay, hang, drip, truncate, reset) are carried out by the HTTP layer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus

from igw_exporter.simulator.wire import Response, json_response

ANY_SERVICE = "*"


@dataclass(eq=False)
class Fault:
    """One injected misbehaviour.

    ``eq=False`` on purpose: two faults with the same settings are still
    distinct rules, and :meth:`Simulator.remove_fault` removes by identity.
    """

    # --- matching ---
    service: str = ANY_SERVICE
    method: str | None = None
    path_prefix: str = ""
    tenant_id: str | None = None
    times: int | None = None
    # --- effects ---
    status: int | None = None
    body: bytes | str | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hang: bool = False
    drip: float | None = None
    truncate: int | None = None
    reset: bool = False
    # How many requests this fault has served so far (read it in tests).
    served: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.times is not None and self.times < 0:
            raise ValueError("times must be >= 0 or None")
        if self.delay < 0:
            raise ValueError("delay must be >= 0")
        if self.drip is not None and self.drip <= 0:
            raise ValueError("drip must be > 0 seconds per byte")
        if self.truncate is not None and self.truncate < 0:
            raise ValueError("truncate must be >= 0")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError("status must be an HTTP status code")

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.served >= self.times

    def matches(self, service: str, method: str, path: str, tenant_id: str | None) -> bool:
        """Whether this fault applies to a request (ignores ``times``)."""
        if self.service != ANY_SERVICE and self.service.lower() != service.lower():
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if not path.startswith(self.path_prefix):
            return False
        return self.tenant_id is None or self.tenant_id == tenant_id

    def apply(self, service: str, normal: Response | None) -> Response:
        """Build the response this fault sends.

        ``normal`` is what the simulated API answered; it is ``None`` when the
        fault replaces the status, because then the request never reaches the
        API (like a proxy answering on its own) and has no side effects.
        """
        if self.status is not None or normal is None:
            status = self.status if self.status is not None else 500
            base = default_response(status, service)
        else:
            base = normal
        body = base.body
        content_type = base.content_type
        if self.body is not None:
            body = self.body.encode("utf-8") if isinstance(self.body, str) else self.body
            content_type = _guess_content_type(body)
        if self.content_type is not None:
            content_type = self.content_type
        headers = {**base.headers, **self.headers}
        return Response(base.status, body, content_type, headers)


def _guess_content_type(body: bytes) -> str:
    try:
        json.loads(body)
    except ValueError:
        stripped = body.lstrip()
        if stripped.startswith(b"<"):
            return "text/html"
        return "text/plain; charset=utf-8"
    return "application/json"


_PROXY_PAGE = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def default_response(status: int, service: str) -> Response:
    """A plausible body for ``status`` as the real stack would send it.

    Gateway errors come from the load balancer as nginx HTML pages; errors of
    the APIs themselves are JSON in the service's own error shape (Keystone's
    ``error`` for identity, ``NeutronError`` for the network API).
    """
    reason = _reason(status)
    if status in (502, 503, 504):
        page = _PROXY_PAGE.format(code=status, reason=reason)
        return Response(status, page.encode("ascii"), "text/html")
    if status == 429:
        return json_response(
            status,
            {"error": {"code": 429, "title": reason, "message": "Rate limit exceeded."}},
        )
    if service == "identity" or status == 401:
        return json_response(
            status, {"error": {"code": status, "title": reason, "message": reason + "."}}
        )
    neutron_type = "HTTP" + reason.replace(" ", "")
    message = (
        "Request Failed: internal server error while processing your request."
        if status >= 500
        else reason + "."
    )
    return json_response(
        status, {"NeutronError": {"type": neutron_type, "message": message, "detail": ""}}
    )
