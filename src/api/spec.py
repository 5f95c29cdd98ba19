"""What each route is, for the people and tools reading ``/openapi.json``.

Every view is declared with :func:`operation`, which registers it on a blueprint
and pins an :class:`Operation` to the view function. The OpenAPI document walks
Flask's URL map and reads these back, so a route cannot exist undocumented, and
the auth hook reads the same record to know whether a route reads or writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from flask import Blueprint
from pydantic import BaseModel

#: public: never needs a token; read: needs it when reads are protected; write: always.
Access = Literal["public", "read", "write"]

View = TypeVar("View", bound=Callable[..., Any])

_ATTRIBUTE = "_spectare_operation"


@dataclass(frozen=True)
class Body:
    """A non-JSON (or free-form) response body: media types and their JSON Schema."""

    media: Mapping[str, Mapping[str, Any]]
    description: str = ""


@dataclass(frozen=True)
class Reply:
    """One documented response: a JSON model, another body, or none; plus headers."""

    description: str
    model: type[Any] | None = None
    body: Body | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    """One route and method as OpenAPI describes it."""

    method: str
    summary: str
    tag: str
    access: Access
    replies: Mapping[int, Reply]
    description: str = ""
    query: type[BaseModel] | None = None
    form: type[BaseModel] | None = None
    headers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def operation(
    blueprint: Blueprint,
    rule: str,
    *,
    method: str = "GET",
    summary: str,
    tag: str,
    access: Access,
    replies: Mapping[int, Reply],
    description: str = "",
    query: type[BaseModel] | None = None,
    form: type[BaseModel] | None = None,
    headers: Mapping[str, Mapping[str, Any]] | None = None,
) -> Callable[[View], View]:
    """Register a view on ``blueprint`` and describe it for OpenAPI and auth."""

    def register(view: View) -> View:
        setattr(
            view,
            _ATTRIBUTE,
            Operation(
                method=method,
                summary=summary,
                tag=tag,
                access=access,
                replies=replies,
                description=description,
                query=query,
                form=form,
                headers=headers or {},
            ),
        )
        blueprint.add_url_rule(rule, view_func=view, methods=[method])
        return view

    return register


def operation_of(view: Callable[..., Any] | None) -> Operation | None:
    """The operation declared for a view, if any."""
    return getattr(view, _ATTRIBUTE, None)
