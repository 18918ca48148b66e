"""Name rules for models, aliases and tags.

* Model names: lowercase ASCII letters and digits, then up to 127 more of those or
  ``.``, ``_``, ``-`` (pattern ``^[a-z0-9][a-z0-9._-]{0,127}$``). Names are
  case-sensitive and must already be lowercase, so ``Churn`` is refused rather than
  silently folded.
* Alias names: a lowercase letter, then up to 63 lowercase letters, digits, ``_`` or
  ``-`` (``^[a-z][a-z0-9_-]{0,63}$``). Starting with a letter keeps aliases apart from
  semantic versions; ``latest`` is reserved (it always means the newest version).
* Tag keys: ``^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$``; tag values: strings of at most
  1024 characters; at most 256 tags per version.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from mv_orchestration.errors import InvalidNameError

MODEL_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
ALIAS_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,63}")
TAG_KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}")
RESERVED_ALIASES = frozenset({"latest"})
MAX_TAG_VALUE = 1024
MAX_TAGS = 256


def validate_model_name(name: object) -> str:
    """Return ``name`` if it is a valid model name, else raise :class:`InvalidNameError`."""
    if not isinstance(name, str) or not MODEL_PATTERN.fullmatch(name):
        raise InvalidNameError(
            f"invalid model name {name!r}: use lowercase letters, digits, '.', '_' or '-' "
            f"(pattern {MODEL_PATTERN.pattern}, at most 128 characters)"
        )
    return name


def validate_alias_name(name: object) -> str:
    """Return ``name`` if it is a valid, non-reserved alias name."""
    if not isinstance(name, str) or not ALIAS_PATTERN.fullmatch(name):
        raise InvalidNameError(
            f"invalid alias name {name!r}: start with a lowercase letter, then lowercase "
            f"letters, digits, '_' or '-' (pattern {ALIAS_PATTERN.pattern})"
        )
    if name in RESERVED_ALIASES:
        raise InvalidNameError(f"alias name {name!r} is reserved")
    return name


def validate_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    """Return ``tags`` as a plain dict after checking every key, value and the count."""
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidNameError(f"tags must be a mapping of strings, got {type(tags).__name__}")
    if len(tags) > MAX_TAGS:
        raise InvalidNameError(f"at most {MAX_TAGS} tags per version, got {len(tags)}")
    out: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not TAG_KEY_PATTERN.fullmatch(key):
            raise InvalidNameError(f"invalid tag key {key!r} (pattern {TAG_KEY_PATTERN.pattern})")
        if not isinstance(value, str):
            raise InvalidNameError(f"tag {key!r}: value must be a string")
        if len(value) > MAX_TAG_VALUE:
            raise InvalidNameError(f"tag {key!r}: value longer than {MAX_TAG_VALUE} characters")
        _require_utf8(value, f"tag {key!r}")
        out[key] = value
    return out


def _require_utf8(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidNameError(f"{what}: text is not valid UTF-8") from None
