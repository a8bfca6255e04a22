"""The current snapshot and its exposition, swapped whole: the scheduler writes, scrapes read."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .exposition import Body, render
from .models import Snapshot


@dataclass(frozen=True, slots=True)
class Published:
    snapshot: Snapshot
    body: Body


class Store:
    """Holds one ``Published`` value. Assigning a reference is atomic in Python, so
    readers take no lock and always see one whole, consistent poll."""

    def __init__(self) -> None:
        empty = Snapshot.empty()
        self._current = Published(empty, Body.of(render(empty)))
        self._ready = threading.Event()

    @property
    def current(self) -> Published:
        return self._current

    def publish(self, snapshot: Snapshot, *, cycle_complete: bool = True) -> None:
        # Rendering happens here, on the poller's thread, never during a scrape.
        self._current = Published(snapshot, Body.of(render(snapshot)))
        if cycle_complete:
            self._ready.set()

    @property
    def ready(self) -> bool:
        """True once the first poll cycle has finished (successfully or not)."""
        return self._ready.is_set()
