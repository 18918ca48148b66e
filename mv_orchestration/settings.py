"""Settings, read from ``MVO_*`` environment variables.

* ``MVO_HOME``: base directory of the embedded defaults (default ``~/.mvo``).
* ``MVO_REGISTRY_URL``: ``sqlite:///PATH`` or ``postgresql+psycopg://...``
  (default ``sqlite:///<MVO_HOME>/registry.db``).
* ``MVO_STORE_URL``: ``file:///DIR``, ``/DIR`` or ``s3://bucket/prefix?...``
  (default ``file://<MVO_HOME>/store``).
* ``MVO_ENV_ALLOWLIST``: comma-separated environment variable names captured with a run.
* ``MVO_CACHE_DIR``: local cache (default ``<MVO_HOME>/cache``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

DEFAULT_HOME = "~/.mvo"


class Settings(BaseModel):
    """Where the registry database, the artifact store and the cache live."""

    model_config = ConfigDict(frozen=True)

    home: Path
    registry_url: str
    store_url: str
    env_allowlist: tuple[str, ...] = ()
    cache_dir: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``environ`` (default ``os.environ``); non-None overrides win."""
        env = os.environ if environ is None else environ
        given = {key: value for key, value in overrides.items() if value is not None}
        home = Path(given.pop("home", None) or env.get("MVO_HOME") or DEFAULT_HOME)
        home = home.expanduser().absolute()
        allowlist = given.pop("env_allowlist", None)
        if allowlist is None:
            allowlist = [n.strip() for n in env.get("MVO_ENV_ALLOWLIST", "").split(",")]
        values: dict[str, Any] = {
            "home": home,
            "registry_url": env.get("MVO_REGISTRY_URL") or f"sqlite:///{home / 'registry.db'}",
            "store_url": env.get("MVO_STORE_URL") or (home / "store").as_uri(),
            "env_allowlist": tuple(name for name in allowlist if name),
            "cache_dir": Path(env.get("MVO_CACHE_DIR") or home / "cache").expanduser(),
        }
        values.update(given)
        return cls(**values)

    def __repr_args__(self) -> Any:
        from sqlalchemy.engine import make_url

        for name, value in super().__repr_args__():
            if name == "registry_url" and isinstance(value, str) and "@" in value:
                try:
                    value = make_url(value).render_as_string(hide_password=True)
                except Exception:  # an unparsable URL is shown without anything after '@'
                    value = value.split("@", 1)[1]
            yield name, value
