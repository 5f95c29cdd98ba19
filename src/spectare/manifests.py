"""Reading Camera (and Secret) manifests from multi-document YAML files."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from spectare.model import Camera


class ManifestError(ValueError):
    """A manifest that cannot be used; the message names file, document and field."""


@dataclass(frozen=True)
class Credentials:
    """User name and password from a Secret."""

    username: str | None
    password: str | None


@dataclass
class Manifests:
    """What a set of manifest files declares."""

    cameras: list[Camera] = field(default_factory=list)
    secrets: dict[str, Credentials] = field(default_factory=dict)

    def credentials_for(self, camera: Camera) -> Credentials | None:
        """The credentials of a camera's ``credentialsSecret``, if any."""
        name = camera.spec.credentials_secret
        return self.secrets.get(name) if name else None


def _field_path(loc: Iterable[int | str]) -> str:
    return ".".join(str(part) for part in loc)


def _describe(error: ValidationError) -> str:
    return "; ".join(f"{_field_path(e['loc'])}: {e['msg']}" for e in error.errors())


def _secret(doc: dict[str, Any], where: str) -> tuple[str, Credentials]:
    name = (doc.get("metadata") or {}).get("name")
    if not name:
        raise ManifestError(f"{where}: Secret without metadata.name")
    values: dict[str, str] = {}
    for key, raw in (doc.get("data") or {}).items():
        try:
            values[key] = base64.b64decode(raw).decode()
        except ValueError as exc:
            raise ManifestError(f"{where}: Secret {name!r}: data.{key} is not base64") from exc
    values.update({k: str(v) for k, v in (doc.get("stringData") or {}).items()})
    return name, Credentials(values.get("username"), values.get("password"))


def parse_documents(text: str, source: str = "<string>") -> Manifests:
    """Cameras and Secrets in a multi-document YAML text."""
    found = Manifests()
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ManifestError(f"{source}: not valid YAML: {exc}") from exc
    for number, doc in enumerate(docs, start=1):
        if doc is None:
            continue
        where = f"{source}, document {number}"
        if not isinstance(doc, dict):
            raise ManifestError(f"{where}: expected a mapping with apiVersion and kind")
        kind = doc.get("kind")
        if kind == "Secret":
            name, creds = _secret(doc, where)
            found.secrets[name] = creds
        elif kind == "Camera":
            name = (doc.get("metadata") or {}).get("name", "?")
            try:
                found.cameras.append(Camera.model_validate(doc))
            except ValidationError as exc:
                raise ManifestError(f"{where} (camera {name!r}): {_describe(exc)}") from exc
        else:
            raise ManifestError(f"{where}: kind {kind!r} is not Camera or Secret")
    names = [camera.name for camera in found.cameras]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ManifestError(f"{source}: camera names used twice: {', '.join(duplicates)}")
    return found


def load_files(paths: Iterable[Path]) -> Manifests:
    """Cameras and Secrets of several files, as ``kubectl apply -f`` would read them."""
    merged = Manifests()
    for path in paths:
        try:
            text = path.read_text()
        except OSError as exc:
            raise ManifestError(f"{path}: cannot read: {exc.strerror}") from exc
        part = parse_documents(text, str(path))
        merged.cameras.extend(part.cameras)
        merged.secrets.update(part.secrets)
    names = [camera.name for camera in merged.cameras]
    if len(names) != len(set(names)):
        raise ManifestError("the same camera name appears in more than one file")
    return merged
