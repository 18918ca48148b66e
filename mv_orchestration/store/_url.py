"""Store URLs: ``/abs/dir``, ``file:///abs/dir``, ``s3://bucket/prefix?...``, other fsspec URLs.

Credentials are never read from, or kept in, a store URL: S3 uses credentials handed over
in memory (:class:`~mv_orchestration.store.credentials.S3Credentials`) or the AWS default
credential chain; a URL carrying a user, password or key is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from mv_orchestration.errors import ConfigurationError

S3_OPTIONS = frozenset({"endpoint_override", "region", "scheme", "force_virtual_addressing"})
_SECRET_HINTS = ("key", "secret", "token", "password", "credential", "signature")


@dataclass(frozen=True)
class StoreLocation:
    """A parsed store URL: ``scheme`` is ``file``, ``s3`` or an fsspec protocol."""

    scheme: str
    root: str
    """Absolute directory (``file``) or ``bucket/prefix`` path on the filesystem."""
    options: dict[str, Any] = field(default_factory=dict)
    url: str = ""
    """The canonical, credential-free URL."""


def parse_store_url(url: str) -> StoreLocation:
    """Parse and check a store URL; :class:`ConfigurationError` on anything unsafe or odd."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError("store URL is empty")
    parts = urlsplit(url)
    if len(parts.scheme) <= 1:
        local = Path(url).expanduser().resolve()
        return StoreLocation("file", str(local), url=local.as_uri())
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(
            "store URL carries credentials; pass S3Credentials to connect() or use the AWS "
            "default credential chain instead"
        )
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for key in query:
        if any(hint in key.lower() for hint in _SECRET_HINTS):
            raise ConfigurationError(
                f"store URL option {key!r} looks like a credential; pass S3Credentials to "
                "connect() or use the AWS default credential chain, never the URL"
            )
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or query:
            raise ConfigurationError(f"file store URL must be file:///absolute/path: {url}")
        local = Path(unquote(parts.path)).resolve()
        return StoreLocation("file", str(local), url=local.as_uri())
    if parts.scheme == "s3":
        return _s3(parts.netloc, parts.path, query)
    root = f"{parts.netloc}{parts.path}".rstrip("/")
    suffix = f"?{urlencode(sorted(query.items()))}" if query else ""
    return StoreLocation(parts.scheme, root, dict(query), f"{parts.scheme}://{root}{suffix}")


def _s3(bucket: str, path: str, query: dict[str, str]) -> StoreLocation:
    if not bucket:
        raise ConfigurationError("s3 store URL needs a bucket: s3://bucket/prefix")
    unknown = set(query) - S3_OPTIONS
    if unknown:
        raise ConfigurationError(
            f"unknown s3 store URL option(s) {sorted(unknown)}; allowed: {sorted(S3_OPTIONS)}"
        )
    options: dict[str, Any] = dict(query)
    if "force_virtual_addressing" in options:
        options["force_virtual_addressing"] = options["force_virtual_addressing"].lower() in (
            "1",
            "true",
            "yes",
        )
    prefix = path.strip("/")
    root = f"{bucket}/{prefix}" if prefix else bucket
    suffix = f"?{urlencode(sorted(query.items()))}" if query else ""
    return StoreLocation("s3", root, options, f"s3://{root}{suffix}")
