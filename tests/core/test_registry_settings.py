"""Settings from the environment, connect() defaults, light imports and @versioned."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mv_orchestration.errors import ValidationError
from mv_orchestration.registry import current_run
from mv_orchestration.registry.migrations import head
from mv_orchestration.registry.registry import connect
from mv_orchestration.settings import Settings
from mv_orchestration.versioned import versioned

pytest_plugins = ["tests.core.registry_fixtures"]


def test_settings_defaults_follow_mvo_home(tmp_path: Path) -> None:
    settings = Settings.from_env({"MVO_HOME": str(tmp_path)})
    assert settings.home == tmp_path
    assert settings.registry_url == f"sqlite:///{tmp_path / 'registry.db'}"
    assert settings.store_url == (tmp_path / "store").as_uri()
    assert settings.cache_dir == tmp_path / "cache"
    assert settings.env_allowlist == ()
    assert Settings.from_env({}).home == Path("~/.mvo").expanduser()


def test_settings_environment_and_overrides() -> None:
    env = {
        "MVO_HOME": "/srv/mvo",
        "MVO_REGISTRY_URL": "postgresql+psycopg://mvo:s3cret@db:5432/mvo",
        "MVO_STORE_URL": "s3://bucket/models",
        "MVO_ENV_ALLOWLIST": "CUDA_VISIBLE_DEVICES, OMP_NUM_THREADS,",
        "MVO_CACHE_DIR": "/var/cache/mvo",
    }
    settings = Settings.from_env(env, store_url="file:///other", registry_url=None)
    assert settings.registry_url == env["MVO_REGISTRY_URL"]
    assert settings.store_url == "file:///other"
    assert settings.env_allowlist == ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS")
    assert settings.cache_dir == Path("/var/cache/mvo")
    assert "s3cret" not in repr(settings)
    assert Settings.from_env(env, home="/x").registry_url == env["MVO_REGISTRY_URL"]


def test_connect_uses_mvo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    for name in ("MVO_REGISTRY_URL", "MVO_STORE_URL", "MVO_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MVO_HOME", str(home))
    registry = connect()
    try:
        assert (home / "registry.db").exists()
        assert registry.store.url.endswith(str(home / "store"))
        assert registry.upgrade() == head()
        assert registry.models() == []
        assert "registry.db" in repr(registry)
    finally:
        registry.close()


def test_importing_the_registry_is_light() -> None:
    code = (
        "import sys, mv_orchestration.registry as r; r.ModelVersion;"
        "heavy = [m for m in ('sqlalchemy', 'pyarrow', 'alembic') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_versioned_registers_each_call(registry_url_pair: tuple[str, str], tmp_path: Path) -> None:
    db_url, store_url = registry_url_pair

    class NotJson:
        pass

    @versioned(model="digits", registry=db_url, seed=3)
    def train(lr: float, data: NotJson, epochs: int = 2) -> str:
        run = current_run()
        assert run is not None
        run.log_metrics({"accuracy": 0.5 + lr})
        out = tmp_path / f"model-{lr}.bin"
        out.write_bytes(f"{lr}-{epochs}".encode())
        return str(out)

    first = train(0.1, NotJson())
    second = train(0.2, NotJson(), epochs=3)
    assert (first.version, second.version) == ("1.0.0", "1.1.0")
    assert current_run() is None
    registry = connect(db_url, store_url)
    try:
        record = registry.record(second.ref)
        assert record.params == {"lr": 0.2, "epochs": 3}
        assert record.metrics == {"accuracy": 0.7}
        assert record.capture["seeds"]["seed"] == 3
    finally:
        registry.close()

    @versioned(model="digits", registry=db_url)
    def broken() -> int:
        return 42

    with pytest.raises(ValidationError, match="must return"):
        broken()


@pytest.fixture
def registry_url_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    store_url = (tmp_path / "store").as_uri()
    monkeypatch.setenv("MVO_STORE_URL", store_url)
    return f"sqlite:///{tmp_path / 'registry.db'}", store_url
