"""Example pipelines built on the Dagster integration."""
