"""`import mv_orchestration` stays light: no orchestrator, pyarrow or SQLAlchemy."""

import json
import subprocess
import sys

HEAVY = ("pyarrow", "sqlalchemy", "airflow", "prefect", "dagster", "pydantic", "numpy", "typer")


def test_import_loads_nothing_heavy() -> None:
    code = (
        "import sys, json, mv_orchestration\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_public_names_resolve_lazily() -> None:
    import mv_orchestration as mvo

    for name in mvo.__all__:
        assert getattr(mvo, name) is not None
