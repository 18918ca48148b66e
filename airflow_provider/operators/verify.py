"""``VerifyModelOperator``: re-hash a version's (or every version's) stored bytes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider.operators.base import MVBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class VerifyModelOperator(MVBaseOperator):
    """Verify ``ref`` (``MODEL@VERSION``, ``MODEL@ALIAS``, ...) or the whole registry.

    The task fails (without retrying) when anything does not match its digest or is
    missing; the report is returned either way through XCom on success.

    :param ref: what to verify (templated); ``None`` verifies everything.
    """

    template_fields: Sequence[str] = ("ref",)

    def __init__(self, *, ref: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ref = ref

    def execute(self, context: Context) -> dict[str, Any]:
        with self.open_registry() as registry:
            report = registry.verify(self.ref or None)
            if self.ref:
                self.note_lineage(registry.record(self.ref))
        result = report.model_dump(mode="json")
        self.note_lineage(mvo_verify=result)
        if not report.ok:
            raise AirflowFailException(
                f"verification of {self.ref or 'the registry'} failed: "
                + "; ".join(report.problems)
            )
        self.log.info("Verified %d versions, %d objects", report.versions, report.objects)
        return result
