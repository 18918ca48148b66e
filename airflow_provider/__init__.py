"""Apache Airflow provider for mv-orchestration (package ``mv-orchestration``).

Importing this package is cheap: it imports neither Airflow nor the core's heavy modules.
The public pieces live in their own modules:

* :mod:`airflow_provider.hooks.registry` - ``MVRegistryHook`` and the ``mv_registry``
  connection type;
* :mod:`airflow_provider.decorators.versioned` - ``@task.versioned``;
* :mod:`airflow_provider.operators` - register, promote, rollback, verify, retention;
* :mod:`airflow_provider.assets` - the ``mv://`` assets of models and aliases;
* :mod:`airflow_provider.dag_factories` - ``retention_dag``.
"""

from __future__ import annotations

from mv_orchestration._version import __version__

__all__ = ["__version__"]
