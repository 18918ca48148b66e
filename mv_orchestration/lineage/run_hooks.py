"""Hooks a training run calls when it starts, completes or fails.

The registry's :class:`~mv_orchestration.registry.run.Run` calls :func:`run_started` after
its capture, and :func:`run_completed` or :func:`run_failed` when its ``with`` block ends;
every adapter trains through a Run, so all three orchestrators emit the same events.
Today the hooks send OpenLineage events when ``MVO_OPENLINEAGE_TRANSPORT`` is set (see
:mod:`mv_orchestration.lineage.openlineage`). A hook never raises: lineage that cannot be
sent is logged as a warning and the training goes on.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from mv_orchestration.errors import MVOError

if TYPE_CHECKING:
    from mv_orchestration.lineage.openlineage import EventType
    from mv_orchestration.registry.run import Run

log = logging.getLogger(__name__)
_warned: set[str] = set()


def run_started(run: Run) -> None:
    """The run entered its ``with`` block and captured what it is."""
    _emit(run, "START")


def run_completed(run: Run) -> None:
    """The run's ``with`` block ended without an exception."""
    _emit(run, "COMPLETE")


def run_failed(run: Run, error: BaseException) -> None:
    """The run's ``with`` block raised ``error``."""
    _emit(run, "FAIL", error)


def _emit(run: Run, event_type: EventType, error: BaseException | None = None) -> None:
    from mv_orchestration.lineage.openlineage import OpenLineageSettings

    try:
        settings = OpenLineageSettings.from_env()
    except MVOError as exc:
        _warn_once(str(exc))
        return
    if not settings.enabled:
        return
    try:
        from mv_orchestration.lineage.openlineage import emitter_for

        emitter_for(settings).emit_run(run, event_type, error)
    except ImportError:
        _warn_once(
            "MVO_OPENLINEAGE_TRANSPORT is set but openlineage-python is not installed "
            "(install mv-orchestration[openlineage]); no lineage events are sent"
        )
    except Exception as exc:  # lineage must never break a training run
        from mv_orchestration.capture import redact_text

        log.warning(
            "OpenLineage %s event of %s not sent: %s", event_type, run.model, redact_text(str(exc))
        )


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning(message)
