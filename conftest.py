"""Shared pytest plugins: real PostgreSQL and S3-compatible servers on loopback."""

pytest_plugins = ["tests.fixtures.postgres", "tests.fixtures.s3"]
