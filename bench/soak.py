"""Soak: the real exporter against the simulator, many polls, random faults and churn.

Run: .venv/bin/python -m bench.soak [--polls 2500] [--interval 0.2] [--seed N]

The simulator runs in this process with the demo fleet (3 tenants x 3 regions), a
FleetDriver moving it every --churn-period seconds, random creates/deletes (odd names
included) and short-lived tokens. The exporter runs as a subprocess (`igw_exporter`
CLI, JSON logs to a file). While it polls, faults of every kind are injected on random
regions/tenants and cleared again, /metrics is scraped without pause and the
configuration is reloaded now and then (SIGHUP and POST /-/reload, valid and invalid).

Phases: warm-up (--warmup polls, same faults), settle, START sample, soak (--polls
polls), settle, END sample, SIGTERM. "Settle" clears every fault, pauses the churn,
restores the full configuration and waits until every target is up for 2 polls, so
that START and END are taken in the same conditions. A sample is 7 readings, 0.2 s
apart, of /proc/<pid>/status (VmRSS, Threads), /proc/<pid>/fd and /metrics: the
floor for threads and fds (transient ones only add), the median for RSS.

`poll.interval` in the configuration file is at least 1s. For a shorter --interval
the exporter is started through a 10-line launcher that runs the normal CLI
(`igw_exporter.cli.main`) with `load_config` wrapped to lower the poll interval after
validation; nothing else differs. --interval 1 or more runs `python -m igw_exporter`.

Exit status: 0 when resources stayed flat and nothing broke, 1 otherwise (growth
beyond the thresholds, exporter crash or non-zero exit, scrape errors, exceptions or
secrets in the log, ghost series, a poll past its deadline).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from prometheus_client.parser import text_string_to_metric_families

from igw_exporter.simulator import Fault, Simulator
from igw_exporter.simulator.fleet import (
    DEMO_TENANTS,
    DemoTenant,
    FleetDriver,
    populate_demo_fleet,
)

GATEWAYS_PATH = "/v2.0/internetgateways"
CONFIG_MIN_INTERVAL = 1.0  # igw_exporter.config: poll.interval "between 1s and 24h"
GATEWAY_PREFIX = "nhncloud_igw_"
# Families whose label values come from small closed sets (they grow as new codes
# or transition kinds are first seen, then stop): checked by vocabulary, not count.
BOUNDED_FAMILIES = (
    "igw_exporter_api_requests_total",
    "igw_exporter_api_request_duration_seconds",
    "igw_exporter_transitions_total",
)
FAILURE_CODES = frozenset({"timeout", "connection_error", "invalid_response"})
OPERATIONS = frozenset({"list_internetgateways", "issue_token"})
TRANSITION_KINDS = frozenset({"added", "removed", "state_changed", "migrate_status_changed"})
# Reasons that mean a deadline was defeated or an exception escaped a target.
BUG_REASONS = ("poll deadline exceeded", "not read within the poll deadline", "internal error")
TOKEN_PATTERN = re.compile(r"gAAAAA[A-Za-z0-9_-]{40,}")

# Runs the normal CLI with the poll interval lowered below the config file's minimum.
LAUNCHER = """\
import sys
from dataclasses import replace
import igw_exporter.app, igw_exporter.cli, igw_exporter.config
interval = float(sys.argv[1])
validated = igw_exporter.config.load_config
def load_config(path, environ=None):
    settings = validated(path, environ)
    return replace(settings, poll=replace(settings.poll, interval=interval))
igw_exporter.app.load_config = igw_exporter.cli.load_config = load_config
sys.exit(igw_exporter.cli.main(sys.argv[2:]))
"""

Emit = Callable[[str], None]


@dataclass
class Options:
    polls: int = 2500
    warmup: int = 0  # 0: max(20, polls // 20)
    interval: float = 0.2
    timeout: float = 1.0  # poll.timeout; a target's deadline is twice that
    stale_after: float = 3.0
    max_seconds: float = 0.0  # 0: derived from polls
    seed: int | None = None
    fault_rate: float = 0.7  # new faults per second (while fewer than max_faults run)
    max_faults: int = 3
    fault_seconds: tuple[float, float] = (0.5, 4.0)
    churn_period: float = 0.5  # FleetDriver period
    churn_rate: float = 1.0  # extra random creates/deletes per second
    reload_every: float = 10.0
    token_lifetime: float = 30.0
    scrape_pause: float = 0.05
    keep_log: str = ""  # copy the exporter's log here
    # Noise thresholds, END minus START.
    max_rss_growth_mb: float = 12.0
    max_rss_growth_ratio: float = 0.15  # the larger of the two applies
    max_thread_growth: int = 4
    max_fd_growth: int = 4  # fds other than sockets to the APIs
    # Sockets to the APIs at END. One session's pools hold at most 4 hosts x 16
    # (pool_maxsize = 2 x poll.concurrency); a session dropped by a reload may stay
    # open until the cyclic GC runs (see docs/reliability.md), so this is an upper
    # bound, not a growth.
    max_api_sockets: int = 64

    def warmup_polls(self) -> int:
        return self.warmup or max(20, self.polls // 20)

    def time_limit(self) -> float:
        if self.max_seconds:
            return self.max_seconds
        per_poll = max(self.interval, 0.1) * 2.5  # ~1.7 x interval is typical
        return 120 + (self.polls + self.warmup_polls()) * per_poll


@dataclass(frozen=True)
class Sample:
    polls: int
    rss_kb: int
    threads: int
    fds: int
    series: int
    gateway_series: int
    gateways: int
    bounded_series: int
    fixed: frozenset[tuple[str, tuple[tuple[str, str], ...]]]
    api_sockets: int = 0  # fds that are sockets to identity or a region
    other_fds: int = 0  # every other fd
    fd_kinds: tuple[tuple[str, int], ...] = ()  # of the reading with the fewest fds


@dataclass
class Result:
    options: Options
    seed: int
    start: Sample | None = None
    end: Sample | None = None
    polls: int = 0  # completed in the soak phase
    total_polls: int = 0
    skipped_polls: int = 0
    scrapes: int = 0
    scrape_errors: list[str] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    reloads: Counter[str] = field(default_factory=Counter)
    churn: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    down_reasons: Counter[str] = field(default_factory=Counter)
    max_cycle: float = 0.0
    cycle_bound: float = 0.0
    token_requests: int = 0
    api_requests: int = 0
    peak_threads: int = 0
    peak_fds: int = 0
    trend: list[tuple[float, int, int, int, int, int]] = field(default_factory=list)
    seconds: float = 0.0
    stop_seconds: float = 0.0
    exit_code: int | None = None
    crashed: str = ""
    time_limit_hit: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# ----- the exporter process --------------------------------------------------------


TCP_STATES = {
    "01": "ESTABLISHED",
    "02": "SYN_SENT",
    "03": "SYN_RECV",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "06": "TIME_WAIT",
    "07": "CLOSE",
    "08": "CLOSE_WAIT",
    "09": "LAST_ACK",
    "0A": "LISTEN",
    "0B": "CLOSING",
}


def fd_kinds(pid: int, roles: dict[int, str]) -> Counter[str]:
    """What a process's open fds are: files, pipes, and TCP sockets by peer and state.

    ``roles`` names ports: a socket whose peer port is known is "to <role>", one whose
    own port is known is "from <role> clients" (inbound).
    """
    sockets: dict[str, str] = {}
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                cols = line.split()
                local = int(cols[1].rsplit(":", 1)[1], 16)
                remote = int(cols[2].rsplit(":", 1)[1], 16)
                state = TCP_STATES.get(cols[3], cols[3])
                if state == "LISTEN":
                    where = f"listening ({roles.get(local, local)})"
                elif remote in roles:
                    where = f"to {roles[remote]} {state}"
                elif local in roles:
                    where = f"from {roles[local]} clients {state}"
                else:
                    where = f"tcp {state}"
                sockets[cols[9]] = where
    kinds: Counter[str] = Counter()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    kinds[sockets.get(link[8:-1], "other socket")] += 1
                elif link.startswith(("pipe:", "anon_inode:")):
                    kinds[link.split(":", 1)[0].split("[")[0]] += 1
                else:
                    kinds["file"] += 1
    return kinds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ExporterProcess:
    def __init__(self, config: Path, interval: float, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        args = [
            "--config.file",
            str(config),
            "--web.listen-address",
            f"127.0.0.1:{self.port}",
            "--log.format",
            "json",
        ]
        if interval < CONFIG_MIN_INTERVAL:
            command = [sys.executable, "-c", LAUNCHER, repr(interval), *args]
        else:
            command = [sys.executable, "-m", "igw_exporter", *args]
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.pid = self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def resources(self) -> tuple[int, int, int]:
        """(VmRSS kB, threads, open fds) from /proc."""
        rss = threads = 0
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
        fds = len(os.listdir(f"/proc/{self.pid}/fd"))
        return rss, threads, fds

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"exporter exited {self.process.returncode} at start")
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"exporter not ready within {timeout:g}s")

    def stop(self, timeout: float = 15.0) -> tuple[int | None, float]:
        """SIGTERM; (exit code or None if it had to be killed, seconds to exit)."""
        start = time.monotonic()
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = None
        self._log.close()
        return code, time.monotonic() - start

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait()
        self._log.close()


# ----- scraping ---------------------------------------------------------------------

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


def parse_exposition(text: str) -> dict[SeriesKey, float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def first(samples: dict[SeriesKey, float], name: str) -> float:
    return next((v for (n, _), v in samples.items() if n == name), 0.0)


def check_consistent(samples: dict[SeriesKey, float]) -> str:
    """'' when the per-target gateway counts match the gateway series of one poll."""
    info = sum(1 for n, _ in samples if n == "nhncloud_igw_info")
    counted = sum(v for (n, _), v in samples.items() if n == "igw_exporter_target_gateways")
    if info != counted:
        return f"{info} nhncloud_igw_info series but igw_exporter_target_gateways sums to {counted}"
    return ""


class Scraper:
    """Scrapes /metrics without pause (plain and gzip), checks every answer."""

    def __init__(self, url: str, pause: float) -> None:
        self._url = url
        self._pause = pause
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-scraper", daemon=True)
        self._session = requests.Session()  # the scraping thread's
        self._probe = requests.Session()  # the main thread's (sessions are not thread-safe)
        self._lock = threading.Lock()
        self.scrapes = 0
        self.errors: list[str] = []
        self.latest: dict[SeriesKey, float] = {}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=15)
        self._session.close()
        self._probe.close()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                self.scrape_once(gzip_ok=n % 2 == 0, session=self._session)
                if n % 25 == 0:
                    page = self._session.get(self._url + "/", timeout=10)
                    if page.status_code != 200:
                        raise RuntimeError(f"landing page: HTTP {page.status_code}")
            except Exception as exc:
                with self._lock:
                    self.errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            self._stop.wait(self._pause)

    def scrape_once(
        self, gzip_ok: bool = False, session: requests.Session | None = None
    ) -> dict[SeriesKey, float]:
        """One checked scrape; from the main thread unless ``session`` is given."""
        headers = {"Accept-Encoding": "gzip" if gzip_ok else "identity"}
        response = (session or self._probe).get(
            self._url + "/metrics", headers=headers, timeout=10, stream=True
        )
        body = response.raw.read()
        if response.status_code != 200:
            raise RuntimeError(f"/metrics: HTTP {response.status_code}")
        if response.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        samples = parse_exposition(body.decode("utf-8"))
        problem = check_consistent(samples)
        if problem:
            raise RuntimeError(f"inconsistent exposition: {problem}")
        with self._lock:
            self.scrapes += 1
            self.latest = samples
        return samples

    def snapshot(self) -> dict[SeriesKey, float]:
        with self._lock:
            return self.latest


# ----- faults -----------------------------------------------------------------------

# (name, weight, which of issue 4's cases it exercises)
FAULT_KINDS: tuple[tuple[str, float], ...] = (
    ("http_503", 3),
    ("http_502_html", 1),
    ("http_500_json", 1),
    ("http_429_retry_after_once", 2),
    ("http_429_retry_after_always", 1),
    ("hang", 1.5),
    ("drip", 1),
    ("slow_under_timeout", 1),
    ("truncate", 2),
    ("reset", 2),
    ("html_200", 1),
    ("invalid_json", 1),
    ("wrong_shape", 2),
    ("bad_items", 1),
    ("pagination_loop", 1),
    ("paginated", 1),
    ("token_revoked", 2),
    ("wrong_password", 1),
    ("identity_503", 1),
    ("identity_hang", 0.5),
    ("region_unreachable", 1.5),
    ("catalog_lower_case", 0.5),
)

WRONG_SHAPES = (
    '{"internetgateways": null}',
    '{"internetgateways": ["igw-1", "igw-2"]}',
    '{"gateways": []}',
    '[{"id": "7d0f6a2e-0000-4000-8000-000000000001"}]',
)
BAD_ITEMS = json.dumps(
    {
        "internetgateways": [
            {"name": "no id", "state": "available"},
            {"id": 12345, "name": "numeric id"},
            {"id": "soak-bad-1", "name": 7, "state": "AVAILABLE", "create_time": "garbage"},
            {"id": "soak-bad-1", "name": "duplicate"},
            {"id": "soak-bad-2", "state": None, "create_time": "2999-01-01T00:00:00Z"},
        ]
    }
)


@dataclass
class _Active:
    kind: str
    until: float
    undo: Callable[[], None]
    lock: str


class FaultInjector:
    def __init__(self, sim: Simulator, rng: random.Random, options: Options) -> None:
        self._sim = sim
        self._rng = rng
        self._options = options
        self._active: list[_Active] = []
        self._locks: set[str] = set()
        self.started: Counter[str] = Counter()

    def tick(self, now: float, dt: float) -> None:
        for active in [a for a in self._active if a.until <= now]:
            self._end(active)
        rate = self._options.fault_rate * dt
        if len(self._active) < self._options.max_faults and self._rng.random() < rate:
            self._start(now)

    def clear(self) -> None:
        for active in list(self._active):
            self._end(active)
        self._sim.clear_faults()

    def _end(self, active: _Active) -> None:
        self._active.remove(active)
        self._locks.discard(active.lock)
        active.undo()

    def _start(self, now: float) -> None:
        names = [k for k, _ in FAULT_KINDS]
        weights = [w for _, w in FAULT_KINDS]
        kind = self._rng.choices(names, weights)[0]
        region = self._rng.choice(self._sim.regions)
        tenant = self._rng.choice(DEMO_TENANTS)
        lock = {
            "wrong_password": f"password:{tenant.tenant_id}",
            "region_unreachable": f"reachable:{region}",
            "paginated": "page_size",
            "catalog_lower_case": "catalog",
        }.get(kind, f"{kind}:{len(self.started)}")
        if lock in self._locks:
            return
        undo = getattr(self, "_" + kind)(region, tenant)
        low, high = self._options.fault_seconds
        self._active.append(_Active(kind, now + self._rng.uniform(low, high), undo, lock))
        self._locks.add(lock)
        self.started[kind] += 1

    # -- helpers --

    def _net(self, region: str, tenant: DemoTenant, **effects: Any) -> Callable[[], None]:
        """A fault on the gateway list of a region, for one tenant or (half the time) all."""
        tenant_id = None if self._rng.random() < 0.5 else tenant.tenant_id
        fault = Fault(service=region, path_prefix=GATEWAYS_PATH, tenant_id=tenant_id, **effects)
        self._sim.add_fault(fault)
        return lambda: self._sim.remove_fault(fault)

    def _identity(self, **effects: Any) -> Callable[[], None]:
        fault = self._sim.add_fault(Fault(service="identity", **effects))
        return lambda: self._sim.remove_fault(fault)

    # -- kinds --

    def _http_503(self, region: str, tenant: DemoTenant) -> Callable[[], None]:
        return self._net(region, tenant, status=503)

    def _http_502_html(self, region: str, tenant: DemoTenant) -> Callable[[], None]:
        return self._net(region, tenant, status=502)

    def _http_500_json(self, region: str, tenant: DemoTenant) -> Callable[[], None]:
        return self._net(region, tenant, status=500)

    def _http_429_retry_after_once(self, region: str, tenant: DemoTenant) -> Callable[[], None]:
        return self._net(region, tenant, status=429, headers={"Retry-After": "1"}, times=1)

    def _http_429_retry_after_always(self, region: str, tenant: DemoTenant) -> Callable[[], None]:
        return self._net(region, tenant, status=429, headers={"Retry-After": "1"})

    def _hang(self, region: str, tenant: DemoTenant) -> Callable[[], None]:
        return self._net(region, tenant, hang=True)

    def _drip(self, region: str, tenant: DemoTenant) -> Callable[[], None]:
        return self._net(region, tenant, drip=0.25)

    def _slow_under_timeout(self, region: str, tenant: DemoTenant) -> Callable[[], None]:
        return self._net(region, tenant, delay=self._options.timeout * 0.3)

    def _truncate(self, region: str, tenant: DemoTenant) -> Callable[[], None]:
        return self._net(region, tenant, truncate=self._rng.randint(0, 300))

    def _reset(self, region: str, tenant: DemoTenant) -> Callable[[], None]:
        return self._net(region, tenant, reset=True)

    def _html_200(self, region: str, tenant: DemoTenant) -> Callable[[], None]:
        page = "<html><head><title>Maintenance</title></head><body>back soon</body></html>"
        return self._net(region, tenant, body=page, content_type="text/html")

    def _invalid_json(self, region: str, tenant: DemoTenant) -> Callable[[], None]:
        return self._net(
            region, tenant, body='{"internetgateways": [{"id": ', content_type="application/json"
        )

    def _wrong_shape(self, region: str, tenant: DemoTenant) -> Callable[[], None]:
        body = self._rng.choice(WRONG_SHAPES)
        return self._net(region, tenant, body=body, content_type="application/json")

    def _bad_items(self, region: str, tenant: DemoTenant) -> Callable[[], None]:
        return self._net(region, tenant, body=BAD_ITEMS, content_type="application/json")

    def _pagination_loop(self, region: str, tenant: DemoTenant) -> Callable[[], None]:
        href = self._sim.endpoint(region) + GATEWAYS_PATH + "?marker=loop"
        body = json.dumps(
            {"internetgateways": [], "internetgateways_links": [{"rel": "next", "href": href}]}
        )
        return self._net(region, tenant, body=body, content_type="application/json")

    def _paginated(self, _region: str, _tenant: DemoTenant) -> Callable[[], None]:
        self._sim.page_size = 3

        def undo() -> None:
            self._sim.page_size = None

        return undo

    def _token_revoked(self, _region: str, tenant: DemoTenant) -> Callable[[], None]:
        self._sim.revoke_tokens(tenant.tenant_id)
        return lambda: None

    def _wrong_password(self, _region: str, tenant: DemoTenant) -> Callable[[], None]:
        t = tenant
        self._sim.add_user(t.tenant_id, t.username, "not-the-password", t.name)
        self._sim.revoke_tokens(t.tenant_id)

        def undo() -> None:
            self._sim.add_user(t.tenant_id, t.username, t.password, t.name)

        return undo

    def _identity_503(self, _region: str, _tenant: DemoTenant) -> Callable[[], None]:
        return self._identity(status=503)

    def _identity_hang(self, _region: str, _tenant: DemoTenant) -> Callable[[], None]:
        return self._identity(hang=True)

    def _region_unreachable(self, region: str, _tenant: DemoTenant) -> Callable[[], None]:
        self._sim.set_region_reachable(region, False)
        return lambda: self._sim.set_region_reachable(region, True)

    def _catalog_lower_case(self, _region: str, _tenant: DemoTenant) -> Callable[[], None]:
        self._sim.catalog_region_case = "lower"

        def undo() -> None:
            self._sim.catalog_region_case = "upper"

        return undo


# ----- churn and reloads --------------------------------------------------------------

ODD_NAMES = (
    'soak "quoted"',
    "soak back\\slash",
    "soak new\nline",
    "soak 🚀 emoji",
    "soak-" + "x" * 495,
    "soak-plain",
)
ODD_STATES = ("available", "unavailable", "ERROR", "migrating", "degraded", "")


class Churn:
    """The demo FleetDriver plus random creates and deletes of extra gateways."""

    def __init__(self, sim: Simulator, rng: random.Random, options: Options) -> None:
        self._sim = sim
        self._rng = rng
        self._options = options
        self._driver: FleetDriver | None = None
        self._mine: list[tuple[str, str]] = []
        self.counts: Counter[str] = Counter()

    def start(self) -> None:
        if self._driver is None:
            seed = self._rng.getrandbits(32)
            self._driver = FleetDriver(self._sim, random.Random(seed), self._options.churn_period)
            self._driver.start()

    def stop(self) -> None:
        if self._driver is not None:
            self._driver.stop()
            self._driver = None

    def tick(self, dt: float) -> None:
        if self._driver is None or self._rng.random() >= self._options.churn_rate * dt:
            return
        rng = self._rng
        if self._mine and (len(self._mine) >= 12 or rng.random() < 0.45):
            region, gateway_id = self._mine.pop(rng.randrange(len(self._mine)))
            with contextlib.suppress(KeyError):  # the driver may have deleted it
                self._sim.delete_gateway(region, gateway_id)
                self.counts["deleted"] += 1
            return
        region = rng.choice(self._sim.regions)
        tenant = rng.choice(DEMO_TENANTS)
        when = rng.choice(
            [
                None,
                datetime.now(UTC) + timedelta(days=3),
                "1970-01-01 00:00:00",
                "2025-02-11T00:44:18.123456Z",
                "not a time",
            ]
        )
        record = self._sim.create_gateway(
            region,
            tenant.tenant_id,
            name=rng.choice(ODD_NAMES),
            state=rng.choice(ODD_STATES),
            migrate_status=rng.choice(("none", "binding_error", "WEIRD_STATUS")),
            create_time=when,
        )
        self._mine.append((region, str(record["id"])))
        self.counts["created"] += 1


def write_config(path: Path, sim: Simulator, options: Options, variant: str) -> None:
    """variant: full (3 tenants), reduced (2 tenants) or invalid."""
    secrets = path.parent / "secrets"
    secrets.mkdir(exist_ok=True)
    tenants = DEMO_TENANTS if variant != "reduced" else DEMO_TENANTS[:2]
    lines = [f"identity:\n  url: {sim.identity_url}", "tenants:"]
    for t in tenants:
        secret = secrets / t.short
        secret.write_text(t.password + "\n")
        lines.append(
            f"  - id: {t.tenant_id}\n    name: {t.name}\n    username: {t.username}\n"
            f"    password_file: {secret}"
        )
    interval = max(CONFIG_MIN_INTERVAL, options.interval)
    lines.append(
        f"poll:\n  interval: {interval}s\n  timeout: {options.timeout}s\n"
        f"  stale_after: {options.stale_after}s"
    )
    if variant == "invalid":
        lines.append("  unknown_key: 1")
    path.write_text("\n".join(lines) + "\n")


class Reloader:
    """Reduced config by SIGHUP, invalid by POST, full by POST, full by SIGHUP, ..."""

    STEPS = (("reduced", "sighup"), ("invalid", "post"), ("full", "post"), ("full", "sighup"))

    def __init__(
        self, config: Path, sim: Simulator, options: Options, exporter: ExporterProcess
    ) -> None:
        self._config = config
        self._sim = sim
        self._options = options
        self._exporter = exporter
        self._step = 0
        self._next = time.monotonic() + options.reload_every
        self.running = "full"  # what the exporter runs now
        self.counts: Counter[str] = Counter()

    def tick(self, now: float) -> None:
        if now < self._next:
            return
        self._next = now + self._options.reload_every
        variant, how = self.STEPS[self._step % len(self.STEPS)]
        self._step += 1
        self._apply(variant, how)

    def restore(self) -> None:
        if self.running != "full":
            self._apply("full", "post")
        else:
            write_config(self._config, self._sim, self._options, "full")

    def _apply(self, variant: str, how: str) -> None:
        write_config(self._config, self._sim, self._options, variant)
        if how == "sighup":
            os.kill(self._exporter.pid, signal.SIGHUP)
            outcome = "sent"
        else:
            response = requests.post(self._exporter.url + "/-/reload", timeout=30)
            outcome = str(response.status_code)
            expected = 500 if variant == "invalid" else 200
            if response.status_code != expected:
                self.counts["unexpected"] += 1
        if variant != "invalid":
            self.running = variant
        self.counts[f"{variant} by {how} ({outcome})"] += 1


# ----- the soak ---------------------------------------------------------------------


def take_sample(
    exporter: ExporterProcess, scraper: Scraper, roles: dict[int, str], readings: int = 7
) -> tuple[Sample, dict[SeriesKey, float]]:
    """Readings 0.2 s apart. Threads and fds: the floor (minimum), because what is
    transient (a watchdog timer per API call in flight, a new connection) only adds
    while what leaks stays; RSS: the median."""
    rss: list[int] = []
    threads: list[int] = []
    fds: list[tuple[int, int, Counter[str]]] = []  # (total, to the APIs, kinds)
    series: list[int] = []
    samples: dict[SeriesKey, float] = {}
    for i in range(readings):
        if i:
            time.sleep(0.2)
        r, t, _ = exporter.resources()
        kinds = fd_kinds(exporter.pid, roles)
        rss.append(r)
        threads.append(t)
        api = sum(n for kind, n in kinds.items() if kind.startswith("to "))
        fds.append((sum(kinds.values()), api, kinds))
        samples = scraper.scrape_once()
        series.append(len(samples))
    gateway = [k for k in samples if k[0].startswith(GATEWAY_PREFIX)]
    bounded = [k for k in samples if k[0].startswith(BOUNDED_FAMILIES)]
    fixed = frozenset(samples) - set(gateway) - set(bounded)
    floor = min(fds, key=lambda f: f[0])
    sample = Sample(
        polls=int(first(samples, "igw_exporter_polls_total")),
        rss_kb=int(statistics.median(rss)),
        threads=min(threads),
        fds=floor[0],
        series=int(statistics.median(series)),
        gateway_series=len(gateway),
        gateways=sum(1 for n, _ in gateway if n == "nhncloud_igw_info"),
        bounded_series=len(bounded),
        fixed=fixed,
        api_sockets=min(a for _, a, _ in fds),
        other_fds=min(total - a for total, a, _ in fds),
        fd_kinds=tuple(sorted(floor[2].items())),
    )
    return sample, samples


class Soak:
    def __init__(self, options: Options, emit: Emit) -> None:
        self.options = options
        self.emit = emit
        seed = options.seed if options.seed is not None else random.SystemRandom().getrandbits(32)
        self.rng = random.Random(seed)
        self.result = Result(options, seed)
        self.started = time.monotonic()
        self.deadline = self.started + options.time_limit()
        self.roles: dict[int, str] = {}

    def run(self) -> Result:
        o, r = self.options, self.result
        self.emit(
            f"soak: seed {r.seed}, {o.polls} polls (+{o.warmup_polls()} warm-up) at "
            f"{o.interval:g}s, timeout {o.timeout:g}s, stale_after {o.stale_after:g}s, "
            f"time limit {o.time_limit():.0f}s"
        )
        if o.interval < CONFIG_MIN_INTERVAL:
            self.emit(
                f"soak: poll.interval {o.interval:g}s is below the config minimum "
                f"({CONFIG_MIN_INTERVAL:g}s): exporter started through the interval launcher"
            )
        sim = Simulator(token_lifetime=o.token_lifetime)
        populate_demo_fleet(sim, self.rng)
        sim.start()
        tmp = tempfile.TemporaryDirectory(prefix="igw-soak-")
        exporter: ExporterProcess | None = None
        scraper: Scraper | None = None
        churn = Churn(sim, self.rng, o)
        try:
            config = Path(tmp.name, "config.yml")
            write_config(config, sim, o, "full")
            exporter = ExporterProcess(config, o.interval, Path(tmp.name, "exporter.log"))
            exporter.wait_ready()
            scraper = Scraper(exporter.url, o.scrape_pause)
            scraper.start()
            faults = FaultInjector(sim, self.rng, o)
            reloader = Reloader(config, sim, o, exporter)
            self._body(sim, exporter, scraper, faults, churn, reloader)
            r.faults, r.reloads, r.churn = faults.started, reloader.counts, churn.counts
            r.token_requests = sim.token_requests()
            r.api_requests = sum(sim.request_count(region) for region in sim.regions)
            scraper.stop()
            if exporter.alive():
                r.exit_code, r.stop_seconds = exporter.stop()
            self._read_log(exporter.log_path, sim)
        except _CrashError as exc:
            r.crashed = str(exc)
        except (RuntimeError, requests.RequestException) as exc:
            # Not ready at start, or /metrics unreachable while settling: hung or dead.
            r.crashed = f"run aborted: {type(exc).__name__}: {exc}"
        finally:
            churn.stop()
            if scraper is not None:
                scraper.stop()
                r.scrapes, r.scrape_errors = scraper.scrapes, scraper.errors
            if exporter is not None:
                if r.crashed:
                    with contextlib.suppress(OSError):
                        tail = exporter.log_path.read_text(errors="replace")[-3000:]
                        r.crashed += "\n--- exporter log tail ---\n" + tail
                exporter.kill()
                if o.keep_log:
                    shutil.copyfile(exporter.log_path, o.keep_log)
            sim.stop()
            tmp.cleanup()
            r.seconds = time.monotonic() - self.started
        self._judge()
        return r

    def _body(
        self,
        sim: Simulator,
        exporter: ExporterProcess,
        scraper: Scraper,
        faults: FaultInjector,
        churn: Churn,
        reloader: Reloader,
    ) -> None:
        o, r = self.options, self.result
        self.roles = {int(urlsplit(sim.endpoint(r)).port or 0): r for r in sim.regions}
        self.roles[int(urlsplit(sim.identity_url).port or 0)] = "identity"
        self.roles[exporter.port] = "/metrics"
        churn.start()
        self._phase("warm-up", o.warmup_polls(), exporter, scraper, faults, churn, reloader)
        self._settle(exporter, scraper, faults, churn, reloader)
        r.start, _ = take_sample(exporter, scraper, self.roles)
        self._note_trend(exporter, r.start.polls, r.start.series)
        self.emit(self._describe("START", r.start))
        churn.start()
        done = self._phase("soak", o.polls, exporter, scraper, faults, churn, reloader)
        r.polls = done
        self._settle(exporter, scraper, faults, churn, reloader)
        r.end, samples = take_sample(exporter, scraper, self.roles)
        self._note_trend(exporter, r.end.polls, r.end.series)
        self.emit(self._describe("END", r.end))
        r.total_polls = r.end.polls
        r.skipped_polls = int(first(samples, "igw_exporter_skipped_polls_total"))
        self._check_series(sim, samples)

    def _phase(
        self,
        name: str,
        polls: int,
        exporter: ExporterProcess,
        scraper: Scraper,
        faults: FaultInjector,
        churn: Churn,
        reloader: Reloader,
    ) -> int:
        start_polls = self._polls(scraper)
        report_every = max(1, polls // 10)
        next_report = start_polls + report_every
        last = progress = time.monotonic()
        stall = 30 + 6 * self.options.timeout
        done = 0
        while done < polls:
            time.sleep(0.1)
            now = time.monotonic()
            self._check_alive(exporter)
            faults.tick(now, now - last)
            churn.tick(now - last)
            reloader.tick(now)
            last = now
            current = self._polls(scraper)
            if current - start_polls > done:
                progress = now
            elif now - progress > stall:
                self.result.problems.append(f"{name}: no poll finished for {stall:.0f}s")
                break
            done = current - start_polls
            if current >= next_report:
                next_report += report_every
                self._note_trend(exporter, current, len(scraper.snapshot()))
                rss, threads, fds = exporter.resources()
                self.emit(
                    f"  {name}: {done}/{polls} polls, {now - self.started:.0f}s, "
                    f"rss {rss / 1024:.1f} MB, threads {threads}, fds {fds}, "
                    f"faults {sum(faults.started.values())}, scrapes {scraper.scrapes}"
                )
            if now > self.deadline:
                self.result.time_limit_hit = True
                self.emit(f"  {name}: time limit reached after {done} polls")
                break
        return done

    def _settle(
        self,
        exporter: ExporterProcess,
        scraper: Scraper,
        faults: FaultInjector,
        churn: Churn,
        reloader: Reloader,
    ) -> None:
        """No faults, no churn, full config; every target up for 2 polls in a row."""
        faults.clear()
        churn.stop()
        reloader.restore()
        limit = time.monotonic() + 60 + 6 * self.options.timeout
        all_up_since: int | None = None
        while time.monotonic() < limit:
            self._check_alive(exporter)
            samples = scraper.scrape_once()
            polls = int(first(samples, "igw_exporter_polls_total"))
            ups = [v for (n, _), v in samples.items() if n == "igw_exporter_target_up"]
            every = len(ups) == len(DEMO_TENANTS) * 3 and all(v == 1 for v in ups)
            if not every:
                all_up_since = None
            elif all_up_since is None:
                all_up_since = polls
            elif polls >= all_up_since + 2:
                return
            time.sleep(0.1)
        self.result.problems.append("targets did not all recover within 60s after the faults")

    def _polls(self, scraper: Scraper) -> int:
        return int(first(scraper.snapshot(), "igw_exporter_polls_total"))

    def _check_alive(self, exporter: ExporterProcess) -> None:
        if not exporter.alive():
            raise _CrashError(f"exporter exited with status {exporter.process.returncode} mid-run")
        _, threads, fds = exporter.resources()
        r = self.result
        r.peak_threads = max(r.peak_threads, threads)
        r.peak_fds = max(r.peak_fds, fds)

    def _note_trend(self, exporter: ExporterProcess, polls: int, series: int) -> None:
        rss, threads, fds = exporter.resources()
        elapsed = time.monotonic() - self.started
        self.result.trend.append((elapsed, polls, rss, threads, fds, series))

    def _describe(self, label: str, s: Sample) -> str:
        return (
            f"{label}: poll {s.polls}, rss {s.rss_kb / 1024:.1f} MB, threads {s.threads}, "
            f"fds {s.fds}, series {s.series} ({s.gateways} gateways)"
        )

    # -- checks --

    def _check_series(self, sim: Simulator, samples: dict[SeriesKey, float]) -> None:
        """No ghost gateway series, bounded families within their vocabularies."""
        problems = self.result.problems
        expected = {
            (region, str(g["tenant_id"]), str(g["id"]))
            for region in sim.regions
            for g in sim.gateways(region)
        }
        exported = set()
        orphans = set()
        info_keys = set()
        for name, labels in samples:
            if not name.startswith(GATEWAY_PREFIX):
                continue
            d = dict(labels)
            key = (d["nhn_region"], d["tenant_id"], d["id"])
            exported.add(key)
            if name == "nhncloud_igw_info":
                info_keys.add(key)
        orphans = exported - info_keys
        ghosts, missing = exported - expected, expected - exported
        if ghosts or missing or orphans:
            problems.append(
                f"gateway series differ from the simulator after settling: {len(ghosts)} ghost, "
                f"{len(missing)} missing, {len(orphans)} without nhncloud_igw_info"
            )
        regions = set(sim.regions)
        tenants = {t.tenant_id for t in DEMO_TENANTS}
        for name, labels in samples:
            if not name.startswith(BOUNDED_FAMILIES):
                continue
            d = dict(labels)
            ok = d.get("nhn_region") in regions | {"global"}
            if name.startswith("igw_exporter_transitions"):
                ok = ok and d.get("tenant_id") in tenants and d.get("kind") in TRANSITION_KINDS
            else:
                ok = ok and d.get("operation") in OPERATIONS
            code = d.get("code")
            if code is not None and not (code in FAILURE_CODES or re.fullmatch(r"\d{3}", code)):
                ok = False
            if not ok:
                problems.append(f"unexpected label set {name}{d}")

    def _read_log(self, path: Path, sim: Simulator) -> None:
        r = self.result
        text = path.read_text(errors="replace")
        bad_lines = []
        for line in text.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                bad_lines.append(line)
                continue
            name = event.get("event", "?")
            r.events[name] += 1
            if name == "poll_finished":
                r.max_cycle = max(r.max_cycle, float(event.get("duration_seconds", 0)))
            elif name == "target_down":
                reason = str(event.get("error", ""))
                r.down_reasons[_reason_kind(reason)] += 1
                if reason.startswith(BUG_REASONS):
                    r.problems.append(f"target_down with reason {reason!r}")
            elif name == "poll_failed":
                r.problems.append(f"exception escaped a poll: {line[:300]}")
            elif event.get("level") == "error" and name != "config_reload_failed":
                r.problems.append(f"error logged: {line[:300]}")
        if bad_lines:
            r.problems.append(
                f"{len(bad_lines)} log lines are not JSON (a traceback?), first: "
                f"{bad_lines[0][:300]!r}"
            )
        issued = set(sim.issued_tokens())
        leaked = {m for m in TOKEN_PATTERN.findall(text) if m in issued}
        passwords = [t.password for t in DEMO_TENANTS if t.password in text]
        if leaked or passwords:
            r.problems.append(
                f"secrets in the log: {len(leaked)} tokens, {len(passwords)} passwords"
            )

    def _judge(self) -> None:
        o, r = self.options, self.result
        p = r.problems
        if r.crashed:
            p.insert(0, f"exporter crashed: {r.crashed}")
            return
        if r.start is None or r.end is None:
            p.append("no START/END sample")
            return
        s, e = r.start, r.end
        rss_limit_kb = max(o.max_rss_growth_mb * 1024, s.rss_kb * o.max_rss_growth_ratio)
        if e.rss_kb - s.rss_kb > rss_limit_kb:
            p.append(
                f"RSS grew {(e.rss_kb - s.rss_kb) / 1024:.1f} MB (> {rss_limit_kb / 1024:.1f})"
            )
        if e.threads - s.threads > o.max_thread_growth:
            p.append(f"threads grew {e.threads - s.threads} (> {o.max_thread_growth})")
        if e.other_fds - s.other_fds > o.max_fd_growth:
            p.append(
                f"fds other than API sockets grew {e.other_fds - s.other_fds} (> {o.max_fd_growth})"
            )
        if e.api_sockets > o.max_api_sockets:
            p.append(f"{e.api_sockets} sockets to the APIs at the end (> {o.max_api_sockets})")
        added = e.fixed - s.fixed
        if added:
            example = sorted(added)[:3]
            p.append(f"{len(added)} new non-gateway series, e.g. {example}")
        if r.scrape_errors:
            p.append(f"{len(r.scrape_errors)} scrape errors, first: {r.scrape_errors[0]}")
        if r.exit_code != 0:
            p.append(f"exporter exit status on SIGTERM: {r.exit_code}")
        if r.stop_seconds > o.timeout + 5:
            p.append(f"exporter took {r.stop_seconds:.1f}s to stop on SIGTERM")
        if r.reloads.get("unexpected"):
            p.append(f"{r.reloads['unexpected']} reloads answered an unexpected status")
        targets = len(DEMO_TENANTS) * 3
        rounds = math.ceil(targets / 8)  # poll.concurrency default
        # Catalog phase + target rounds, each bounded by 2 x timeout; +5s margin for load.
        r.cycle_bound = 2 * o.timeout * (1 + rounds) + 5
        if r.max_cycle > r.cycle_bound:
            p.append(f"a poll cycle took {r.max_cycle:.1f}s (> {r.cycle_bound:.1f}s)")
        polls = max(1, r.total_polls)
        per_poll = r.token_requests / (polls * len(DEMO_TENANTS))
        if per_poll > 1.0:
            p.append(f"identity hammered: {r.token_requests} token requests in {polls} polls")


class _CrashError(Exception):
    pass


def _reason_kind(reason: str) -> str:
    """A reason without its variable parts (excerpts, numbers), to count kinds."""
    kind = re.sub(r"\d+(\.\d+)?", "N", reason)
    return kind.split(":", 1)[0] if kind.startswith(("HTTP", "answer is not JSON")) else kind


def run(options: Options, emit: Emit = print) -> Result:
    return Soak(options, emit).run()


# ----- report -----------------------------------------------------------------------


def report(result: Result, emit: Emit = print) -> None:
    o, r = result.options, result
    emit("")
    emit(
        f"# soak {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, seed {r.seed}, {os.cpu_count()} CPUs "
        f"({_cpu_model()}), Python {platform.python_version()}, {platform.machine()}"
    )
    emit(
        f"# interval {o.interval:g}s, timeout {o.timeout:g}s, stale_after {o.stale_after:g}s, "
        f"wall time {r.seconds:.0f}s"
    )
    if r.start is not None and r.end is not None:
        s, e = r.start, r.end
        rows = [
            ("RSS (MB)", s.rss_kb / 1024, e.rss_kb / 1024, "{:.1f}"),
            ("threads", s.threads, e.threads, "{:.0f}"),
            ("open fds", s.fds, e.fds, "{:.0f}"),
            ("  sockets to the APIs", s.api_sockets, e.api_sockets, "{:.0f}"),
            ("  other fds", s.other_fds, e.other_fds, "{:.0f}"),
            ("series, total", s.series, e.series, "{:.0f}"),
            ("  gateway series", s.gateway_series, e.gateway_series, "{:.0f}"),
            ("  bounded-label series", s.bounded_series, e.bounded_series, "{:.0f}"),
            ("  other series", len(s.fixed), len(e.fixed), "{:.0f}"),
            ("gateways exported", s.gateways, e.gateways, "{:.0f}"),
        ]
        emit(f"{'':<24}{'start':>10}{'end':>10}{'growth':>10}")
        for label, a, b, fmt in rows:
            emit(
                f"{label:<24}{fmt.format(a):>10}{fmt.format(b):>10}"
                f"{('+' if b - a >= 0 else '') + fmt.format(b - a):>10}"
            )
        emit(f"fds at start: {_pairs(s.fd_kinds)}")
        emit(f"fds at end:   {_pairs(e.fd_kinds)}")
        emit(
            f"(start after poll {s.polls}, end after poll {e.polls}; peaks during the run: "
            f"{r.peak_threads} threads, {r.peak_fds} fds)"
        )
    emit(
        f"polls: {r.polls} in the soak phase, {r.total_polls} in all; skipped polls: "
        f"{r.skipped_polls}; longest poll cycle {r.max_cycle:.2f}s (bound {r.cycle_bound:.1f}s)"
    )
    emit(
        f"scrapes: {r.scrapes}, scrape errors: {len(r.scrape_errors)}; simulator served "
        f"{r.api_requests} gateway-list requests and {r.token_requests} token requests"
    )
    emit(f"faults injected ({sum(r.faults.values())}): {_counts(r.faults)}")
    emit(f"reloads: {_counts(r.reloads)}")
    emit(f"churn (besides the FleetDriver): {_counts(r.churn)}")
    emit(f"log events: {_counts(r.events)}")
    emit(f"target_down reasons: {_counts(r.down_reasons)}")
    if r.trend:
        emit("trend (elapsed s, poll, rss MB, threads, fds, series):")
        step = max(1, len(r.trend) // 12)
        for t, polls, rss, threads, fds, series in r.trend[::step] + r.trend[-1:]:
            emit(f"  {t:7.0f} {polls:7d} {rss / 1024:8.1f} {threads:4d} {fds:4d} {series:6d}")
    if r.time_limit_hit:
        emit("note: the time limit ended the run before all polls were done")
    verdict = "PASS: resources flat, nothing broke" if r.ok else "FAIL"
    emit(f"verdict: {verdict}")
    for problem in r.problems:
        emit(f"  - {problem}")


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counter.most_common()) or "none"


def _pairs(pairs: tuple[tuple[str, int], ...]) -> str:
    return ", ".join(f"{k} {v}" for k, v in pairs) or "none"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    d = Options()
    parser.add_argument("--polls", type=int, default=d.polls)
    parser.add_argument("--warmup", type=int, default=d.warmup, help="default: polls/20, >= 20")
    parser.add_argument("--interval", type=float, default=d.interval)
    parser.add_argument("--timeout", type=float, default=d.timeout)
    parser.add_argument("--stale-after", type=float, default=d.stale_after)
    parser.add_argument("--max-seconds", type=float, default=d.max_seconds)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--fault-rate", type=float, default=d.fault_rate)
    parser.add_argument("--reload-every", type=float, default=d.reload_every)
    parser.add_argument("--keep-log", default="", help="copy the exporter's log to this file")
    parser.add_argument("--max-rss-growth-mb", type=float, default=d.max_rss_growth_mb)
    parser.add_argument("--max-thread-growth", type=int, default=d.max_thread_growth)
    parser.add_argument("--max-fd-growth", type=int, default=d.max_fd_growth)
    parser.add_argument("--max-api-sockets", type=int, default=d.max_api_sockets)
    args = parser.parse_args(argv)
    options = Options(
        polls=args.polls,
        warmup=args.warmup,
        interval=args.interval,
        timeout=args.timeout,
        stale_after=args.stale_after,
        max_seconds=args.max_seconds,
        seed=args.seed,
        fault_rate=args.fault_rate,
        reload_every=args.reload_every,
        keep_log=args.keep_log,
        max_rss_growth_mb=args.max_rss_growth_mb,
        max_thread_growth=args.max_thread_growth,
        max_fd_growth=args.max_fd_growth,
        max_api_sockets=args.max_api_sockets,
    )

    def emit(line: str) -> None:
        print(line, flush=True)

    result = run(options, emit)
    report(result, emit)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
