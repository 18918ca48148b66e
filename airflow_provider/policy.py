"""Retention policies given to operators: validated when the DAG is parsed.

A policy is loaded with the core's ``load_policy`` as soon as the operator is built, so a
bad key or an unreadable file is a DAG import error instead of a failed run at 03:00. Only
a policy that is resolved at run time (a Jinja template, an ``XComArg``) waits for the
task. A relative policy file path is read from the folder of the DAG file, whatever the
current directory of the process that parses or runs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mv_orchestration.retention import RetentionPolicy

_JINJA_MARKERS = ("{{", "{%", "{#")


def resolved_at_run_time(value: Any) -> bool:
    """True when ``value``, or anything inside it, is a Jinja template or an ``XComArg``."""
    from airflow.sdk import XComArg

    if isinstance(value, XComArg):
        return True
    if isinstance(value, str):
        return any(marker in value for marker in _JINJA_MARKERS)
    if isinstance(value, Mapping):
        return any(resolved_at_run_time(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(resolved_at_run_time(item) for item in value)
    return False


def load_policy_from(source: Any, folder: str | None) -> RetentionPolicy:
    """The core's policy for ``source``; a relative file path is read from ``folder``."""
    from mv_orchestration.retention.policy import load_policy

    if isinstance(source, (str, Path)) and folder:
        path = Path(source).expanduser()
        if not path.is_absolute():
            source = Path(folder) / path
    return load_policy(source)
