"""The leases retention takes: one apply and one GC at a time per registry."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mv_orchestration.registry.lease import Lease

APPLY_LEASE = "retention.apply"
GC_LEASE = "retention.gc"
LEASE_TTL_S = 600.0


def holder_name(kind: str) -> str:
    """A lease holder name unique to this process and call."""
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def renewer(lease: Lease, after_s: float | None = None) -> Callable[[], None]:
    """A cheap call for long loops and before each batch: it renews ``lease`` once
    ``after_s`` (default: a tenth of its ttl) passed since it was taken or last renewed,
    and raises :class:`LeaseError` when the lease was lost."""
    due = lease.ttl_s / 10 if after_s is None else after_s

    def renew() -> None:
        if time.monotonic() - lease.renewed_at >= due:
            lease.renew()

    return renew
