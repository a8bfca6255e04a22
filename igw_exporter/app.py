"""The composition root: builds the exporter's parts from settings and runs them."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import generate_latest

from .auth import TokenProvider
from .client import NetworkClient
from .config import ConfigError, Settings, load_config
from .log import Redactor, get_logger
from .metrics import SelfMetrics
from .poller import Poller
from .scheduler import PollScheduler
from .server import App, HttpServer
from .store import Store
from .transport import Caller, new_session
from .webconfig import WebConfig


class Exporter:
    """Every part of a running exporter, wired once; the poller is rebuilt on reload.

    The store and the metrics registry outlive reloads, so the previous snapshot
    stays the base of the next diff and counters keep counting.
    """

    def __init__(
        self, settings: Settings, redactor: Redactor, config_file: Path | None = None
    ) -> None:
        self.metrics = SelfMetrics()
        self.store = Store()
        self._redactor = redactor
        self._config_file = config_file
        self._cycle_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._scheduler: PollScheduler | None = None
        self.settings = settings
        self._poller = self._build(settings)
        self.metrics.config_last_reload_successful.set(1)
        self.metrics.config_last_reload_success.set(time.time())

    def _build(self, settings: Settings) -> Poller:
        for tenant in settings.tenants:
            self._redactor.add(tenant.password)
        session = new_session(settings.poll.concurrency * 2)
        caller = Caller(session, self.metrics, settings.poll.timeout, scrub=self._redactor.scrub)
        tokens = TokenProvider(
            settings.identity_url,
            caller,
            self._redactor,
            # At most about one token request per tenant per poll after a failure.
            failure_backoff=settings.poll.interval / 2,
        )
        client = NetworkClient(caller, tokens, settings.endpoints)
        return Poller(settings.tenants, settings.poll, client, self.store, self.metrics)

    def run_cycle(self) -> None:
        with self._cycle_lock:
            while True:
                poller = self._poller
                try:
                    poller.run_cycle()
                finally:
                    if poller is not self._poller:  # replaced by a reload meanwhile
                        poller.close()
                if poller is self._poller:
                    return
                # The cycle was discarded: poll again at once with the new config.

    def reload(self) -> tuple[str, ...]:
        """Re-read the config file; apply it if valid. Returns the problems, if any.

        An invalid file changes nothing: the running configuration goes on.
        """
        log = get_logger()
        with self._reload_lock:
            if self._config_file is None:
                return ("no configuration file to reload",)
            try:
                settings = load_config(self._config_file)
            except ConfigError as exc:
                self.metrics.config_last_reload_successful.set(0)
                log.error("config_reload_failed", problems=list(exc.problems))
                return exc.problems
            old, self._poller = self._poller, self._build(settings)
            old.retire()
            idle = self._cycle_lock.acquire(blocking=False)
            if idle:
                try:
                    old.close()  # otherwise the running cycle closes it, then polls again
                finally:
                    self._cycle_lock.release()
            kept = {t.id for t in settings.tenants}
            for tenant in self.settings.tenants:
                if tenant.id not in kept:
                    self.metrics.token_expiry.remove(tenant.id)
            self.settings = settings
            self.metrics.config_last_reload_successful.set(1)
            self.metrics.config_last_reload_success.set(time.time())
            log.info("config_reloaded", tenants=len(settings.tenants))
            if self._scheduler is not None:
                self._scheduler.reschedule(settings.poll.interval, poll_now=idle)
            return ()

    def exposition(self) -> bytes:
        """What /metrics serves (uncompressed)."""
        return self.store.current.body.data + generate_latest(self.metrics.registry)

    def all_up(self) -> bool:
        targets = self.store.current.snapshot.targets.values()
        return bool(targets) and all(t.up for t in targets)

    def serve(
        self,
        listen_address: str,
        telemetry_path: str,
        wait: Callable[[], None],
        web: WebConfig | None = None,
    ) -> None:
        """Serve and poll until ``wait`` returns. Binding errors raise before polling starts."""
        log = get_logger()
        app = App(self.store, self.metrics.registry, telemetry_path, reload=self.reload)
        server = HttpServer(listen_address, app, web)
        self._scheduler = PollScheduler(self.run_cycle, self.settings.poll.interval, self.metrics)
        server.start()
        self._scheduler.start()
        log.info(
            "exporter_started",
            listen_address=listen_address,
            port=server.port,
            tls=web is not None and web.ssl_context is not None,
            basic_auth=web is not None and web.auth is not None,
            tenants=len(self.settings.tenants),
            poll_interval_seconds=self.settings.poll.interval,
        )
        wait()
        log.info("exporter_stopping")
        self._scheduler.stop()
        self._poller.close()
        server.stop()


_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


def block_signals() -> None:
    """Block SIGTERM, SIGINT and SIGHUP here and in every thread started afterwards.

    ``wait_for_stop`` then takes them synchronously. A Python signal handler instead
    runs at any point of the main thread, even inside ``Event.wait`` holding the
    event's own lock, where setting the event deadlocks: stops right after start
    were sometimes lost that way.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)


def wait_for_stop(reload: Callable[[], object]) -> None:
    """Return on SIGTERM or SIGINT; on SIGHUP, reload in a thread and go on waiting."""
    while signal.sigwait(_SIGNALS) == signal.SIGHUP:
        threading.Thread(target=reload, name="igw-reload", daemon=True).start()
