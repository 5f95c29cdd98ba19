"""Query parameters as pydantic models: validated in one place, documented from the same code."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from flask import request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema

from spectare.api.errors import ApiError
from spectare.model import DNS_LABEL

M = TypeVar("M", bound=BaseModel)


def parse_time(value: Any) -> float:
    """Epoch seconds from a number, a numeric string, or an RFC 3339 / ISO 8601 time."""
    if isinstance(value, bool):
        raise ValueError("not a time")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(
                    "not a time: use epoch seconds (1718000000) or RFC 3339 (2024-06-10T06:13:20Z)"
                ) from None
            # A time without a zone is taken as UTC, like every time this API returns.
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            seconds = moment.timestamp()
    else:
        raise ValueError("not a time")
    if not math.isfinite(seconds):
        raise ValueError("not a finite time")
    return seconds


Timestamp = Annotated[
    float,
    BeforeValidator(parse_time),
    WithJsonSchema(
        {
            "anyOf": [{"type": "number"}, {"type": "string", "format": "date-time"}],
            "description": "Epoch seconds or an RFC 3339 time (UTC when no zone is given).",
        }
    ),
]


class _Query(BaseModel):
    # Unknown parameters are ignored, as browsers add cache-busters and the like.
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class FootageQuery(_Query):
    """Which of a camera's segments: a time range, a page size, a cursor and an order."""

    from_: Timestamp | None = Field(
        default=None, alias="from", description="Segments ending after this time."
    )
    to: Timestamp | None = Field(default=None, description="Segments starting before this time.")
    limit: int = Field(default=100, ge=1, le=1000, description="Segments per page.")
    cursor: str | None = Field(
        default=None, max_length=512, description="The ``cursor`` of the previous page."
    )
    order: Literal["asc", "desc"] = Field(
        default="asc", description="By start time: asc (oldest first) or desc (newest first)."
    )


class EventQuery(_Query):
    """Which motion events: a camera, a time range, a limit."""

    camera: str | None = Field(
        default=None, pattern=DNS_LABEL, max_length=63, description="Only this camera's events."
    )
    from_: Timestamp | None = Field(
        default=None, alias="from", description="Events ending after this time."
    )
    to: Timestamp | None = Field(default=None, description="Events starting before this time.")
    limit: int = Field(default=500, ge=1, le=5000, description="Most events returned.")


class ExportQuery(_Query):
    """Which part of a camera's footage to export: a time range, both ends required."""

    from_: Timestamp = Field(alias="from", description="Start of the range.")
    to: Timestamp = Field(description="End of the range (after from).")


class LoginForm(_Query):
    """The web UI's sign-in form."""

    token: str = Field(min_length=1, max_length=4096, description="The API token.")
    next: str | None = Field(default=None, max_length=2048, description="Where to go after.")


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"]) or "parameters"
        parts.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    return "bad parameter " + "; ".join(parts)


def parse(model: type[M], values: dict[str, Any]) -> M:
    """``values`` validated as ``model``; a 400 with the reasons otherwise."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ApiError(400, _describe(exc)) from None


def query(model: type[M]) -> M:
    """The request's query string validated as ``model``."""
    return parse(model, request.args.to_dict(flat=True))


def check_range(start: float | None, end: float | None) -> None:
    """A time range must not end before it starts."""
    if start is not None and end is not None and end < start:
        raise ApiError(400, "bad parameter to: the range ends before it starts (to < from)")
