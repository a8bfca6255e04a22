"""IaaS tokens: one per tenant, cached, refreshed ahead of expiry, issued single-flight."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from .config import TenantSpec
from .log import Redactor
from .metrics import IDENTITY_REGION
from .models import parse_create_time
from .secret import Secret
from .transport import ApiError, Caller, call

# Refresh this long before ``expires`` (tokens live about 12 h) so that a poll never
# starts with a token that dies in the middle of it.
REFRESH_MARGIN = 300.0


class AuthError(ApiError):
    """No usable token for a tenant."""


@dataclass(frozen=True, slots=True)
class Token:
    value: Secret
    expires: float  # wall-clock Unix seconds, from the answer's ``expires``
    catalog: Mapping[str, str]  # lower-case region -> network API base URL
    refresh_at: float = 0.0  # when to ask for the next one (see TokenProvider._issue)
    obtained_at: float = 0.0  # wall-clock time it was issued to us


@dataclass(slots=True)
class _Slot:
    lock: threading.Lock
    token: Token | None = None
    failure: tuple[str, str, int | None] | None = None  # reason, code, status
    failed_at: float = 0.0


class TokenProvider:
    """Hands out a valid token per tenant.

    Concurrent callers for one tenant wait on that tenant's lock, so one token is
    issued, not one per region. After a failure, callers reuse it for
    ``failure_backoff`` seconds instead of asking identity again: a wrong password
    must not turn into a flood of token requests.
    """

    def __init__(
        self,
        identity_url: str,
        caller: Caller,
        redactor: Redactor,
        failure_backoff: float,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._url = identity_url.rstrip("/") + "/v2.0/tokens"
        self._caller = caller
        self._redactor = redactor
        self._failure_backoff = failure_backoff
        self._wall = wall_clock
        self._slots: dict[str, _Slot] = {}
        self._slots_lock = threading.Lock()

    def _slot(self, tenant_id: str) -> _Slot:
        with self._slots_lock:
            return self._slots.setdefault(tenant_id, _Slot(threading.Lock()))

    def get(self, tenant: TenantSpec, deadline: float) -> Token:
        """A token not yet due for refresh, or AuthError."""
        slot = self._slot(tenant.id)
        with slot.lock:
            if slot.token is not None and self._wall() < slot.token.refresh_at:
                return slot.token
            if slot.failure is not None and self._caller.clock() - slot.failed_at < (
                self._failure_backoff
            ):
                return self._fallback(slot, slot.failure)
            try:
                slot.token = self._issue(tenant, deadline)
            except ApiError as exc:
                # Kept as values, not as the exception: a cached exception's traceback
                # holds this provider (and its session) in a reference cycle.
                failure = exc if isinstance(exc, AuthError) else _as_auth_error(exc)
                slot.failure = (failure.reason, failure.code, failure.status)
                slot.failed_at = self._caller.clock()
                return self._fallback(slot, slot.failure)
            slot.failure = None
            self._caller.metrics.token_expiry.labels(tenant.id).set(slot.token.expires)
            return slot.token

    def _fallback(self, slot: _Slot, failure: tuple[str, str, int | None]) -> Token:
        """While identity fails, a token that has not expired yet is still better
        than none (it is only due for refresh)."""
        if slot.token is not None and self._wall() < slot.token.expires:
            return slot.token
        slot.token = None
        raise AuthError(*failure)

    def recheck_catalog(self, tenant_id: str, token: Token) -> None:
        """The catalog of ``token`` lacks something: get a new token (and catalog) on
        the next call, unless this one is younger than ``failure_backoff``, so that a
        region really missing costs at most one token request per backoff period."""
        if self._wall() - token.obtained_at >= self._failure_backoff:
            self.invalidate(tenant_id, token)

    def invalidate(self, tenant_id: str, token: Token) -> None:
        """Forget ``token`` after the API rejected it (revoked before ``expires``).

        Only that very token is dropped: another thread may already hold a new one.
        """
        slot = self._slot(tenant_id)
        with slot.lock:
            if slot.token is token:
                slot.token = None
                slot.failure = None

    def _issue(self, tenant: TenantSpec, deadline: float) -> Token:
        body = {
            "auth": {
                "tenantId": tenant.id,
                "passwordCredentials": {
                    "username": tenant.username,
                    "password": tenant.password.reveal(),
                },
            }
        }
        try:
            response = call(
                self._caller,
                "POST",
                self._url,
                region=IDENTITY_REGION,
                operation="issue_token",
                deadline=deadline,
                json_body=body,
            )
        except ApiError as exc:
            if exc.status == 401:
                raise AuthError("authentication failed", exc.code, exc.status) from None
            raise
        token = parse_token(response.body)
        self._redactor.add(token.value, temporary=True)
        # REFRESH_MARGIN before expiry, or a quarter of the lifetime for short-lived
        # tokens: a token living under the margin must not be re-issued per call.
        now = self._wall()
        margin = min(REFRESH_MARGIN, max(0.0, token.expires - now) / 4)
        return replace(token, refresh_at=token.expires - margin, obtained_at=now)


def _as_auth_error(exc: ApiError) -> AuthError:
    return AuthError(f"identity service: {exc.reason}", exc.code, exc.status)


def parse_token(body: object) -> Token:
    """Read the token id, ``expires`` and the network endpoints of a token answer."""
    try:
        access = body["access"]  # type: ignore[index]
        token = access["token"]
        value = token["id"]
        expires = parse_create_time(token["expires"])
    except (KeyError, TypeError):
        raise AuthError("identity answer has no access.token", "invalid_response") from None
    if not isinstance(value, str) or not value or expires is None:
        raise AuthError("identity answer has no usable token id / expires", "invalid_response")
    return Token(Secret(value), expires, parse_catalog(access.get("serviceCatalog")))


def parse_catalog(catalog: object) -> dict[str, str]:
    """Network endpoints by lower-case region; the catalog spells regions ``KR1``."""
    endpoints: dict[str, str] = {}
    if not isinstance(catalog, list):
        return endpoints
    for service in catalog:
        if not isinstance(service, dict) or service.get("type") != "network":
            continue
        for endpoint in service.get("endpoints") or []:
            if not isinstance(endpoint, dict):
                continue
            region, url = endpoint.get("region"), endpoint.get("publicURL")
            if isinstance(region, str) and isinstance(url, str) and url.strip():
                endpoints.setdefault(region.strip().lower(), url.strip().rstrip("/"))
    return endpoints
