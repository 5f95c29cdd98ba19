"""Structured logs: one line per event, key=value or JSON, credentials scrubbed."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Literal

from spectare.redact import scrub

LogFormat = Literal["text", "json"]


def _quote(value: Any) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' ="\n\t'):
        return json.dumps(text)
    return text


class EventFormatter(logging.Formatter):
    """Formats ``log.info("event", key=value)`` records as one scrubbed line."""

    def __init__(self, fmt: LogFormat = "text") -> None:
        super().__init__()
        self.fmt = fmt

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields.update(getattr(record, "fields", {}))
        if record.exc_info:
            fields["error"] = self.formatException(record.exc_info)
        if self.fmt == "json":
            line = json.dumps(fields, default=str)
        else:
            line = " ".join(f"{key}={_quote(value)}" for key, value in fields.items())
        return scrub(line)


class EventLogger:
    """A logger whose calls name an event and its fields."""

    def __init__(self, name: str) -> None:
        self._log = logging.getLogger(name)

    def _emit(self, level: int, event: str, exc: bool, fields: dict[str, Any]) -> None:
        if self._log.isEnabledFor(level):
            self._log.log(level, event, extra={"fields": fields}, exc_info=exc)

    def debug(self, event: str, **fields: Any) -> None:
        """Log a debug event."""
        self._emit(logging.DEBUG, event, False, fields)

    def info(self, event: str, **fields: Any) -> None:
        """Log an info event."""
        self._emit(logging.INFO, event, False, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Log a warning event."""
        self._emit(logging.WARNING, event, False, fields)

    def error(self, event: str, exc: bool = False, **fields: Any) -> None:
        """Log an error event, with the current exception when ``exc``."""
        self._emit(logging.ERROR, event, exc, fields)


def get_logger(name: str) -> EventLogger:
    """The event logger for a module."""
    return EventLogger(name)


def setup_logging(level: str = "info", fmt: LogFormat = "text") -> None:
    """Send every log line, scrubbed, to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EventFormatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries log at info with their own formats; keep them quiet unless asked.
    for noisy in ("kopf", "kubernetes", "urllib3", "waitress", "werkzeug"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
