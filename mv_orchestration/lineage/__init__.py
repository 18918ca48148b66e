"""Lineage: graph queries over the registry and their renderings."""
