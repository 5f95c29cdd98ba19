"""HA opt-in: is this replica the one that acts? (kopf's peering, read back.)

kopf pauses a replica's watching when a peer of higher priority is alive, and all
replicas when two share a priority; our own loop must pause with it, or a paused
replica would still act on its frozen indices. The KopfPeering object's status lists
every replica as ``{id: {priority, lifetime, lastseen}}``; a replica leads when its
priority is the single highest among the live entries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def leads(peers: dict[str, Any], priority: int, now: float) -> bool:
    """True when ``priority`` is live in ``peers`` and strictly above every other live one."""
    live = []
    for info in peers.values():
        if not isinstance(info, dict):
            continue
        seen = info.get("lastseen")
        if seen is None:
            continue
        deadline = datetime.fromisoformat(str(seen).replace("Z", "+00:00")).timestamp() + float(
            info.get("lifetime", 60)
        )
        if deadline > now:
            live.append(int(info.get("priority", 0)))
    return live.count(priority) == 1 and max(live) == priority
