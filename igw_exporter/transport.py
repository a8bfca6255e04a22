"""One HTTP call to an NHN Cloud API: hard deadline, bounded retries, typed errors.

Every failure becomes an ``ApiError`` carrying a short reason that is safe to log
and to show on the landing page (no URLs with secrets, no tokens, no stack traces).
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from .metrics import SelfMetrics

Clock = Callable[[], float]
Sleep = Callable[[float], None]

# 50,000 gateways are about 20 MB of JSON; anything far beyond is not a gateway list.
MAX_BODY_BYTES = 256 * 1024 * 1024
_CHUNK = 64 * 1024
_EXCERPT = 120
_BACKOFF = (0.5, 1.0, 2.0, 4.0)
USER_AGENT = "igw-exporter"


class ApiError(Exception):
    """A failed API call. ``reason`` is short and secret-free; ``code`` is the metric code."""

    def __init__(
        self, reason: str, code: str, status: int | None = None, retry_after: float = 0.0
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.status = status
        self.retry_after = retry_after  # seconds the server asked us to wait (429)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: Any  # parsed JSON; None for an empty body


@dataclass(frozen=True, slots=True)
class Caller:
    """What every call needs besides its own arguments."""

    session: requests.Session
    metrics: SelfMetrics
    timeout: float
    clock: Clock = time.monotonic
    sleep: Sleep = time.sleep


def call(
    caller: Caller,
    method: str,
    url: str,
    *,
    region: str,
    operation: str,
    deadline: float,
    headers: Mapping[str, str] | None = None,
    json_body: object = None,
    retry: bool = True,
) -> Response:
    """Make one logical call, retrying connection errors, 5xx and 429 while the
    deadline allows. Non-retryable answers (4xx but 429) raise at once."""
    attempt = 0
    while True:
        try:
            return _attempt(caller, method, url, region, operation, deadline, headers, json_body)
        except ApiError as exc:
            retryable = exc.code in {"connection_error", "429"} or (
                exc.status is not None and exc.status >= 500
            )
            if not retry or not retryable or attempt >= len(_BACKOFF):
                raise
            pause = _BACKOFF[attempt]
            pause = max(pause, exc.retry_after)
            # Leave room for the next attempt itself, or give up now with the real reason.
            if caller.clock() + pause + 0.5 >= deadline:
                raise
            caller.sleep(pause)
            attempt += 1


def _attempt(
    caller: Caller,
    method: str,
    url: str,
    region: str,
    operation: str,
    deadline: float,
    headers: Mapping[str, str] | None,
    json_body: object,
) -> Response:
    start = caller.clock()
    remaining = deadline - start
    if remaining <= 0:
        raise ApiError("deadline exceeded", "timeout")
    per_call = min(caller.timeout, remaining)
    code = "connection_error"
    try:
        try:
            response = caller.session.request(
                method,
                url,
                headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
                json=json_body,
                timeout=(min(per_call, 10.0), per_call),
                stream=True,
                allow_redirects=False,
            )
        except requests.exceptions.Timeout:
            code = "timeout"
            raise ApiError(f"timeout after {per_call:.3g}s", code) from None
        except requests.exceptions.RequestException as exc:
            raise ApiError(_connection_reason(exc), code) from None
        with response:
            code = str(response.status_code)
            raw = _read_body(response, deadline, caller.clock)
            if response.status_code >= 400:
                raise ApiError(
                    _status_reason(response.status_code, raw),
                    code,
                    response.status_code,
                    _retry_after(response.headers.get("Retry-After")),
                )
            body = _parse_json(raw, response.headers.get("Content-Type", ""))
            return Response(response.status_code, body)
    except ApiError as exc:
        if exc.code in {"timeout", "connection_error", "invalid_response"}:
            code = exc.code
        raise
    finally:
        caller.metrics.api_requests.labels(region, operation, code).inc()
        caller.metrics.api_request_duration.labels(region, operation).observe(
            caller.clock() - start
        )


def _read_body(response: requests.Response, deadline: float, clock: Clock) -> bytes:
    """Read the whole body, but never past the deadline.

    A per-read timeout alone does not bound a body that drips one byte at a time, so
    the socket timeout is lowered to what is left of the deadline before every read.
    """
    raw = response.raw
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            left = deadline - clock()
            if left <= 0:
                raise ApiError("deadline exceeded while reading the answer", "timeout")
            if sock is not None:
                sock.settimeout(left)
            chunk = raw.read1(_CHUNK) if hasattr(raw, "read1") else raw.read(_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise ApiError(f"answer larger than {MAX_BODY_BYTES} bytes", "invalid_response")
            chunks.append(chunk)
    except ApiError:
        raise
    except (requests.exceptions.RequestException, OSError, ValueError) as exc:
        # urllib3 wraps socket timeouts and cut-off bodies in its own exceptions.
        text = str(exc).lower()
        if "timed out" in text or "timeout" in text:
            raise ApiError("timeout while reading the answer", "timeout") from None
        raise ApiError("connection broken while reading the answer", "connection_error") from None
    except Exception as exc:  # urllib3's ProtocolError and friends are not OSErrors
        name = type(exc).__name__
        if "Timeout" in name:
            raise ApiError("timeout while reading the answer", "timeout") from None
        raise ApiError(
            f"connection broken while reading the answer ({name})", "connection_error"
        ) from None
    return b"".join(chunks)


def _parse_json(raw: bytes, content_type: str) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        kind = content_type.split(";", maxsplit=1)[0].strip() or "no content type"
        raise ApiError(
            f"answer is not JSON ({kind}): {_excerpt(raw)}", "invalid_response"
        ) from None


def _status_reason(status: int, raw: bytes) -> str:
    """``HTTP 404: Not found internetgateway ...``: the status and the API's own message.

    NHN answers errors in several shapes (Neutron, Keystone, Nova, proxy HTML); the
    first ``message`` found is the useful part.
    """
    message = ""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                message = value["message"]
                break
        if not message and isinstance(body.get("message"), str):
            message = body["message"]
    if not message:
        message = _excerpt(raw)
    return f"HTTP {status}: {message}" if message else f"HTTP {status}"


def _excerpt(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    text = " ".join(text.split())
    # Drop markup so a proxy's HTML error page reads as its title.
    if "<" in text:
        text = " ".join(re.sub(r"<[^>]*>", " ", text).split())
    return text[:_EXCERPT] + ("..." if len(text) > _EXCERPT else "")


def _retry_after(value: str | None) -> float:
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, when.timestamp() - time.time())


def _connection_reason(exc: requests.exceptions.RequestException) -> str:
    text = str(exc)
    if (
        "Name or service not known" in text
        or "nodename nor servname" in text
        or ("NameResolution" in text)
    ):
        return "cannot resolve host"
    if "Connection refused" in text:
        return "connection refused"
    if "Connection reset" in text or "RemoteDisconnected" in text:
        return "connection reset"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error"
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return "invalid URL"
    return "connection failed"
