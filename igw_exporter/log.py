"""Structured logging: JSON lines on stderr, secrets scrubbed from every line."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from .secret import REDACTED, Secret

LEVELS = ("debug", "info", "warning", "error")


class Redactor:
    """Knows every secret in play and replaces it wherever it shows up in a log line.

    Secrets are kept out of log calls by construction (they are ``Secret`` objects);
    this is the second wall, for a token echoed back in an error body and the like.
    """

    # Tokens are issued all the time; the most recent ones are the only ones that can
    # still show up (an old token is expired, and nothing holds it any more).
    MAX_TEMPORARY = 256

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._permanent: set[str] = set()
        self._temporary: dict[str, None] = {}  # insertion-ordered
        self._secrets: frozenset[str] = frozenset()

    def add(self, secret: Secret | str, *, temporary: bool = False) -> None:
        """Scrub ``secret`` from now on; ``temporary`` ones (tokens) are forgotten
        oldest first beyond MAX_TEMPORARY."""
        value = secret.reveal() if isinstance(secret, Secret) else secret
        # Very short values would blank out ordinary words; such passwords are
        # rejected by NHN Cloud anyway.
        if len(value) < 4:
            return
        with self._lock:
            if temporary:
                self._temporary[value] = None
                while len(self._temporary) > self.MAX_TEMPORARY:
                    del self._temporary[next(iter(self._temporary))]
            else:
                self._permanent.add(value)
            self._secrets = frozenset(self._permanent | self._temporary.keys())

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def __call__(
        self, _logger: object, _method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in event.items():
            event[key] = self._clean(value)
        return event

    def _clean(self, value: object) -> object:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, int | float | bool | type(None)):
            return value
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        if isinstance(value, dict):
            return {str(k): self._clean(v) for k, v in value.items()}
        return self.scrub(str(value))


def _leading_keys(
    _logger: object, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """timestamp, level and event first: easier to read, same JSON."""
    ordered = {k: event.pop(k) for k in ("timestamp", "level", "event") if k in event}
    ordered.update(event)
    return ordered


def configure(
    level: str = "info",
    fmt: str = "json",
    redactor: Redactor | None = None,
    stream: TextIO | None = None,
) -> None:
    """Set up structlog, and route the stdlib loggers of our dependencies through it."""
    out = stream if stream is not None else sys.stderr
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]
    if redactor is not None:
        shared.append(redactor)
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    numeric = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, _leading_keys, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _leading_keys,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # APScheduler logs every job run at INFO and skipped runs at WARNING; the poller
    # reports both itself, in our own event names.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    logging.getLogger("urllib3").setLevel(max(numeric, logging.WARNING))


def get_logger(**bound: Any) -> Any:
    """A structlog logger with ``bound`` context (bind explicitly in worker threads:
    context variables do not follow work into a thread pool)."""
    return structlog.get_logger("igw_exporter").bind(**bound)
