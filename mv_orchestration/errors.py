"""One exception hierarchy for the whole product.

Every error a user can cause or meet derives from :class:`MVOError`. Each kind carries
the CLI exit code it maps to (0 ok; 1 integrity failure; 2 usage error; 3 not found;
4 conflict or refused by policy).
"""

from __future__ import annotations


class MVOError(Exception):
    """Base of every error raised by mv-orchestration."""

    exit_code = 2


# --- 1: integrity -------------------------------------------------------------------
class IntegrityError(MVOError):
    """Stored bytes or records do not match their digests, or are missing."""

    exit_code = 1


class DigestMismatchError(IntegrityError):
    """Bytes read back hash to a different digest than the one they are stored under."""


class MissingObjectError(IntegrityError):
    """An object that a record references is absent from the store."""


class SweptObjectError(MissingObjectError):
    """Objects a registration uploaded or reused were garbage-collected before it
    committed (it uploads them again and retries)."""


class DeleteError(IntegrityError):
    """Some deletions of a batch failed; every one was tried. ``existed``: digest ->
    whether it existed, for those done; ``failed``: digest -> error."""

    def __init__(self, existed: dict[str, bool], failed: dict[str, Exception]) -> None:
        self.existed, self.failed = existed, failed
        digest, error = next(iter(failed.items()))
        super().__init__(
            f"{len(failed)} of {len(existed) + len(failed)} deletions failed "
            f"(first {digest}: {type(error).__name__}: {error})"
        )


class AuditChainError(IntegrityError):
    """The audit log's hash chain is broken (an event was edited, removed or reordered)."""


# --- 2: usage -----------------------------------------------------------------------
class UsageError(MVOError):
    """The caller asked for something malformed."""

    exit_code = 2


class ValidationError(UsageError):
    """A value failed validation (names, versions, metadata bounds, ...)."""


class InvalidNameError(ValidationError):
    """A model, alias or tag name does not match the documented pattern."""


class InvalidVersionError(ValidationError):
    """A version string is not valid semver 2.0.0."""


class InvalidReferenceError(ValidationError):
    """A reference is not MODEL@VERSION, MODEL@ALIAS, MODEL@latest or a digest prefix."""


class InvalidArtifactNameError(ValidationError):
    """An artifact name is not a safe relative POSIX path."""


class MetadataLimitError(ValidationError):
    """Metadata or params exceed the size, key-count or depth bounds."""


class UnsupportedValueError(ValidationError):
    """A params/config value cannot be represented as canonical JSON."""


class ConfigurationError(UsageError):
    """Settings are wrong or the environment cannot host the requested backend."""


# --- 3: not found -------------------------------------------------------------------
class NotFoundError(MVOError):
    """A model, version, alias, hold or plan does not exist."""

    exit_code = 3


class ModelNotFoundError(NotFoundError):
    """No model of that name."""


class VersionNotFoundError(NotFoundError):
    """No version matches the reference."""


class AliasNotFoundError(NotFoundError):
    """The model has no such alias."""


# --- 4: conflict / refused ----------------------------------------------------------
class ConflictError(MVOError):
    """The request conflicts with existing state or is refused by policy."""

    exit_code = 4


class VersionExistsError(ConflictError):
    """That (model, version) is already registered with different content."""


class AmbiguousReferenceError(ConflictError):
    """A digest prefix matches more than one record."""


class RefusedError(ConflictError):
    """The operation is refused by a rule (no rollback target, held version, ...)."""


class ImmutableError(RefusedError):
    """Something tried to change immutable content."""


class LeaseError(ConflictError):
    """Another process holds the lease for this operation."""
