"""Airflow test setup: a private AIRFLOW_HOME with a migrated SQLite metadata database.

The environment is set when this module is imported, before any test module imports
Airflow. ``dags_folder`` is a session directory holding copies of the example DAGs and of
``tests/airflow/dags`` (and its policy files): ``dag.test()`` needs each DAG to be found
there (it serialises the folder into the metadata database), while the tests run the
imported DAG objects.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_ROOT = Path(__file__).resolve().parents[2]
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="mvo-airflow-tests-"))
atexit.register(shutil.rmtree, _SESSION_DIR, ignore_errors=True)
DAGS_FOLDER = _SESSION_DIR / "dags"

os.environ["AIRFLOW_HOME"] = str(_SESSION_DIR / "airflow-home")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = (
    f"sqlite:///{_SESSION_DIR / 'airflow-home' / 'airflow.db'}"
)
os.environ["MVO_HOME"] = str(_SESSION_DIR / "mvo-home")
OPENLINEAGE_EVENTS = _SESSION_DIR / "openlineage.jsonl"
os.environ["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(
    {"type": "file", "log_file_path": str(OPENLINEAGE_EVENTS), "append": True}
)
for _name in ("MVO_REGISTRY_URL", "MVO_STORE_URL", "AIRFLOW_CONN_MV_REGISTRY_DEFAULT"):
    os.environ.pop(_name, None)

DAGS_FOLDER.mkdir(parents=True)
for _source in (_ROOT / "airflow_provider" / "example_dags", Path(__file__).parent / "dags"):
    for _file in [*_source.glob("*.py"), *_source.glob("*.yaml")]:
        if _file.name != "__init__.py":
            shutil.copy(_file, DAGS_FOLDER / _file.name)


@pytest.fixture(scope="session", autouse=True)
def airflow_db() -> None:
    """A freshly migrated metadata database for the session."""
    from airflow.utils.db import resetdb

    resetdb()


@pytest.fixture
def registry_urls(tmp_path: Path) -> dict[str, str]:
    """URLs of a fresh, empty registry and artifact store."""
    return {
        "registry_url": f"sqlite:///{tmp_path / 'registry.db'}",
        "store_url": (tmp_path / "store").as_uri(),
    }


@pytest.fixture
def mv_connection(registry_urls: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``mv_registry_default`` defined as an ``AIRFLOW_CONN_`` JSON variable."""
    conn = {"conn_type": "mv_registry", "extra": registry_urls}
    monkeypatch.setenv("AIRFLOW_CONN_MV_REGISTRY_DEFAULT", json.dumps(conn))
    return registry_urls


@pytest.fixture
def registry(mv_connection: dict[str, str]) -> Iterator[Any]:
    """The registry the default connection points to (for assertions)."""
    import mv_orchestration as mvo

    reg = mvo.connect(**mv_connection)
    try:
        yield reg
    finally:
        reg.close()
