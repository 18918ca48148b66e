"""Test environments: one per orchestrator plus one for the core.

The newest Airflow and the newest Prefect cannot be installed together, so each
orchestrator gets its own virtual environment, pinned by a lock file in ``requirements/``.
Refresh the locks with ``make lock`` (``nox -s lock``).
"""

from __future__ import annotations

import os

import nox

# Installed packages ship compiled bytecode, so test subprocesses do not recompile them.
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["core", "airflow", "prefect", "dagster", "lint"]

PYTHON = "3.11"
ENVIRONMENTS = {
    "core": "dev,examples,postgres,fsspec,openlineage",
    "airflow": "airflow,dev,examples,postgres",
    "prefect": "prefect,prefect-aws,dev,examples,postgres",
    "dagster": "dagster,dev,examples,postgres",
}


def install(session: nox.Session, env: str) -> None:
    """Install the locked dependencies of ``env`` and the project itself (editable)."""
    session.install("-r", f"requirements/{env}.txt")
    session.install("--no-deps", "-e", ".")


def pytest(session: nox.Session, *paths: str) -> None:
    session.run("python", "-m", "pytest", *paths, *session.posargs)


@nox.session(python=PYTHON)
def core(session: nox.Session) -> None:
    """The core library: registry, capture, hashing, store, retention, lineage, CLI."""
    install(session, "core")
    pytest(session, "tests/core")


@nox.session(python=PYTHON)
def airflow(session: nox.Session) -> None:
    """The Airflow provider, run through real dag.test() runs."""
    install(session, "airflow")
    pytest(session, "tests/airflow")


@nox.session(python=PYTHON)
def prefect(session: nox.Session) -> None:
    """The Prefect blocks, run in Prefect's test harness."""
    install(session, "prefect")
    pytest(session, "tests/prefect")


@nox.session(python=PYTHON)
def dagster(session: nox.Session) -> None:
    """The Dagster resources, run in-process on an ephemeral instance."""
    install(session, "dagster")
    pytest(session, "tests/dagster")


@nox.session(python=PYTHON, name="lint")
def lint(session: nox.Session) -> None:
    """ruff (lint + format check) over everything, mypy over the core."""
    install(session, "core")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """`mvo demo`: the digits model trained under all three orchestrators, one registry."""
    install(session, "core")
    pythons = []
    for env in ("airflow", "prefect", "dagster"):
        python = os.path.join(".nox", env, "bin", "python")
        pythons += ["--orchestrator-python", f"{env}={os.path.abspath(python)}"]
    session.run("mvo", "demo", *pythons, *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks: each prints its figures beside a baseline measured in the same run.

    MLflow and DVC, the peers compared against, are installed by their benchmarks into
    virtual environments of their own. Run one script alone for options such as --scale.
    """
    install(session, "core")
    peers = {"bench_hashing.py": ["--with-dvc"]}
    for script in sorted(os.listdir("benchmarks")):
        if script.startswith("bench_") and script.endswith(".py"):
            path = os.path.join("benchmarks", script)
            session.run("python", path, *peers.get(script, []), *session.posargs)


@nox.session(venv_backend="none")
def lock(session: nox.Session) -> None:
    """Re-resolve every environment's lock file from pyproject.toml."""
    for env, extras in ENVIRONMENTS.items():
        args = ["uv", "pip", "compile", "pyproject.toml", "--python-version", PYTHON]
        args += [f"--extra={extra}" for extra in extras.split(",")]
        session.run(*args, "--quiet", "-o", f"requirements/{env}.txt")
