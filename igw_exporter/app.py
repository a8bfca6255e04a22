"""The composition root: builds the exporter's parts from settings and runs them."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import requests
from prometheus_client import generate_latest
from requests.adapters import HTTPAdapter

from .auth import TokenProvider
from .client import NetworkClient
from .config import Settings
from .log import Redactor, get_logger
from .metrics import SelfMetrics
from .poller import Poller
from .scheduler import PollScheduler
from .server import App, HttpServer
from .store import Store
from .transport import Caller


def new_session(pool_size: int) -> requests.Session:
    session = requests.Session()
    # Retries are ours (bounded by the poll deadline); urllib3's would not be.
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class Exporter:
    """Every part of a running exporter, wired once."""

    def __init__(self, settings: Settings, redactor: Redactor) -> None:
        self.settings = settings
        self.metrics = SelfMetrics()
        self.store = Store()
        for tenant in settings.tenants:
            redactor.add(tenant.password)
        self._session = new_session(settings.poll.concurrency * 2)
        caller = Caller(self._session, self.metrics, settings.poll.timeout)
        tokens = TokenProvider(
            settings.identity_url,
            caller,
            redactor,
            # At most about one token request per tenant per poll after a failure.
            failure_backoff=settings.poll.interval / 2,
        )
        client = NetworkClient(caller, tokens, settings.endpoints)
        self.poller = Poller(settings.tenants, settings.poll, client, self.store, self.metrics)

    def exposition(self) -> bytes:
        """What /metrics serves (uncompressed)."""
        return self.store.current.body.data + generate_latest(self.metrics.registry)

    def all_up(self) -> bool:
        targets = self.store.current.snapshot.targets.values()
        return bool(targets) and all(t.up for t in targets)

    def serve(self, listen_address: str, telemetry_path: str, stop: threading.Event) -> None:
        """Serve and poll until ``stop`` is set. Binding errors raise before polling starts."""
        log = get_logger()
        server = HttpServer(listen_address, App(self.store, self.metrics.registry, telemetry_path))
        scheduler = PollScheduler(self.poller, self.settings.poll.interval, self.metrics)
        server.start()
        scheduler.start()
        log.info(
            "exporter_started",
            listen_address=listen_address,
            port=server.port,
            tenants=len(self.settings.tenants),
            poll_interval_seconds=self.settings.poll.interval,
        )
        stop.wait()
        log.info("exporter_stopping")
        scheduler.stop()
        self.poller.close()
        server.stop()


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT."""
    stop = threading.Event()

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop
