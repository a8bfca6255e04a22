"""A call never outlives its deadline, however slowly the server talks (real sockets)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from igw_exporter.metrics import SelfMetrics
from igw_exporter.transport import ApiError, Caller, call, new_session


@pytest.fixture
def dripping_server() -> Iterator[tuple[int, list[bytes]]]:
    """Accepts connections; sends a status line, then one header byte every 0.2 s."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()
    script: list[bytes] = [b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"a" * 1000]

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    def drip(conn: socket.socket) -> None:
        conn.recv(65536)
        try:
            conn.sendall(script[0])
            for byte in script[1]:
                if stop.is_set():
                    break
                conn.sendall(bytes([byte]))
                time.sleep(0.2)
        except OSError:
            pass
        finally:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], script
    stop.set()
    listener.close()


def caller(timeout: float) -> Caller:
    return Caller(new_session(2), SelfMetrics(), timeout)


def test_headers_dripping_cannot_outlive_the_deadline(
    dripping_server: tuple[int, list[bytes]],
) -> None:
    port, _ = dripping_server
    c = caller(timeout=1.0)
    start = time.monotonic()
    with pytest.raises(ApiError) as caught:
        call(
            c,
            "GET",
            f"http://127.0.0.1:{port}/",
            region="kr1",
            operation="op",
            deadline=start + 2.0,
        )
    elapsed = time.monotonic() - start
    assert 1.9 < elapsed < 2.6
    assert caught.value.code == "timeout"
    assert caught.value.reason == "deadline exceeded"
    assert (
        c.metrics.registry.get_sample_value(
            "igw_exporter_api_requests_total",
            {"nhn_region": "kr1", "operation": "op", "code": "timeout"},
        )
        == 1
    )


def test_body_dripping_cannot_outlive_the_deadline(
    dripping_server: tuple[int, list[bytes]],
) -> None:
    port, script = dripping_server
    script[0] = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
    script[1] = b"{" * 1000
    c = caller(timeout=1.0)
    start = time.monotonic()
    with pytest.raises(ApiError, match="deadline exceeded"):
        call(
            c,
            "GET",
            f"http://127.0.0.1:{port}/",
            region="kr1",
            operation="op",
            deadline=start + 1.5,
        )
    assert time.monotonic() - start < 2.1


def test_a_reason_built_from_the_answer_is_scrubbed() -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Echo(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = b'{"error": {"message": "token tok-SECRET-123 is not valid"}}'
            self.send_response(403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        c = Caller(
            new_session(1),
            SelfMetrics(),
            2.0,
            scrub=lambda text: text.replace("tok-SECRET-123", "<redacted>"),
        )
        with pytest.raises(ApiError) as caught:
            call(
                c,
                "GET",
                f"http://127.0.0.1:{server.server_port}/",
                region="kr1",
                operation="op",
                deadline=time.monotonic() + 5,
            )
        assert caught.value.reason == "HTTP 403: token <redacted> is not valid"
    finally:
        server.shutdown()
        server.server_close()


def test_https_calls_go_through_the_watched_connection(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real API is HTTPS: the deadline machinery must not break TLS."""
    import ssl
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from pathlib import Path

    from tests.tls import self_signed

    cert, key = self_signed(Path(str(tmp_path)))

    class Ok(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = b'{"internetgateways": []}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # requests lets these variables override Session.verify.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    try:
        session = new_session(1)
        session.verify = str(cert)
        c = Caller(session, SelfMetrics(), 2.0)
        response = call(
            c,
            "GET",
            f"https://127.0.0.1:{server.server_port}/",
            region="kr1",
            operation="op",
            deadline=time.monotonic() + 5,
        )
        assert response.body == {"internetgateways": []}
    finally:
        server.shutdown()
        server.server_close()
