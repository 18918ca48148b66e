"""S3 credentials of a ``ModelRegistry`` block, resolved in memory for the core.

They go to :func:`mv_orchestration.connect` as
:class:`~mv_orchestration.store.credentials.S3Credentials` and never through
``os.environ``, where concurrent task threads and the user's own code would see them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    from pydantic import SecretStr

    from mv_orchestration.store.credentials import S3Credentials


def key_pair(key_id: str | None, secret: SecretStr | None) -> S3Credentials | None:
    """An access key pair (None when neither part is set: the AWS default chain)."""
    from mv_orchestration.store.credentials import S3Credentials

    return S3Credentials.from_pair(key_id, secret.get_secret_value() if secret else None)


def from_aws_credentials(block: Any) -> S3Credentials | None:
    """The credentials a prefect-aws ``AwsCredentials`` block holds or resolves to.

    Keys given in the block are used as they are (with its session token); a profile or
    a role to assume (with those keys, if any) is resolved by the block's boto3 session,
    once per connection, so temporary credentials last as long as that connection may;
    with none of these the AWS default chain applies (None).
    """
    from mv_orchestration.errors import ConfigurationError
    from mv_orchestration.store.credentials import S3Credentials

    static = key_pair(block.aws_access_key_id, block.aws_secret_access_key)
    role = getattr(block, "assume_role_arn", None)  # prefect-aws 0.5 has no roles
    if static is not None and not role:
        return S3Credentials(
            static.access_key_id, static.secret_access_key, block.aws_session_token or None
        )
    if static is None and not (block.profile_name or role):
        return None
    resolved = block.get_boto3_session().get_credentials()
    if resolved is None:
        raise ConfigurationError("the AwsCredentials block resolves to no AWS credentials")
    frozen = resolved.get_frozen_credentials()
    return S3Credentials(frozen.access_key, frozen.secret_key, frozen.token or None)


def with_region(store_url: str | None, region: str | None) -> str | None:
    """``store_url`` with ``region`` added when it is an ``s3://`` URL that names none."""
    if not store_url or not region:
        return store_url
    parts = urlsplit(store_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if parts.scheme != "s3" or any(key == "region" for key, _ in query):
        return store_url
    return urlunsplit(parts._replace(query=urlencode([*query, ("region", region)])))
