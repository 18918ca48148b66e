"""Serve the nightly retention job: ``python -m prefect_blocks.examples.serve_retention``.

It plans retention every night at 03:00 under the policy below and applies the plan
(tombstone now, purge after the grace period), using the ``mv-registry`` block. Every
run leaves a table artifact of its decisions. ``prefect.serve`` runs until interrupted.
"""

from __future__ import annotations

from prefect import serve

from prefect_blocks.flows import retention_deployment

POLICY = {
    "rules": [
        {"name": "recent", "models": "*", "keep_last": 5, "keep_within": "30d"},
        {"name": "production history", "models": "*", "keep_alias_history": 3},
    ],
    "grace_period": "7d",
}


def main() -> None:
    """Serve the retention deployment until interrupted."""
    serve(
        retention_deployment(
            name="nightly", cron="0 3 * * *", policy=POLICY, registry="mv-registry", apply=True
        )
    )


if __name__ == "__main__":
    main()
