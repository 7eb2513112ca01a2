"""Configuration errors that name the offending field.

Constructors of the package check their own arguments and raise :class:`ConfigError`
with the argument's name; the Hydra app prefixes the config group (``kernel.tau_s``),
so a researcher gets one line that says which value is wrong and what was expected.
"""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A configuration value is out of its allowed range.

    ``field`` is the dotted name of the value (``tau_s``, later ``kernel.tau_s``),
    ``expected`` says what would be valid and ``got`` is the value that was given.
    """

    def __init__(self, field: str, expected: str, got: Any) -> None:
        self.field = field
        self.expected = expected
        self.got = got
        shown = got if isinstance(got, str) else repr(got)
        super().__init__(f"{field}: expected {expected}, got {shown}")

    def within(self, group: str) -> "ConfigError":
        """The same error with the field named inside a config group (``group.field``)."""
        return ConfigError(f"{group}.{self.field}", self.expected, self.got)


def one_line(error: BaseException) -> str:
    """An error as one line: its type and its message with every run of whitespace made one space."""
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


def require(condition: bool, field: str, expected: str, got: Any) -> None:
    """Raise :class:`ConfigError` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(field, expected, got)
