"""HTTP transport: one ThreadingHTTPServer per service, and the fault effects.

Everything socket-level lives here: keep-alive framing, connection tracking (so
stop() and "region unreachable" can cut live keep-alive connections), and the
hang / drip / truncate / reset tricks that need raw control of the socket.
"""

from __future__ import annotations

import contextlib
import errno
import select
import socket
import struct
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol, cast
from urllib.parse import parse_qs, urlsplit

from igw_exporter.simulator.faults import default_response
from igw_exporter.simulator.state import SimState
from igw_exporter.simulator.wire import Request, Response

# serve_forever's poll interval bounds how long shutdown() waits.
_POLL_INTERVAL = 0.05
# How often a hanging request checks whether to give up.
_HANG_CHECK = 0.05
# Idle keep-alive timeout, like nginx's default.
_KEEPALIVE_TIMEOUT = 75.0
_MAX_BODY = 16 * 1024 * 1024


class App(Protocol):
    service: str

    def tenant_of(self, request: Request) -> str | None: ...

    def handle(self, request: Request) -> Response: ...


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App, state: SimState, verbose: bool) -> None:
        self.app = app
        self.state = state
        self.verbose = verbose
        self.base_url = ""
        # Set when this server stops: wakes delayed, dripping and hanging requests.
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(conn)

    def cut_connections(self) -> None:
        """Shut down live connections so blocked handler threads wake and exit.

        Only shutdown(), not close(): the handler thread owns the socket object.
        """
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    # Headers and body go out in separate writes; with Nagle's algorithm and the
    # client's delayed ACK every answer would wait ~40 ms.
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    timeout = _KEEPALIVE_TIMEOUT
    _abort = False

    @property
    def sim_server(self) -> _Server:
        return cast(_Server, self.server)

    def version_string(self) -> str:
        return "nginx"

    def log_message(self, format: str, *args: object) -> None:
        if self.sim_server.verbose:
            sys.stderr.write(f"[sim {self.sim_server.app.service}] {format % args}\n")

    def setup(self) -> None:
        super().setup()
        self.sim_server.track(self.connection)

    def finish(self) -> None:
        try:
            if self._abort:
                # Closing rfile drops the last reference to the socket, so the
                # close() below really closes it; with SO_LINGER 0 that is an RST.
                self.rfile.close()
                self.connection.close()
            else:
                super().finish()
        finally:
            self.sim_server.untrack(self.connection)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # ----- request handling -----

    def _dispatch(self) -> None:
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self._send(default_response(400, self.sim_server.app.service))
            return
        # http.server collapses a leading "//" in self.path (open-redirect fix);
        # take the raw target so a client that forgets to strip the catalog's
        # trailing slash ("...:port//v2.0/...") gets a 404 as it should.
        parts = self.requestline.split()
        target = parts[1] if len(parts) >= 2 else self.path
        split = urlsplit("http://sim" + target if target.startswith("/") else target)
        request = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            base_url=self.sim_server.base_url,
        )
        server = self.sim_server
        app = server.app
        tenant = app.tenant_of(request)
        server.state.record_request(app.service, request.method, request.path, tenant)
        fault = server.state.take_fault(app.service, request.method, request.path, tenant)
        if fault is None:
            self._send(self._handle(request))
            return
        if fault.reset:
            self._reset()
            return
        if fault.hang:
            self._hang()
            return
        if fault.delay and server.stopping.wait(fault.delay):
            self._reset()
            return
        normal = None if fault.status is not None else self._handle(request)
        self._send(fault.apply(app.service, normal), drip=fault.drip, truncate=fault.truncate)

    def _handle(self, request: Request) -> Response:
        try:
            return self.sim_server.app.handle(request)
        except Exception:
            # A simulator bug must show up, but as a 500 rather than a dead socket.
            traceback.print_exc()
            return default_response(500, self.sim_server.app.service)

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            return None
        if not 0 <= length <= _MAX_BODY:
            return None
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # skip trailers
                return b"".join(parts)
            total += size
            if total > _MAX_BODY:
                return None
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    # ----- responses and fault effects -----

    def _send(
        self, response: Response, drip: float | None = None, truncate: int | None = None
    ) -> None:
        bodyless = response.status in (204, 304) or response.status < 200
        body = b"" if bodyless else response.body
        try:
            self.send_response(response.status)
            if not bodyless:
                if response.content_type:
                    self.send_header("Content-Type", response.content_type)
                # Always the full length, even when truncating or dripping.
                self.send_header("Content-Length", str(len(body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if truncate is not None:
                self.wfile.write(body[:truncate])
                self.close_connection = True
            elif drip is not None:
                self._drip(body, drip)
            else:
                self.wfile.write(body)
        except OSError:
            # The client went away (or we are stopping): nothing left to tell it.
            self.close_connection = True

    def _drip(self, body: bytes, interval: float) -> None:
        stopping = self.sim_server.stopping
        for i in range(len(body)):
            self.wfile.write(body[i : i + 1])
            if stopping.wait(interval):
                self.close_connection = True
                return

    def _reset(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._abort = True
        self.close_connection = True

    def _hang(self) -> None:
        """Never answer; return when the client disconnects or the server stops."""
        conn = self.connection
        stopping = self.sim_server.stopping
        while not stopping.is_set():
            try:
                readable, _, _ = select.select([conn], [], [], _HANG_CHECK)
                if readable and not conn.recv(1, socket.MSG_PEEK):
                    break  # EOF: the client gave up
            except (OSError, ValueError):
                break
            if readable:
                # The client sent more bytes (pipelining): keep ignoring it.
                stopping.wait(_HANG_CHECK)
        self.close_connection = True


class Listener:
    """One server on a fixed host/port that can stop and listen again."""

    def __init__(
        self,
        app: App,
        state: SimState,
        host: str,
        port: int,
        advertise_host: str,
        verbose: bool = False,
    ) -> None:
        self.app = app
        self._state = state
        self._host = host
        self._port = port
        self._advertise_host = advertise_host
        self._verbose = verbose
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._port == 0:
            raise RuntimeError("simulator is not started")
        return self._port

    @property
    def url(self) -> str:
        host = self._advertise_host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        if self._server is not None:
            return
        server = self._bind()
        self._port = server.server_address[1]
        server.base_url = self.url
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL},
            name=f"igw-sim-{self.app.service}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread

    def _bind(self) -> _Server:
        # Re-listening on the same port can briefly race the old socket's
        # teardown; retry a little instead of failing the caller.
        deadline = time.monotonic() + 2.0
        while True:
            try:
                return _Server((self._host, self._port), self.app, self._state, self._verbose)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        server.stopping.set()
        server.shutdown()
        server.server_close()
        server.cut_connections()
        thread.join(timeout=2.0)
