"""Run the real exporter as a subprocess against the simulator, over HTTP on 127.0.0.1."""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import requests
from prometheus_client.parser import text_string_to_metric_families

from igw_exporter.simulator import Simulator

T = TypeVar("T")

TENANTS = {
    "production": ("130f20670ac34949b64b10ad8a5989c8", "ops@example.com", "pw-production-1234"),
    "staging": ("0123456789abcdef0123456789abcdef", "ops@example.com", "pw-staging-5678"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], T], timeout: float = 15.0, interval: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {value!r})")
        time.sleep(interval)
        value = check()
    return value


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """The value of the one sample of ``name`` whose labels include ``labels``."""
    found = [v for (n, lbl), v in samples.items() if n == name and set(labels.items()) <= lbl]
    assert len(found) <= 1, f"{name}{labels} matches {len(found)} samples"
    return found[0] if found else None


def series(samples: Samples, name: str, **labels: str) -> list[dict[str, str]]:
    return [
        dict(lbl) for (n, lbl), _ in samples.items() if n == name and set(labels.items()) <= lbl
    ]


def write_config(
    path: Path,
    sim: Simulator | str,
    *,
    tenants: Sequence[str] = ("production", "staging"),
    interval: float = 1.0,
    timeout: float = 2.0,
    stale_after: float = 30.0,
    regions: Sequence[str] | None = None,
    extra: str = "",
) -> Path:
    secrets = path.parent / "secrets"
    secrets.mkdir(exist_ok=True)
    url = sim if isinstance(sim, str) else sim.identity_url
    lines = [f"identity:\n  url: {url}\n  username: ops@example.com"]
    lines.append("tenants:")
    for name in tenants:
        tenant_id, _, password = TENANTS[name]
        secret = secrets / name
        secret.write_text(password + "\n")
        lines.append(f"  - id: {tenant_id}\n    name: {name}\n    password_file: {secret}")
    if regions is not None:
        lines.append(f"regions: [{', '.join(regions)}]")
    lines.append(
        f"poll:\n  interval: {interval}s\n  timeout: {timeout}s\n  stale_after: {stale_after}s"
    )
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def add_users(sim: Simulator, tenants: Sequence[str] = ("production", "staging")) -> None:
    for name in tenants:
        tenant_id, username, password = TENANTS[name]
        sim.add_user(tenant_id, username, password, tenant_name=name)


class Exporter:
    """A running ``igw-exporter`` process."""

    def __init__(self, args: Sequence[str], log_path: Path, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "igw_exporter", *args],
            stdout=subprocess.PIPE,
            stderr=self._log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=5, **kwargs)

    def scrape(self) -> Samples:
        response = self.get("/metrics")
        response.raise_for_status()
        return parse(response.text)

    def raw_metrics(self, gzip_ok: bool = False) -> bytes:
        headers = {"Accept-Encoding": "gzip" if gzip_ok else "identity"}
        response = requests.get(self.url + "/metrics", headers=headers, timeout=5, stream=True)
        body = response.raw.read()
        return gzip.decompress(body) if response.headers.get("Content-Encoding") == "gzip" else body

    def wait_ready(self, timeout: float = 20.0) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"exporter exited {self.process.returncode}: {self.log_text()}"
                )
            try:
                return self.get("/readyz").status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(ready, timeout)

    def cycles(self) -> int:
        return int(value(self.scrape(), "igw_exporter_polls_total") or 0)

    def wait_cycles(self, count: int = 1, timeout: float = 20.0) -> None:
        """Wait until ``count`` more poll cycles have finished."""
        target = self.cycles() + count
        wait_for(lambda: self.cycles() >= target, timeout)

    def log_text(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        events = []
        for line in self.log_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                raise AssertionError(f"log line is not JSON: {line!r}") from None
            if name is None or event.get("event") == name:
                events.append(event)
        return events

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()


@contextmanager
def running_exporter(config: Path, *extra: str) -> Iterator[Exporter]:
    port = free_port()
    exporter = Exporter(
        [
            "--config.file",
            str(config),
            "--web.listen-address",
            f"127.0.0.1:{port}",
            "--log.level",
            "debug",
            "--log.format",
            "json",
            *extra,
        ],
        config.parent / "exporter.log",
        port,
    )
    try:
        exporter.wait_ready()
        yield exporter
    finally:
        exporter.kill()
