"""HTTP endpoints: /metrics, the landing page, /healthz and /readyz.

A request only reads what the poller published; it never calls NHN Cloud.
"""

from __future__ import annotations

import html
import re
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from . import __version__
from .exposition import CONTENT_TYPE, gzip_join
from .store import Store
from .webconfig import WebConfig

_TEXT = "text/plain; charset=utf-8"
_HANDSHAKE_TIMEOUT = 10.0


class ListenAddressError(ValueError):
    """``--web.listen-address`` is not ``host:port``."""


def parse_listen_address(address: str) -> tuple[str, int]:
    """``:9936``, ``0.0.0.0:9936``, ``localhost:9936`` or ``[::]:9936``."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not re.fullmatch(r"[0-9]{1,5}", port_text) or int(port_text) > 65535:
        raise ListenAddressError(f"invalid listen address {address!r}: want host:port, like :9936")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port_text)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: App, web: WebConfig) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        self.web = web
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, in the request's own thread, so that a slow
        # or broken client cannot stall the accept loop.
        if self.web.ssl_context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(_HANDSHAKE_TIMEOUT)
        try:
            tls = self.web.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


class App:
    """What the handlers serve from."""

    def __init__(
        self,
        store: Store,
        registry: CollectorRegistry,
        telemetry_path: str,
        reload: Callable[[], Sequence[str]] | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.telemetry_path = telemetry_path
        self.reload = reload


class HttpServer:
    """Binds at construction, so a taken port fails before anything else starts."""

    def __init__(self, address: str, app: App, web: WebConfig | None = None) -> None:
        self._server = _Server(parse_listen_address(address), app, web or WebConfig())
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="igw-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle or trickling client does not hold a thread for ever
    # Headers and body are separate writes: without this, Nagle's algorithm and the
    # scraper's delayed ACK add ~40 ms to a scrape.
    disable_nagle_algorithm = True
    server_version = f"igw-exporter/{__version__}"

    def log_message(self, format: str, *args: Any) -> None:
        # Access logs would drown the transition events; Prometheus records scrapes.
        pass

    def _authorized(self) -> bool:
        auth = self.server.web.auth
        if auth is None or auth.check(self.headers.get("Authorization")):
            return True
        self._send(
            401,
            _TEXT,
            (b"Unauthorized\n",),
            self.command == "HEAD",
            {"WWW-Authenticate": 'Basic realm="igw-exporter"'},
        )
        return False

    def do_HEAD(self) -> None:
        if self._authorized():
            self._dispatch(head=True)

    def do_GET(self) -> None:
        if self._authorized():
            self._dispatch(head=False)

    def do_POST(self) -> None:
        if not self._authorized():
            return
        app = self.server.app
        if self.path.split("?", 1)[0] != "/-/reload" or app.reload is None:
            self._send(404, _TEXT, (b"not found\n",), False)
            return
        problems = app.reload()
        if problems:
            text = "failed to reload config:\n" + "".join(f"  {p}\n" for p in problems)
            self._send(500, _TEXT, (text.encode(),), False)
        else:
            self._send(200, _TEXT, (b"config reloaded\n",), False)

    def _dispatch(self, head: bool) -> None:
        app = self.server.app
        path = self.path.split("?", 1)[0]
        if path == app.telemetry_path:
            self._metrics(app, head)
        elif path == "/":
            self._send(200, "text/html; charset=utf-8", (landing_page(app).encode(),), head)
        elif path == "/healthz":
            self._send(200, _TEXT, (b"OK\n",), head)
        elif path == "/readyz":
            if app.store.ready:
                self._send(200, _TEXT, (b"ready\n",), head)
            else:
                self._send(503, _TEXT, (b"first poll not finished\n",), head)
        else:
            self._send(404, _TEXT, (b"not found\n",), head)

    def _metrics(self, app: App, head: bool) -> None:
        body = app.store.current.body
        live = generate_latest(app.registry)
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            payload = gzip_join(body, live)
            self._send(200, CONTENT_TYPE, (payload,), head, {"Content-Encoding": "gzip"})
        else:
            # Two writes, not ``data + live``: concatenating copies the whole exposition.
            self._send(200, CONTENT_TYPE, (body.data, live), head)

    def _send(
        self,
        status: int,
        content_type: str,
        chunks: tuple[bytes, ...],
        head: bool,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(sum(len(c) for c in chunks)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            for chunk in chunks:
                self.wfile.write(chunk)


def landing_page(app: App) -> str:
    """A small status page: links, then every target with its health."""
    snapshot = app.store.current.snapshot
    rows = []
    for key in sorted(snapshot.targets):
        t = snapshot.targets[key]
        status = "up" if t.up else ("stale" if t.stale else "down")
        last = _when(t.last_success)
        rows.append(
            "<tr>"
            f"<td>{html.escape(key.region)}</td><td>{html.escape(key.tenant_id)}</td>"
            f"<td>{html.escape(t.tenant_name)}</td><td class={status}>{status}</td>"
            f"<td>{t.exported_count}</td><td>{last}</td><td>{html.escape(t.error)}</td>"
            "</tr>"
        )
    table = "\n".join(rows) or '<tr><td colspan="7">no poll finished yet</td></tr>'
    path = html.escape(app.telemetry_path)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>igw-exporter</title>
<style>
body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}
.up{{color:#080}} .down{{color:#c00}} .stale{{color:#c60}}
</style></head>
<body>
<h1>igw-exporter</h1>
<p>Prometheus exporter for NHN Cloud Internet Gateways, version {html.escape(__version__)}.</p>
<ul>
<li><a href="{path}">Metrics</a></li>
<li><a href="/healthz">Health</a> and <a href="/readyz">readiness</a></li>
</ul>
<h2>Targets</h2>
<p>As of poll {snapshot.cycle}, {_when(snapshot.taken_at or None)}.</p>
<table>
<tr><th>Region</th><th>Tenant ID</th><th>Tenant</th><th>Status</th><th>Gateways</th>
<th>Last success</th><th>Error</th></tr>
{table}
</table>
</body></html>
"""


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
