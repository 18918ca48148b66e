"""Always-on redaction of credentials in captured names, strings, argv and structures.

Two rules, applied everywhere capture writes a string:

* by name: a value stored under a name such as ``PASSWORD``, ``API_KEY``, ``auth_token``,
  ``client_secret``, ``X-Amz-Signature`` or ``session_cookie`` is replaced (booleans and
  None are kept: they carry no secret). Names are split into words, so ``keyboard``,
  ``tokenizer``, ``max_tokens`` or ``partition_key`` stay readable;
* by value: PEM blocks, credentials inside URLs, bearer/basic credentials, AWS access key
  ids and secret-looking keys, GitHub, GitLab, Slack, Stripe, Google, OpenAI, Hugging
  Face, npm and PyPI tokens, JWTs, and ``name=value`` pairs whose name is sensitive.

Redaction is idempotent: redacting redacted text changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from mv_orchestration.capture._names import is_sensitive_name

REDACTED = "[REDACTED]"
__all__ = [
    "REDACTED",
    "is_sensitive_name",
    "redact_argv",
    "redact_env",
    "redact_text",
    "redact_value",
    "strip_url_credentials",
]

_HARMLESS_LITERALS = frozenset({"true", "false", "none", "null", "yes", "no", "on", "off", ""})

_PEM = re.compile(r"-----BEGIN[ A-Z0-9]*-----[\s\S]*?(?:-----END[ A-Z0-9]*-----|\Z)")
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^\s/?#]+)@")
_PLAIN_USER = re.compile(r"[A-Za-z][A-Za-z0-9._\-]{0,19}")
_SLACK_WEBHOOK = re.compile(r"(hooks\.slack\.com/(?:services|workflows)/)[A-Za-z0-9/_\-]+")
_AUTH_SCHEME = re.compile(
    r"(?i)\b(?P<scheme>bearer|basic|digest)(?P<sp>\s+)(?!\[REDACTED\])[A-Za-z0-9._~+/=\-]{8,}"
    r"|\b(?P<tscheme>token)(?P<tsp>\s+)(?!\[REDACTED\])[A-Za-z0-9._~+/=\-]{20,}"
)
_AWS_PREFIXES = (
    "AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "APKA", "AROA", "ASCA",
)  # fmt: skip
# (literals one of which every match contains, pattern): the cheap test skips the regex.
_TOKENS = [
    (literals, re.compile(pattern))
    for literals, pattern in (
        (_AWS_PREFIXES, rf"\b(?:{'|'.join(_AWS_PREFIXES)})[A-Z0-9]{{16}}\b"),
        (("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b"),
        (("github_pat_",), r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b"),
        (("glpat-",), r"\bglpat-[A-Za-z0-9_\-]{20,}"),
        (("xox", "xapp-"), r"\bxox[abposr]-[A-Za-z0-9\-]{10,}|\bxapp-[0-9]-[A-Za-z0-9\-]{10,}"),
        (("k_live_", "k_test_"), r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}"),
        (("whsec_",), r"\bwhsec_[A-Za-z0-9]{20,}"),
        (("eyJ",), r"\beyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*"),
        (("AIza",), r"\bAIza[0-9A-Za-z_\-]{35}"),
        (("sk-",), r"\bsk-(?:proj-|ant-[a-z0-9]+-)?[A-Za-z0-9_\-]{20,}"),
        (("hf_",), r"\bhf_[A-Za-z0-9]{30,}"),
        (("npm_",), r"\bnpm_[A-Za-z0-9]{36,}"),
        (("pypi-",), r"\bpypi-[A-Za-z0-9_\-]{50,}"),
    )
]
# 40 base64 characters mixing upper, lower and digits: an AWS secret access key.
_BASE64_40 = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_NAME_SEP = re.compile(r"(?P<name>\b[A-Za-z_][A-Za-z0-9_.\-]*)[\"']?\s*[:=]\s*")
_VALUE = re.compile(r"\"(?:[^\"\\]|\\.)*(?:\"|\Z)|'(?:[^'\\]|\\.)*(?:'|\Z)|[^\s\"'&,;}\])]+")
_BARE = re.compile(r"[^\s\"'&,;}\])]*")


def _redact_userinfo(match: re.Match[str]) -> str:
    userinfo = match["userinfo"]
    user, colon, _password = userinfo.partition(":")
    if not colon and _looks_like_username(user):
        return match.group(0)
    kept = user if colon and _looks_like_username(user) else REDACTED
    return f"{match['scheme']}{kept}{':' + REDACTED if colon else ''}@"


def _looks_like_username(user: str) -> bool:
    return bool(_PLAIN_USER.fullmatch(user)) and sum(c.isdigit() for c in user) <= 4


def _redact_auth_scheme(match: re.Match[str]) -> str:
    if match["scheme"]:
        return f"{match['scheme']}{match['sp']}{REDACTED}"
    return f"{match['tscheme']}{match['tsp']}{REDACTED}"


def _redact_name_values(text: str, code: bool = False) -> str:
    """Redact the value of every ``name=value`` / ``name: value`` with a sensitive name.

    In ``code`` (source text) an unquoted value without a digit is an identifier or a type
    (``key: str``, ``token = token``), not a credential, and stays.
    """
    pieces: list[str] = []
    done = 0
    for match in _NAME_SEP.finditer(text):
        if match.start() < done or not is_sensitive_name(match["name"]):
            continue
        if text.startswith("://", match.start() - 3):
            continue  # the user name of a URL, whose password the URL rule redacted
        value = _VALUE.match(text, match.end())
        if value is None:
            continue
        start, end = value.span()
        raw = value.group(0)
        quote = raw[0] if raw[0] in "\"'" else ""
        if not quote and text.startswith(REDACTED, start):
            tail = _BARE.match(text, start + len(REDACTED))
            if tail is None or not tail.group(0):
                continue
            end = tail.end()
        elif raw.strip("\"'").lower() in _HARMLESS_LITERALS or (
            code and not quote and not any(c.isdigit() for c in raw)
        ):
            continue
        pieces.append(text[done:start])
        pieces.append(f"{quote}{REDACTED}{quote}")
        done = end
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _redact_base64_40(match: re.Match[str]) -> str:
    value = match.group(0)
    mixed = (
        any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and any(c.isdigit() for c in value)
    )
    return REDACTED if mixed else value


def _redact_tokens(text: str) -> str:
    for literals, pattern in _TOKENS:
        if any(literal in text for literal in literals):
            text = pattern.sub(REDACTED, text)
    if len(text) >= 40:
        text = _BASE64_40.sub(_redact_base64_40, text)
    return text


def redact_text(text: str, *, code: bool = False) -> str:
    """Return ``text`` with every credential-looking part replaced by ``[REDACTED]``.

    ``code`` marks source text (a diff): see :func:`_redact_name_values`.
    """
    if not text:
        return text
    if "-----BEGIN" in text:
        text = _PEM.sub(REDACTED, text)
    if "@" in text and "://" in text:
        text = _URL_USERINFO.sub(_redact_userinfo, text)
    if "hooks.slack.com" in text:
        text = _SLACK_WEBHOOK.sub(lambda m: m.group(1) + REDACTED, text)
    lower = text.lower()
    if "bearer" in lower or "basic" in lower or "digest" in lower or "token" in lower:
        text = _AUTH_SCHEME.sub(_redact_auth_scheme, text)
    text = _redact_tokens(text)
    if "=" in text or ":" in text:
        text = _redact_name_values(text, code)
    return text


def _keep_under_sensitive_name(value: Any) -> bool:
    return value is None or isinstance(value, bool)


def redact_value(value: Any) -> Any:
    """Redact a JSON-like value: strings by value, dict entries also by key name.

    Walks dicts, lists and tuples (returned as lists) without recursion, so any depth is
    safe. A sensitive key's whole value is replaced unless it is a bool or None.
    """
    if isinstance(value, str):
        return redact_text(value)
    if not isinstance(value, (dict, list, tuple)):
        return value
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(value, root, 0)]
    while stack:
        source, parent, slot = stack.pop()
        if isinstance(source, dict):
            out: dict[Any, Any] = {}
            parent[slot] = out
            for key, item in source.items():
                new_key = _redact_key(key, out)
                if isinstance(key, str) and is_sensitive_name(key):
                    out[new_key] = item if _keep_under_sensitive_name(item) else REDACTED
                else:
                    out[new_key] = _redact_leaf(item, out, new_key, stack)
        else:
            items: list[Any] = [None] * len(source)
            parent[slot] = items
            for index, item in enumerate(source):
                items[index] = _redact_leaf(item, items, index, stack)
    return root[0]


def _redact_key(key: Any, out: dict[Any, Any]) -> Any:
    if not isinstance(key, str):
        return key
    new_key = redact_text(key)
    suffix = 2
    candidate = new_key
    while candidate in out:
        candidate = f"{new_key}#{suffix}"
        suffix += 1
    return candidate


def _redact_leaf(item: Any, parent: Any, slot: Any, stack: list[tuple[Any, Any, Any]]) -> Any:
    if isinstance(item, str):
        return redact_text(item)
    if isinstance(item, (dict, list, tuple)):
        stack.append((item, parent, slot))
        return None
    return item


def redact_argv(argv: Iterable[str]) -> list[str]:
    """Redact a command line: ``--password x``, ``--token=x`` and credential-looking text."""
    out: list[str] = []
    redact_next = False
    for arg in argv:
        if redact_next and not arg.startswith("--"):
            out.append(REDACTED)
            redact_next = False
            continue
        redact_next = False
        if arg.startswith("-") and len(arg) > 1:
            name, eq, _value = arg.lstrip("-").partition("=")
            if is_sensitive_name(name):
                if eq:
                    out.append(arg[: len(arg) - len(_value)] + REDACTED)
                    continue
                redact_next = True
        out.append(redact_text(arg))
    return out


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """Redact environment variables by name and by value."""
    return {
        redact_text(name): REDACTED if is_sensitive_name(name) else redact_text(value)
        for name, value in env.items()
    }


def strip_url_credentials(url: str) -> str:
    """Drop the userinfo of a URL (a bare username such as ``git`` is kept), then redact."""
    match = _URL_USERINFO.match(url)
    if match:
        user, colon, _password = match["userinfo"].partition(":")
        keep = f"{user}@" if not colon and _looks_like_username(user) else ""
        url = f"{match['scheme']}{keep}{url[match.end() :]}"
    return redact_text(url)
