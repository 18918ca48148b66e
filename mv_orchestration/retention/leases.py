"""The leases retention takes: one apply and one GC at a time per registry."""

from __future__ import annotations

import os
import socket
import uuid

APPLY_LEASE = "retention.apply"
GC_LEASE = "retention.gc"
LEASE_TTL_S = 600.0


def holder_name(kind: str) -> str:
    """A lease holder name unique to this process and call."""
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
