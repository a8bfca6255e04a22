"""--web.config.file: HTTPS with a certificate made here, and basic auth on every path."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import bcrypt
import pytest
import requests

from igw_exporter.simulator import Simulator
from tests.integration.harness import Exporter, free_port, wait_for, write_config
from tests.tls import self_signed

USER, PASSWORD = "prometheus", "scrape-secret-42"


def web_config(tmp_path: Path) -> Path:
    cert, key = self_signed(tmp_path)
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    path = tmp_path / "web.yml"
    # Relative paths resolve against the web config file, as in exporter-toolkit.
    path.write_text(
        f"tls_server_config:\n  cert_file: {cert.name}\n  key_file: {key.name}\n"
        f"basic_auth_users:\n  {USER}: {hashed}\n"
    )
    return path


def test_https_and_basic_auth_on_every_path(sim: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yml", sim, interval=30)
    web = web_config(tmp_path)
    port = free_port()
    exporter = Exporter(
        [
            "--config.file",
            str(config),
            "--web.config.file",
            str(web),
            "--web.listen-address",
            f"127.0.0.1:{port}",
        ],
        tmp_path / "exporter.log",
        port,
    )
    url = f"https://127.0.0.1:{port}"
    ca = str(tmp_path / "tls.crt")
    try:

        def ready() -> bool:
            try:
                r = requests.get(url + "/readyz", auth=(USER, PASSWORD), verify=ca, timeout=5)
            except requests.ConnectionError:
                return False
            return r.status_code == 200

        wait_for(ready)

        for path in ("/metrics", "/", "/healthz", "/readyz"):
            ok = requests.get(url + path, auth=(USER, PASSWORD), verify=ca, timeout=5)
            assert ok.status_code == 200, path
            for headers in (
                {},
                {"Authorization": "Basic " + base64.b64encode(f"{USER}:wrong".encode()).decode()},
                {
                    "Authorization": "Basic "
                    + base64.b64encode(b"nobody:" + PASSWORD.encode()).decode()
                },
                {"Authorization": "Basic " + base64.b64encode(b"no-colon-here").decode()},
                {"Authorization": "Basic %%%not-base64%%%"},
                {"Authorization": "Bearer " + PASSWORD},
                {"Authorization": "Basic"},
            ):
                denied = requests.get(url + path, headers=headers, verify=ca, timeout=5)
                assert denied.status_code == 401, (path, headers)
                assert denied.headers["WWW-Authenticate"] == 'Basic realm="igw-exporter"'
                assert "nhncloud_igw" not in denied.text
        denied = requests.post(url + "/-/reload", verify=ca, timeout=5)
        assert denied.status_code == 401
        # Plain HTTP on the TLS port gets no answer with data.
        with pytest.raises(requests.RequestException):
            requests.get(f"http://127.0.0.1:{port}/metrics", auth=(USER, PASSWORD), timeout=5)
        assert PASSWORD not in exporter.log_text()
    finally:
        exporter.kill()


def test_invalid_web_config_is_rejected_at_start(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yml", "http://127.0.0.1:9")
    web = tmp_path / "web.yml"
    web.write_text(
        "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n"
        "  client_auth_type: Sometimes\n"
        "basic_auth_users:\n  alice: not-a-bcrypt-hash\n"
        "http2: true\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "igw_exporter",
            "--config.file",
            str(config),
            "--web.config.file",
            str(web),
            "--config.check",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    lines = [line.strip() for line in result.stderr.splitlines()[1:]]
    assert lines == [
        f"{web}: http2: unknown or unsupported key",
        f"{web}: tls_server_config.client_auth_type: must be one of NoClientCert, "
        "RequestClientCert, VerifyClientCertIfGiven, RequireAnyClientCert, "
        "RequireAndVerifyClientCert",
        f"{web}: basic_auth_users.alice: not a bcrypt hash of cost 4 to 16 (60 characters)",
    ]


def test_web_config_fails_closed(tmp_path: Path) -> None:
    from igw_exporter.config import ConfigError
    from igw_exporter.webconfig import load_web_config

    cert, key = self_signed(tmp_path)
    real = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()
    tls = f"tls_server_config:\n  cert_file: {cert}\n"
    cases = {
        "tls_server_config:\n": "tls_server_config: is empty",
        f"{tls}  key_file: {key}\n  client_ca_file: {cert}\n": "without a client_auth_type",
        f"basic_auth_users:\n  a: {real}\n  a: {real}\n": "a: duplicate key",
        f"basic_auth_users:\n  a: '{real[:40]}'\n": "not a bcrypt hash",
        "basic_auth_users:\n  a: '$2b$31$" + "a" * 53 + "'\n": "of cost 4 to 16",
        f"tls_server_config:\n  cert_file: {key}\n  key_file: {key}\n": "not a matching PEM",
        f"{tls}  key_file: nope.key\n": "no such file: key_file",
    }
    for text, message in cases.items():
        path = tmp_path / "web.yml"
        path.write_text(text)
        with pytest.raises(ConfigError) as caught:
            load_web_config(path)
        assert any(message in p for p in caught.value.problems), (text, caught.value.problems)


def test_malformed_credentials_never_break_the_handler() -> None:
    from igw_exporter.webconfig import BasicAuth

    auth = BasicAuth({USER: bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4))})
    long_password = base64.b64encode(f"{USER}:{'0' * 100}".encode()).decode()
    for header in (f"Basic {long_password}", "Basic \xe9\xe9\xe9", "Basic", "", None, "basic"):
        assert auth.check(header) is False
    good = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert auth.check(f"basic {good}") is True  # the scheme is case-insensitive
