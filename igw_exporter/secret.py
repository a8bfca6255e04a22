"""A wrapper that keeps a secret out of logs, reprs and exception texts."""

from __future__ import annotations

from typing import Final

REDACTED: Final = "<redacted>"


class Secret:
    """A password or token. Only ``reveal()`` gives the value, so a stray f-string,
    ``repr`` or traceback shows ``<redacted>`` instead."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED})"

    def __str__(self) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would write the clear value somewhere we do not control.
        raise TypeError("Secret cannot be pickled")
