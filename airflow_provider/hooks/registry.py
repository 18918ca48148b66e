"""``MVRegistryHook``: the ``mv_registry`` connection type, opening an mv-orchestration registry.

A connection holds (all optional):

* ``extra.registry_url`` - SQLAlchemy URL of the registry database *without* its password
  (``postgresql+psycopg://mvo@db:5432/registry``, ``sqlite:////data/registry.db``);
* ``extra.store_url`` - artifact store URL (``file:///shared/store``,
  ``s3://bucket/prefix?region=eu-west-1``);
* ``password`` - the registry database password, put into the URL only in memory, when
  connecting (Airflow masks it in logs; the registry never records it);
* ``extra.aws_access_key_id`` / ``extra.aws_secret_access_key`` (and
  ``extra.aws_session_token`` for temporary credentials) - S3 credentials for an
  ``s3://`` store (otherwise the usual AWS credential chain of the worker applies). They
  are handed to the core in memory (never through ``os.environ``, so neither other
  threads nor the task's own code see them) and masked in Airflow's logs.

Empty URLs fall back to ``MVO_REGISTRY_URL`` / ``MVO_STORE_URL`` and then to the embedded
default. When the *default* connection id (``mv_registry_default``) is not defined at all
the hook uses that environment-only configuration, so a single-machine setup needs no
connection; a missing connection id that a task names explicitly is an error.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_provider.get_provider_info import CONN_TYPE, UI_FIELD_BEHAVIOUR
from airflow_provider.masking import mask_secret

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from mv_orchestration.registry import Registry
    from mv_orchestration.store.credentials import S3Credentials

log = logging.getLogger(__name__)


class MVRegistryHook(BaseHook):
    """Open the mv-orchestration registry that an ``mv_registry`` connection describes.

    :param mv_conn_id: the connection id (default ``mv_registry_default``).
    """

    conn_name_attr = "mv_conn_id"
    default_conn_name = "mv_registry_default"
    conn_type = CONN_TYPE
    hook_name = "MV Registry"

    def __init__(self, mv_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mv_conn_id = mv_conn_id
        self._registry: Registry | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Form behaviour for Airflow < 3.2 (newer versions read the provider info)."""
        return {
            "hidden_fields": UI_FIELD_BEHAVIOUR["hidden-fields"],
            "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
            "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
        }

    def connection_settings(self) -> dict[str, str | None]:
        """The registry and store URLs this hook connects to (secrets never included)."""
        conn = self._connection()
        if conn is None:
            return {"registry_url": None, "store_url": None}
        extra = conn.extra_dejson
        return {
            "registry_url": _extra_field(extra, "registry_url"),
            "store_url": _extra_field(extra, "store_url"),
        }

    def get_conn(self) -> Registry:
        """Return the (cached) open :class:`~mv_orchestration.registry.Registry`."""
        if self._registry is None:
            self._registry = self._open()
        return self._registry

    def close(self) -> None:
        """Close the registry opened by :meth:`get_conn`, if any."""
        if self._registry is not None:
            self._registry.close()
            self._registry = None

    def test_connection(self) -> tuple[bool, str]:
        """Open the registry and list its models (the UI's "Test" button)."""
        try:
            count = len(self.get_conn().models())
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        finally:
            self.close()
        return True, f"Registry reachable ({count} models)"

    def _connection(self) -> Connection | None:
        try:
            return self.get_connection(self.mv_conn_id)
        except AirflowNotFoundException:
            if self.mv_conn_id != self.default_conn_name:
                raise
            log.info(
                "Connection %r is not defined: using MVO_REGISTRY_URL / MVO_STORE_URL",
                self.mv_conn_id,
            )
            return None

    def _open(self) -> Registry:
        import mv_orchestration as mvo

        conn = self._connection()
        if conn is None:
            return mvo.connect()
        extra = conn.extra_dejson
        registry_url = _extra_field(extra, "registry_url")
        if registry_url and conn.password:
            mask_secret(conn.password)
            registry_url = _with_password(registry_url, conn.password)
        return mvo.connect(
            registry_url=registry_url or None,
            store_url=_extra_field(extra, "store_url") or None,
            store_credentials=_store_credentials(extra),
        )


def _store_credentials(extra: dict[str, Any]) -> S3Credentials | None:
    """The connection's S3 key pair, masked in logs (None: the AWS default chain)."""
    from mv_orchestration.store.credentials import S3Credentials

    key_id = _extra_field(extra, "aws_access_key_id")
    secret = _extra_field(extra, "aws_secret_access_key")
    token = _extra_field(extra, "aws_session_token")
    for value in (key_id, secret, token):
        if value:
            mask_secret(value)
    return S3Credentials.from_pair(key_id, secret, token)


def _extra_field(extra: dict[str, Any], name: str) -> str | None:
    """Read an extra field saved plain or with the ``extra__mv_registry__`` prefix."""
    value = extra.get(name) or extra.get(f"extra__{CONN_TYPE}__{name}")
    return str(value) if value else None


def _with_password(url: str, password: str) -> str:
    """``url`` with ``password`` set, unless the URL already carries one."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.password is not None:
        return url
    return parsed.set(password=password).render_as_string(hide_password=False)
