"""One HTTP call to an NHN Cloud API: hard deadline, bounded retries, typed errors.

Every failure becomes an ``ApiError`` carrying a short reason that is safe to log
and to show on the landing page (no URLs with secrets, no tokens, no stack traces).
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.response import BaseHTTPResponse

from .metrics import SelfMetrics

Clock = Callable[[], float]
Sleep = Callable[[float], None]

# 50,000 gateways are about 20 MB of JSON; anything far beyond is not a gateway list.
MAX_BODY_BYTES = 256 * 1024 * 1024
_CHUNK = 64 * 1024
_EXCERPT = 120
_BACKOFF = (0.5, 1.0, 2.0, 4.0)
USER_AGENT = "igw-exporter"


class _Watchdog:
    """Shuts down the sockets of one API call when its deadline passes.

    Socket timeouts bound each read, not the call: a server that sends its headers or
    body one byte at a time would hold a poll for ever. Shutting the socket down
    from a timer thread makes the blocked read return at once.
    """

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            fired = self.fired
        if fired:
            _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)

    def __enter__(self) -> _Watchdog:
        _local.watchdog = self
        self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._timer.cancel()
        _local.watchdog = None


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


_local = threading.local()


def _watch(conn: HTTPConnection) -> None:
    dog: _Watchdog | None = getattr(_local, "watchdog", None)
    if dog is not None and conn.sock is not None:
        dog.watch(conn.sock)


class _Watched(HTTPConnection):
    """Hands its socket to the calling thread's watchdog before reading an answer."""

    def getresponse(self) -> BaseHTTPResponse:  # type: ignore[override]
        _watch(self)
        return super().getresponse()


class _WatchedHTTPConnection(_Watched):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _DeadlineAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def new_session(pool_size: int) -> requests.Session:
    """A session whose calls can be cut off at their deadline (see _Watchdog)."""
    session = requests.Session()
    # Retries are ours (bounded by the poll deadline); urllib3's would not be.
    adapter = _DeadlineAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


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
    # Removes known secrets from reasons built from an answer (a server may echo them).
    scrub: Callable[[str], str] = str


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
            if not retryable or attempt >= len(_BACKOFF):
                raise
            pause = max(_BACKOFF[attempt], exc.retry_after)
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
    watchdog = _Watchdog(remaining)
    try:
        with watchdog:
            response = _exchange(caller, method, url, deadline, per_call, headers, json_body)
        code = str(response.status)
        return response
    except ApiError as exc:
        if watchdog.fired and exc.code in {"timeout", "connection_error"}:
            exc = ApiError("deadline exceeded", "timeout")
        code = exc.code if exc.status is None else str(exc.status)
        raise exc from None
    finally:
        caller.metrics.api_requests.labels(region, operation, code).inc()
        caller.metrics.api_request_duration.labels(region, operation).observe(
            caller.clock() - start
        )


def _exchange(
    caller: Caller,
    method: str,
    url: str,
    deadline: float,
    per_call: float,
    headers: Mapping[str, str] | None,
    json_body: object,
) -> Response:
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
        raise ApiError(f"timeout after {per_call:.3g}s", "timeout") from None
    except requests.exceptions.RequestException as exc:
        raise ApiError(_connection_reason(exc), "connection_error") from None
    with response:
        raw = _read_body(response, deadline, caller.clock)
        if response.status_code >= 400:
            raise ApiError(
                caller.scrub(_status_reason(response.status_code, raw)),
                str(response.status_code),
                response.status_code,
                _retry_after(response.headers.get("Retry-After")),
            )
        try:
            body = _parse_json(raw, response.headers.get("Content-Type", ""))
        except ApiError as exc:
            raise ApiError(caller.scrub(exc.reason), exc.code) from None
        return Response(response.status_code, body)


def _read_body(response: requests.Response, deadline: float, clock: Clock) -> bytes:
    """Read the whole body, but never past the deadline.

    The watchdog bounds the reads; the check between chunks ends a fast, endless body.
    """
    raw = response.raw
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            left = deadline - clock()
            if left <= 0:
                raise ApiError("deadline exceeded while reading the answer", "timeout")
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
    # A proxy's HTML error page reads best as its title, without the repeated status.
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title:
        text = re.sub(r"^\d{3}\s+", "", " ".join(title.group(1).split()))
    elif "<" in text:
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
