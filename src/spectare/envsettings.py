"""The one loader of settings: a frozen dataclass's fields from ``<PREFIX><FIELD>``.

Each field says what it is (its annotation), what it means (``description``) and its
few bounds (``gt``, ``ge``, ``le``), all through ``setting()``; ``load`` converts the
environment's text by the annotation and checks the bounds, the same for explicit
overrides (typed values from flags and tests). Kept to the standard library: every
worker process loads its settings, and pydantic would cost it ~25 MB.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

from spectare.secret import Secret

T = TypeVar("T")

_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off"}
_BOUNDS: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "gt": (">", lambda value, bound: value > bound),
    "ge": (">=", lambda value, bound: value >= bound),
    "le": ("<=", lambda value, bound: value <= bound),
}


class SettingsError(ValueError):
    """Settings that cannot be used; the message names every bad variable."""


def setting(
    default: Any = dataclasses.MISSING,
    *,
    description: str,
    factory: Callable[[], Any] | None = None,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
) -> Any:
    """A settings field: its default (or ``factory``), description and bounds."""
    bounds = {"gt": gt, "ge": ge, "le": le}
    metadata = {"description": description, **{k: v for k, v in bounds.items() if v is not None}}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def description(cls: type[Any], name: str) -> str:
    """What the field ``name`` of a settings class means."""
    return str(next(f for f in dataclasses.fields(cls) if f.name == name).metadata["description"])


def load(
    cls: type[T], environ: Mapping[str, str], prefix: str, overrides: Mapping[str, object]
) -> T:
    """``cls`` from ``environ`` (``<prefix><FIELD>``; other variables are ignored), the
    ``overrides`` winning; raises ``SettingsError`` naming every bad variable."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise TypeError(f"not settings of {cls.__name__}: {', '.join(unknown)}")
    hints = typing.get_type_hints(cls)
    values: dict[str, object] = {}
    errors: list[str] = []
    for name, field in fields.items():
        var = f"{prefix}{name.upper()}"
        if name in overrides:
            raw: object = overrides[name]
        elif var in environ:
            raw = environ[var]
        else:
            continue
        try:
            values[name] = _checked(_convert(hints[name], raw), field.metadata)
        except ValueError as exc:
            shown = "<hidden>" if _is_secret(hints[name]) else repr(_text(raw))
            errors.append(f"{var}: {exc}, got {shown}")
    if errors:
        raise SettingsError("; ".join(errors))
    return cls(**values)


def _text(raw: object) -> object:
    return raw if isinstance(raw, str) else str(raw)


def _is_secret(kind: Any) -> bool:
    return kind is Secret or Secret in typing.get_args(kind)


def _checked(value: object, metadata: Mapping[str, Any]) -> object:
    for key, (sign, holds) in _BOUNDS.items():
        bound = metadata.get(key)
        if bound is not None and value is not None and not holds(value, bound):
            raise ValueError(f"must be {sign} {bound:g}")
    return value


def _convert(kind: Any, raw: object) -> object:
    """``raw`` (text from the environment, or a typed override) as a ``kind``."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (Union, types.UnionType):
        if raw is None:
            if type(None) in args:
                return None
            raise ValueError("must be set")
        (inner,) = [arg for arg in args if arg is not type(None)]
        return _convert(inner, raw)
    if origin is Literal:
        if raw not in args:
            raise ValueError(f"must be one of {', '.join(map(repr, args))}")
        return raw
    if origin is list:
        return _list(raw)
    if kind is bool:
        return _bool(raw)
    if kind in (int, float):
        return _number(kind, raw)
    if kind is str or kind is Secret:
        if isinstance(raw, kind):
            return raw
        if isinstance(raw, str):
            return Secret(raw)
        raise ValueError("must be text")
    if kind is Path:
        if isinstance(raw, str | Path):
            return Path(raw)
        raise ValueError("must be a path")
    if isinstance(raw, kind):
        return raw
    # Any other type reads itself from text (the camera spec from its JSON).
    parse = getattr(kind, "from_setting", None)
    if parse is not None and isinstance(raw, str):
        return parse(raw)
    raise ValueError(f"must be a {getattr(kind, '__name__', kind)}")


def _list(raw: object) -> list[str]:
    # A JSON list, or (simpler to write in a manifest) comma-separated words.
    if isinstance(raw, str):
        if raw.lstrip().startswith("["):
            try:
                raw = json.loads(raw)
            except ValueError:
                raise ValueError("must be a JSON list of strings") from None
        else:
            return [part.strip() for part in raw.split(",") if part.strip()]
    if isinstance(raw, list | tuple) and all(isinstance(item, str) for item in raw):
        return list(raw)
    raise ValueError("must be a list of strings")


def _bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise ValueError("must be true or false")


def _number(kind: type[int] | type[float], raw: object) -> int | float:
    if isinstance(raw, bool):
        raise ValueError(f"must be {'an integer' if kind is int else 'a number'}")
    if isinstance(raw, int) or (kind is float and isinstance(raw, float)):
        return kind(raw)
    if isinstance(raw, str):
        try:
            return kind(raw.strip())
        except ValueError:
            pass
    raise ValueError(f"must be {'an integer' if kind is int else 'a number'}")
