"""Plain data for the operator's unit tests: Cameras, pods, settings, a ledger driver."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from spectare.model import CameraSpec
from spectare.operator.config import OperatorSettings
from spectare.operator.effects import Effect, Outcome
from spectare.operator.ledger import Ledger, Scan, World
from spectare.operator.machine import step
from spectare.operator.plan import CameraView, Key
from spectare.operator.pods import PodView, spec_hash
from spectare.store import CameraRecord

NS = "cams"
URL = "rtsp://10.0.0.9:554/stream"


def settings(**kw: Any) -> OperatorSettings:
    return OperatorSettings(store="sqlite:////data/spectare.db", **kw)


def spec(**kw: Any) -> CameraSpec:
    return CameraSpec.model_validate({"url": URL, **kw})


def cam(name: str, enabled: bool = True, **kw: Any) -> CameraView:
    return CameraView(NS, name, f"uid-{name}", 1, spec(enabled=enabled, **kw))


def pod(
    camera: str,
    name: str | None = None,
    phase: str = "Running",
    deleting: bool = False,
    hash_of: CameraSpec | None = None,
    created: float = 0.0,
    **kw: Any,
) -> PodView:
    return PodView(
        name or f"{camera}-abcde",
        f"uid-{name or camera}",
        NS,
        camera,
        phase,
        deleting,
        spec_hash(hash_of or spec()),
        created,
        **kw,
    )


def key(name: str) -> Key:
    return (NS, name)


def of(effects: Iterable[Effect], kind: type[Any]) -> list[Any]:
    """The effects of one kind, in order."""
    return [e for e in effects if isinstance(e, kind)]


class Operator:
    """Drives ``machine.step`` like the pool's loop does, on a virtual clock."""

    def __init__(self, **settings_kw: Any) -> None:
        self.settings = settings(**settings_kw)
        self.ledger = Ledger()
        self.now = 1000.0
        self.cameras: dict[Key, CameraView] = {}
        self.pods: dict[Key, list[PodView]] = {}

    def add(self, *views: CameraView) -> None:
        for view in views:
            self.cameras[view.key] = view

    def step(
        self,
        *outcomes: Outcome,
        rows: Mapping[str, CameraRecord | None] | None = None,
        scan: Sequence[CameraRecord] | Scan | None = None,
        after: float = 1.0,
    ) -> list[Effect]:
        """One pass ``after`` seconds after the last; the effects."""
        self.now += after
        if scan is not None and not isinstance(scan, Scan):
            scan = Scan(list(scan))
        world = World(self.now, dict(self.cameras), {k: list(v) for k, v in self.pods.items()},
                      dict(rows or {}), scan, outcomes)  # fmt: skip
        self.ledger, effects = step(self.ledger, world, self.settings)
        return effects
