"""Static credentials for an S3 artifact store, handed over in memory.

Without them the S3 store uses the AWS default chain (environment, shared config, instance
or pod role). An orchestrator that holds its own secrets (an Airflow connection, a Prefect
block) passes them here instead of exporting them to the process environment, where every
thread and the user's own code would see them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mv_orchestration.errors import ValidationError


@dataclass(frozen=True)
class S3Credentials:
    """An access key pair, with an optional session token (the secrets never appear in a
    ``repr``)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("access_key_id", "secret_access_key"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValidationError(f"S3 credentials need a non-empty {name}")
        if self.session_token is not None and not isinstance(self.session_token, str):
            raise ValidationError("an S3 session token must be text")

    @classmethod
    def from_pair(
        cls,
        access_key_id: str | None,
        secret_access_key: str | None,
        session_token: str | None = None,
    ) -> S3Credentials | None:
        """The key pair (and session token) as credentials; None when none is set (the AWS
        default chain), :class:`ValidationError` when the pair is incomplete."""
        if not (access_key_id or secret_access_key or session_token):
            return None
        if session_token and not (access_key_id and secret_access_key):
            raise ValidationError("an S3 session token needs its access key id and secret")
        return cls(access_key_id or "", secret_access_key or "", session_token or None)

    def filesystem_options(self) -> dict[str, str]:
        """The ``pyarrow.fs.S3FileSystem`` arguments for these credentials."""
        options = {"access_key": self.access_key_id, "secret_key": self.secret_access_key}
        if self.session_token:
            options["session_token"] = self.session_token
        return options
