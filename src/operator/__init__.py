"""The Kubernetes operator: a worker pod per enabled Camera, status from the store.

``run()`` is what ``spectare operator`` calls. The modules:

- ``handlers``: kopf registrations, thin; their state lives in kopf's ``memo``.
- ``machine`` (pure): the state machine. A frozen ``ledger.Ledger`` and what a pass
  observes (``ledger.World``) in; the next ledger and ``effects`` (plain data) out.
  It composes ``orphans``, ``endings``, ``plan``, ``decisions``, ``mirror`` and
  ``writer``, which decide on the explicit values of a ``draft.Draft``; ``pods`` and
  ``status`` build manifests and status documents.
- ``pool`` (the loop), ``act`` (performs effects, reports outcomes), ``kube`` (the
  API calls), ``health`` (probes): the code that acts, thin.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from spectare.operator.config import OperatorSettings, load_operator_settings
from spectare.settings import Settings

__all__ = ["OperatorSettings", "load_settings", "run"]


def load_settings(**overrides: Any) -> OperatorSettings:
    """Operator settings from ``SPECTARE_*`` environment, with explicit overrides."""
    return load_operator_settings(**overrides)


def run(settings: Settings | None = None) -> None:
    """Run the operator until SIGTERM/SIGINT (blocking).

    ``settings`` may be the shared ``Settings`` (``spectare operator`` passes those):
    the operator's own fields then come from the environment, the given ones win.

    Standalone unless ``settings.peering`` names a KopfPeering (HA opt-in); watches
    ``settings.namespace`` or, when unset, every namespace.
    """
    import kopf

    from spectare.operator import handlers  # noqa: F401 - registers the handlers

    if isinstance(settings, OperatorSettings):
        ours = settings
    else:
        # The shared settings were read from the same environment: passing them all on
        # keeps the given ones winning, as their overrides (flags) must.
        given = (
            {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
            if settings is not None
            else {}
        )
        ours = load_settings(**given)
    kopf.run(
        memo=kopf.Memo(settings=ours),
        standalone=ours.peering is None,
        peering_name=ours.peering,
        priority=ours.peering_priority,
        namespaces=[ours.namespace] if ours.namespace else (),
        clusterwide=ours.namespace is None,
    )
