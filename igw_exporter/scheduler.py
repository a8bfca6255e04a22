"""APScheduler wiring: first poll at start, then every interval, never two at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from .log import get_logger
from .metrics import SelfMetrics

_JOB_ID = "poll"


class PollScheduler:
    """Runs a poll cycle on a fixed interval in a background thread.

    A cycle still running when the next is due is not started twice: APScheduler's
    ``max_instances=1`` refuses the run, and we count and log the refusal.
    """

    def __init__(self, cycle: Callable[[], object], interval: float, metrics: SelfMetrics) -> None:
        self._cycle = cycle
        self._interval = interval
        self._metrics = metrics
        self._log = get_logger()
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        self._scheduler.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES)

    def start(self) -> None:
        self._scheduler.add_job(
            self._run,
            "interval",
            seconds=self._interval,
            id=_JOB_ID,
            next_run_time=datetime.now(UTC),
        )
        self._scheduler.start()

    def reschedule(self, interval: float, poll_now: bool) -> None:
        """Poll every ``interval`` from now on (after a configuration reload), the
        first time at once if ``poll_now``."""
        if not self._scheduler.running:  # a reload racing with shutdown
            return
        self._interval = interval
        self._scheduler.reschedule_job(_JOB_ID, trigger="interval", seconds=interval)
        if poll_now:
            self._scheduler.modify_job(_JOB_ID, next_run_time=datetime.now(UTC))

    def stop(self) -> None:
        self._scheduler.shutdown(wait=False)

    def _run(self) -> None:
        try:
            self._cycle()
        except Exception:
            # Never let the job die: the next interval tries again.
            self._log.exception("poll_failed")

    def _on_skipped(self, _event: JobEvent) -> None:
        self._metrics.skipped_polls.inc()
        self._log.warning("poll_skipped", reason="previous poll still running")
