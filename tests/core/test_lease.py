"""Leases: renewal counts from when the lease was taken; the in-transaction check."""

from __future__ import annotations

import time

import pytest

from mv_orchestration.errors import LeaseError
from mv_orchestration.registry import Registry
from mv_orchestration.registry.lease import acquire_lease
from mv_orchestration.retention.leases import renewer

pytest_plugins = ["tests.core.registry_fixtures"]


def test_renewer_counts_from_when_the_lease_was_taken(registry: Registry) -> None:
    with acquire_lease(registry.engine, "test.lease", "me", 1.0) as lease:
        taken = lease.expires_at
        time.sleep(0.15)  # longer than a tenth of the ttl, before the renewer exists
        renewer(lease)()
        assert lease.expires_at > taken


def test_check_passes_for_the_holder_and_fails_once_the_lease_is_lost(
    registry: Registry,
) -> None:
    engine = registry.engine
    with acquire_lease(engine, "test.lease", "me", 0.3) as lease:
        with engine.begin() as conn:
            lease.check(conn)
        time.sleep(0.4)
        with pytest.raises(LeaseError, match="expired"), engine.begin() as conn:
            lease.check(conn)
        with acquire_lease(engine, "test.lease", "someone-else", 60):
            with pytest.raises(LeaseError, match="lost"), engine.begin() as conn:
                lease.check(conn)
            with pytest.raises(LeaseError, match="lost"):
                renewer(lease, after_s=0)()
