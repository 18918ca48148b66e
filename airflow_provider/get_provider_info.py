"""Provider metadata read by Airflow's ``ProvidersManager`` (the provider entry point).

Keep this module free of imports: Airflow calls it while it discovers providers.
"""

from __future__ import annotations

from typing import Any

PACKAGE_NAME = "mv-orchestration"
CONN_TYPE = "mv_registry"
HOOK_CLASS = "airflow_provider.hooks.registry.MVRegistryHook"
INTEGRATION = "mv-orchestration"

#: Connection form: fields stored in ``Connection.extra`` (Airflow >= 3.2 reads these).
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "registry_url": {
        "label": "Registry URL",
        "description": (
            "SQLAlchemy URL of the registry database without its password, e.g. "
            "postgresql+psycopg://mvo@db:5432/registry or sqlite:////data/registry.db. "
            "Empty: MVO_REGISTRY_URL or the embedded default."
        ),
        "schema": {"type": ["string", "null"]},
    },
    "store_url": {
        "label": "Artifact store URL",
        "description": (
            "file:///shared/mvo-store or s3://bucket/prefix?region=eu-west-1. "
            "Empty: MVO_STORE_URL or the embedded default."
        ),
        "schema": {"type": ["string", "null"]},
    },
    "aws_access_key_id": {
        "label": "S3 access key id",
        "description": "For an s3:// store. Empty: the usual AWS credential chain.",
        "schema": {"type": ["string", "null"]},
    },
    "aws_secret_access_key": {
        "label": "S3 secret access key",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "aws_session_token": {
        "label": "S3 session token",
        "description": "For temporary (STS) credentials, with their key id and secret.",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
}

#: Which standard connection fields the form shows, and how they are labelled.
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["host", "schema", "port", "login"],
    "relabeling": {"password": "Registry database password"},
    "placeholders": {
        "password": "Injected into the registry URL at connect time; never stored in records",
    },
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider description that Airflow validates and registers."""
    return {
        "package-name": PACKAGE_NAME,
        "name": "mv-orchestration",
        "description": (
            "ML model versioning inside Airflow pipelines: a ``@task.versioned`` TaskFlow "
            "decorator, operators to register, promote, roll back, verify and retain model "
            "versions, the ``mv_registry`` connection type and ``mv://`` model assets."
        ),
        "versions": [_version()],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "tags": ["software"],
            }
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider.operators.register",
                    "airflow_provider.operators.promote",
                    "airflow_provider.operators.rollback",
                    "airflow_provider.operators.verify",
                    "airflow_provider.operators.retention",
                ],
            }
        ],
        "hooks": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["airflow_provider.hooks.registry"],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": HOOK_CLASS,
                "hook-name": "MV Registry",
                "connection-type": CONN_TYPE,
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
        "task-decorators": [
            {
                "name": "versioned",
                "class-name": "airflow_provider.decorators.versioned.versioned_task",
            }
        ],
    }


def _version() -> str:
    from mv_orchestration._version import __version__

    return __version__
