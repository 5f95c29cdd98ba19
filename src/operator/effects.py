"""What a pass decides, as plain data: the writes to make and how they came out.

The state machine (``machine.step``) returns a list of these; the acting code
(``act``) performs them and hands each one's ``Outcome`` back into the next pass.
Nothing here does anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spectare.operator.plan import Key
from spectare.operator.pods import CameraRef
from spectare.store import CameraInfo

# -- Kubernetes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreatePod:
    """Create the worker pod of ``ref``; ``replacing`` when an earlier worker ended."""

    ref: CameraRef
    replacing: bool = False

    @property
    def key(self) -> Key:
        """(namespace, camera)."""
        return (self.ref.namespace, self.ref.name)


@dataclass(frozen=True)
class DeletePod:
    """Delete a worker pod; ``why`` is ended, stale, disabled, deleted, spec, duplicate..."""

    key: Key
    name: str
    why: str
    grace: int | None = None


@dataclass(frozen=True)
class WriteStatus:
    """Merge-patch a Camera's ``/status`` (``old`` is what it replaces, for the Event)."""

    key: Key
    doc: dict[str, Any] = field(hash=False)
    old: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class PostEvent:
    """A Kubernetes Event on the Camera with ``uid`` (``kubectl describe cam`` shows it)."""

    key: Key
    uid: str
    kind: str  # Normal | Warning
    reason: str
    message: str


# -- the store ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetPhase:
    """Tell the store what only the supervisor knows (Queued, Disabled, backoff)."""

    camera: str
    phase: str
    message: str | None


@dataclass(frozen=True)
class ReleaseHold:
    """Free the camera held by a worker that ended (its replacement grabs it at once)."""

    camera: str
    worker: str


@dataclass(frozen=True)
class BumpRestarts:
    """Count a replacement worker in the camera's row."""

    camera: str


@dataclass(frozen=True)
class UpsertCamera:
    """Mirror a Camera's spec into the store (masked URL)."""

    info: CameraInfo


@dataclass(frozen=True)
class RemoveCamera:
    """Forget the row of a Camera that is gone (its footage stays)."""

    camera: str


# -- logs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Note:
    """One structured log line (``event`` and key=value fields)."""

    event: str
    level: str = "info"  # info | warning | error
    fields: tuple[tuple[str, Any], ...] = ()


Effect = (
    CreatePod | DeletePod | WriteStatus | PostEvent | SetPhase | ReleaseHold | BumpRestarts
    | UpsertCamera | RemoveCamera | Note
)  # fmt: skip


def note(event: str, level: str = "info", **fields: Any) -> Note:
    """A ``Note`` from keyword fields."""
    return Note(event, level, tuple(fields.items()))


@dataclass(frozen=True)
class Outcome:
    """How an effect came out, handed to the next pass.

    ``detail`` is the created pod's name (``CreatePod``) or the error text; ``at`` is
    when the answer came (epoch seconds).
    """

    effect: Effect
    ok: bool
    detail: str | None = None
    at: float = 0.0
