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
RENEW_AFTER_S = LEASE_TTL_S / 10


def holder_name(kind: str) -> str:
    """A lease holder name unique to this process and call."""
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def renewer(lease: Lease, after_s: float = RENEW_AFTER_S) -> Callable[[], None]:
    """A call for before each batch that renews ``lease`` (a just taken ``Lease``) once
    ``after_s`` passed since it was taken or last renewed: far from expiring, it costs no
    write per batch."""
    last = time.monotonic()

    def renew() -> None:
        nonlocal last
        if time.monotonic() - last >= after_s:
            lease.renew()
            last = time.monotonic()

    return renew
