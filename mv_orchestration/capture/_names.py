"""Which names hold credentials: ``API_KEY`` and ``client_secret`` do, ``max_tokens`` not.

A name is split into words (snake, kebab, dotted and camel case). It is sensitive when
it contains a strong marker (``password``, ``secret``, ``apikey``, ...) anywhere, or a
credential word (``auth``, ``cookie``, ``signature``, ...), or ``token``/``key``/``pass``
outside the ML and database phrases where they mean something else (``pad_token_id``,
``partition_key``, ``pass_rate``).
"""

from __future__ import annotations

import re
from functools import lru_cache

# Any name containing one of these (separators removed) is sensitive.
_STRONG_SUBSTRINGS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "apikey",
    "accesskey",
    "privatekey",
    "secretkey",
    "authtoken",
    "accesstoken",
    "refreshtoken",
    "sessiontoken",
    "credential",
    "bearer",
)
# A name is sensitive when one of its words is one of these.
_SENSITIVE_WORDS = frozenset(
    {
        "pwd",
        "auth",
        "authorization",
        "oauth",
        "creds",
        "private",
        "cert",
        "certs",
        "certificate",
        "session",
        "cookie",
        "cookies",
        "signature",
        "sig",
        "csrf",
        "xsrf",
        "jwt",
        "otp",
    }
)
_TOKEN_WORDS = frozenset({"token", "tokens"})
# ``max_tokens``, ``pad_token_id``, ``tokens_per_batch``: counts and special tokens of ML.
_ML_TOKEN_CONTEXT = frozenset(
    {
        "max",
        "min",
        "num",
        "n",
        "new",
        "pad",
        "bos",
        "eos",
        "unk",
        "sep",
        "cls",
        "mask",
        "special",
        "total",
        "count",
        "per",
        "budget",
        "limit",
        "len",
        "length",
        "ids",
        "type",
        "vocab",
        "embedding",
        "prompt",
        "completion",
        "output",
        "input",
        "context",
        "window",
        "batch",
    }
)
_KEY_WORDS = frozenset({"key", "keys"})
# ``sort_key``, ``partition_key``, ``key_dim``: keys that are not credentials.
_BENIGN_BEFORE_KEY = frozenset(
    {
        "sort",
        "primary",
        "foreign",
        "partition",
        "cache",
        "group",
        "join",
        "lookup",
        "index",
        "dict",
        "map",
        "row",
        "column",
        "col",
        "label",
        "target",
        "feature",
        "sample",
        "rng",
        "prng",
        "random",
        "query",
        "asset",
        "idempotency",
        "dedup",
        "routing",
        "shard",
        "metric",
        "monitor",
        "unique",
        "composite",
        "num",
        "n",
        "max",
        "min",
    }
)
_BENIGN_AFTER_KEY = frozenset(
    {"dim", "dims", "size", "len", "length", "type", "name", "names", "field", "column", "fn"}
)
_NAME_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")


@lru_cache(maxsize=8192)
def is_sensitive_name(name: str) -> bool:
    """Whether a value stored under ``name`` must be redacted."""
    compact = _NOT_ALNUM.sub("", name.lower())
    if any(word in compact for word in _STRONG_SUBSTRINGS):
        return True
    words = [word.lower() for word in _NAME_WORD.findall(name)]
    for i, word in enumerate(words):
        if word in _SENSITIVE_WORDS:
            return True
        if word in _TOKEN_WORDS and not _ML_TOKEN_CONTEXT.intersection(words):
            return True
        if word == "pass" and (i == len(words) - 1 or words[i + 1].isdigit()):
            return True
        if word in _KEY_WORDS:
            before = words[i - 1] if i else ""
            after = words[i + 1] if i + 1 < len(words) else ""
            if before not in _BENIGN_BEFORE_KEY and after not in _BENIGN_AFTER_KEY:
                return True
    return False
