"""The Kubernetes operator: a worker pod per enabled Camera, status from the store.

``run()`` is what ``spectare operator`` calls. The modules: ``handlers`` (kopf
registrations, thin), ``plan``, ``pods``, ``status`` (pure decisions),
``reconciler``, ``writer``, ``mirror`` and ``kube`` (the code that acts).
"""

from __future__ import annotations

from spectare.operator.config import OperatorSettings

__all__ = ["OperatorSettings", "load_settings", "run"]


def load_settings(**overrides: object) -> OperatorSettings:
    """Operator settings from ``SPECTARE_*`` environment, with explicit overrides."""
    return OperatorSettings(**overrides)


def run(settings: OperatorSettings | None = None) -> None:
    """Run the operator until SIGTERM/SIGINT (blocking).

    Standalone unless ``settings.peering`` names a KopfPeering (HA opt-in); watches
    ``settings.namespace`` or, when unset, every namespace.
    """
    import kopf

    from spectare.operator import handlers

    settings = settings or load_settings()
    handlers.RUNTIME.settings = settings
    kopf.run(
        standalone=settings.peering is None,
        peering_name=settings.peering,
        priority=settings.peering_priority,
        namespaces=[settings.namespace] if settings.namespace else (),
        clusterwide=settings.namespace is None,
    )
