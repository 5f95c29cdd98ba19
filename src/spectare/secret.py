"""A value that must never show up in a log, a repr or an error message."""

from __future__ import annotations

MASK = "**********"


class Secret:
    """A credential or token: printing it shows stars; ``get_secret_value`` the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        """The value itself, for the one place that must use it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')" if self._value else "Secret('')"

    def __str__(self) -> str:
        return MASK if self._value else ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
