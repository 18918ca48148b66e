"""What every mv-orchestration operator shares: the registry connection and lineage state."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider.hooks.registry import MVRegistryHook

if TYPE_CHECKING:
    from mv_orchestration.registry import Registry, VersionRecord


class RegistryTaskMixin:
    """Registry access and OpenLineage facets for operators (mixed into ``BaseOperator``s).

    ``execute`` implementations open the registry with :meth:`open_registry` and note what
    they touched with :meth:`note_lineage`; :meth:`get_openlineage_facets_on_complete`
    turns that into OpenLineage facets when the OpenLineage provider is installed.
    """

    mv_conn_id: str

    def init_registry_task(self, mv_conn_id: str) -> None:
        """Set the connection id and empty lineage state (call from ``__init__``)."""
        self.mv_conn_id = mv_conn_id
        self._mv_records: list[VersionRecord] = []
        self._mv_facets: dict[str, Any] = {}

    @contextmanager
    def open_registry(self) -> Iterator[Registry]:
        """The registry behind ``mv_conn_id``, closed on exit."""
        hook = MVRegistryHook(mv_conn_id=self.mv_conn_id)
        try:
            yield hook.get_conn()
        finally:
            hook.close()

    def note_lineage(
        self, record: VersionRecord | None = None, **facets: dict[str, Any] | None
    ) -> None:
        """Remember a version record and custom run facets for OpenLineage."""
        if record is not None:
            self._mv_records.append(record)
        self._mv_facets.update({key: value for key, value in facets.items() if value})

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage facets of what this task did (``None`` without the provider)."""
        try:
            from airflow_provider.openlineage import operator_lineage
        except ImportError:
            return None
        return operator_lineage(self._mv_records, self._mv_facets)


class MVBaseOperator(RegistryTaskMixin, BaseOperator):
    """Base of the classic operators.

    :param mv_conn_id: the ``mv_registry`` connection (default ``mv_registry_default``;
        when that one is not defined, ``MVO_REGISTRY_URL``/``MVO_STORE_URL`` apply).
    """

    def __init__(self, *, mv_conn_id: str = MVRegistryHook.default_conn_name, **kwargs: Any):
        super().__init__(**kwargs)
        self.init_registry_task(mv_conn_id)
