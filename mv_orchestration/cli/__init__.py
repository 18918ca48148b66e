"""The ``mvo`` command line."""

from mv_orchestration.cli.app import main

__all__ = ["main"]
