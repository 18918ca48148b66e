"""S3 credentials handed to the store in memory: requests are signed with them and the
process environment is never read or changed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mv_orchestration.errors import ConfigurationError, MVOError, ValidationError
from mv_orchestration.registry import connect
from mv_orchestration.store import ArtifactStore
from mv_orchestration.store.credentials import S3Credentials

AWS_NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


@pytest.fixture
def no_ambient_credentials(
    s3_store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The S3 store URL, with no credentials anywhere in the AWS default chain."""
    for name in AWS_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "absent-credentials"))
    return s3_store_url


@pytest.mark.s3
def test_a_registry_signs_s3_requests_with_the_credentials_it_is_given(
    no_ambient_credentials: str, tmp_path: Path
) -> None:
    credentials = S3Credentials("testing", "testing")
    registry = connect(
        f"sqlite:///{tmp_path / 'r.db'}", no_ambient_credentials, store_credentials=credentials
    )
    try:
        model = tmp_path / "model.bin"
        model.write_bytes(b"weights")
        with registry.run("churn", seed=1) as run:
            version = run.register_model(model)
        assert registry.verify(version.ref).ok
    finally:
        registry.close()
    assert not any(name in os.environ for name in AWS_NAMES)

    anonymous = ArtifactStore.from_url(no_ambient_credentials)  # unsigned: S3 refuses it
    with pytest.raises((OSError, MVOError), match=r"(?i)access.denied|missing"):
        anonymous.get_bytes(version.artifact_digest)


def test_credentials_are_checked_and_never_shown() -> None:
    credentials = S3Credentials("AKIAEXAMPLE", "very-secret", "token-secret")
    assert "very-secret" not in repr(credentials) and "token-secret" not in repr(credentials)
    assert credentials.filesystem_options() == {
        "access_key": "AKIAEXAMPLE",
        "secret_key": "very-secret",
        "session_token": "token-secret",
    }
    with pytest.raises(ValidationError, match="secret_access_key"):
        S3Credentials("AKIAEXAMPLE", "")
    assert S3Credentials.from_pair(None, "") is None  # the AWS default chain
    assert S3Credentials.from_pair("AKIAEXAMPLE", "s") == S3Credentials("AKIAEXAMPLE", "s")
    with pytest.raises(ValidationError, match="access_key_id"):
        S3Credentials.from_pair(None, "very-secret")
    temporary = S3Credentials.from_pair("ASIAEXAMPLE", "s", "session-token")
    assert temporary == S3Credentials("ASIAEXAMPLE", "s", "session-token")
    assert temporary.filesystem_options()["session_token"] == "session-token"
    assert "session-token" not in repr(temporary)
    with pytest.raises(ValidationError, match="session token needs"):
        S3Credentials.from_pair(None, None, "session-token")


def test_credentials_for_a_store_not_on_s3_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not on S3"):
        ArtifactStore.from_url(tmp_path.as_uri(), credentials=S3Credentials("a", "b"))
