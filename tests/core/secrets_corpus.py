"""A corpus of synthetic secrets, ways to plant them, and a leak detector.

Every secret is random (seeded, so runs are repeatable) and shaped like a real credential:
AWS key ids and secret keys, GitHub/GitLab/Slack/Stripe/Google/OpenAI/Hugging Face/npm
tokens, JWTs, PEM private keys, passwords inside URLs, tokens used as URL user names,
bearer headers and plain passwords under credential-like names. Each one comes with a
``name`` to store it under and the ``text`` to store (the secret itself, or a URL/header
that contains it).

Reuse from any test::

    corpus = make_corpus()
    os.environ.update(as_env(corpus)); sys.argv[1:] = as_argv(corpus); params = as_params(corpus)
    ...
    assert find_leaks(everything_written, corpus) == []

``find_leaks`` looks for each secret raw, JSON-escaped, URL-encoded and base64-encoded
(standard and URL-safe alphabets, at every byte alignment) and reports only kinds and
indexes, never the secret, so a failing assertion prints nothing sensitive.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits
SENSITIVE_NAMES = (
    "PASSWORD",
    "DB_PASSWORD",
    "db_passwd",
    "SMTP_PASS",
    "pwd",
    "API_KEY",
    "apiKey",
    "x_api_key",
    "SECRET",
    "client_secret",
    "clientSecret",
    "AUTH_TOKEN",
    "access_token",
    "refreshToken",
    "HF_TOKEN",
    "GITHUB_TOKEN",
    "PRIVATE_KEY",
    "private_key_pem",
    "ssh_key",
    "ENCRYPTION_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "credentials",
    "DB_CREDENTIAL",
    "auth",
    "Authorization",
    "session_cookie",
    "csrf_token",
    "webhook_signature",
    "tls_cert",
    "passphrase",
    "otp",
)


@dataclass(frozen=True)
class Secret:
    """One synthetic secret: ``value`` must never be written; ``text`` carries it."""

    index: int
    kind: str
    name: str
    value: str
    text: str


def _rand(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def _mixed(rng: random.Random, alphabet: str, length: int) -> str:
    """Random text holding at least one upper-case letter, lower-case letter and digit."""
    while True:
        value = _rand(rng, alphabet, length)
        if (
            any(c.isupper() for c in value)
            and any(c.islower() for c in value)
            and any(c.isdigit() for c in value)
        ):
            return value


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(rng: random.Random) -> str:
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps({"sub": _rand(rng, ALNUM, 12), "n": rng.random()}).encode())
    return f"{header}.{payload}.{_b64url(rng.randbytes(32))}"


def _pem(rng: random.Random) -> tuple[str, str]:
    body = base64.b64encode(rng.randbytes(96)).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return body, f"-----BEGIN PRIVATE KEY-----\n{lines}\n-----END PRIVATE KEY-----"


def _make(rng: random.Random, index: int, kind: str) -> Secret:
    neutral = f"VALUE_{index}"
    if kind == "aws_key_id":
        value = rng.choice(("AKIA", "ASIA")) + _rand(rng, UPPER_DIGITS, 16)
        return Secret(index, kind, neutral, value, value)
    if kind == "aws_secret":
        value = _mixed(rng, ALNUM + "/+", 40)
        return Secret(index, kind, neutral, value, value)
    if kind == "github":
        value = rng.choice(("ghp_", "gho_", "ghs_", "ghu_")) + _rand(rng, ALNUM, 36)
        return Secret(index, kind, neutral, value, value)
    if kind == "github_pat":
        value = f"github_pat_{_rand(rng, ALNUM, 22)}_{_rand(rng, ALNUM, 59)}"
        return Secret(index, kind, neutral, value, value)
    if kind == "gitlab":
        value = "glpat-" + _rand(rng, ALNUM, 20)
        return Secret(index, kind, neutral, value, value)
    if kind == "slack":
        value = (
            f"xox{rng.choice('bpas')}-{_rand(rng, string.digits, 11)}-"
            f"{_rand(rng, string.digits, 12)}-{_rand(rng, ALNUM, 24)}"
        )
        return Secret(index, kind, neutral, value, value)
    if kind == "stripe":
        value = rng.choice(("sk_live_", "rk_live_", "sk_test_")) + _rand(rng, ALNUM, 24)
        return Secret(index, kind, neutral, value, value)
    if kind == "google":
        value = "AIza" + _rand(rng, ALNUM + "_-", 35)
        return Secret(index, kind, neutral, value, value)
    if kind == "openai":
        value = "sk-proj-" + _rand(rng, ALNUM, 48)
        return Secret(index, kind, neutral, value, value)
    if kind == "huggingface":
        value = "hf_" + _rand(rng, ALNUM, 34)
        return Secret(index, kind, neutral, value, value)
    if kind == "jwt":
        value = _jwt(rng)
        return Secret(index, kind, neutral, value, value)
    if kind == "pem":
        value, text = _pem(rng)
        return Secret(index, kind, neutral, value, text)
    if kind == "url_password":
        value = _mixed(rng, ALNUM + "-_.~", 20)
        text = f"postgresql://user{index}:{value}@db{index}.example.com:5432/models"
        return Secret(index, kind, f"DATABASE_URL_{index}", value, text)
    if kind == "url_token_user":
        value = _mixed(rng, ALNUM, 32)
        text = f"https://{value}@git.example.com/org/repo{index}.git"
        return Secret(index, kind, f"REPO_URL_{index}", value, text)
    if kind == "url_query":
        value = _mixed(rng, ALNUM, 28)
        key = rng.choice(("api_key", "token", "access_token", "X-Amz-Signature", "sig"))
        text = f"https://api.example.com/v1/items?page=2&{key}={value}&q=x"
        return Secret(index, kind, f"ENDPOINT_{index}", value, text)
    if kind == "bearer":
        value = _mixed(rng, ALNUM + "-_.", 32)
        return Secret(index, kind, f"HEADER_{index}", value, f"Bearer {value}")
    if kind == "named":
        value = _mixed(rng, ALNUM + "!#%*+-_", 24)
        name = f"{rng.choice(SENSITIVE_NAMES)}_{index}"
        return Secret(index, kind, name, value, value)
    raise ValueError(kind)


KINDS = (
    "aws_key_id",
    "aws_secret",
    "github",
    "github_pat",
    "gitlab",
    "slack",
    "stripe",
    "google",
    "openai",
    "huggingface",
    "jwt",
    "pem",
    "url_password",
    "url_token_user",
    "url_query",
    "bearer",
    "named",
    "named",
    "named",
    "named",
)


def make_corpus(count: int = 240, seed: int = 20240611) -> list[Secret]:
    """``count`` secrets cycling through every kind (named passwords weighted up)."""
    rng = random.Random(seed)
    return [_make(rng, index, KINDS[index % len(KINDS)]) for index in range(count)]


def url_secrets(corpus: Iterable[Secret]) -> list[Secret]:
    """The secrets that travel inside a URL's user information."""
    return [s for s in corpus if s.kind in ("url_password", "url_token_user")]


def _env_name(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).upper()


def as_env(corpus: Iterable[Secret], prefix: str = "") -> dict[str, str]:
    """Environment variables holding every secret."""
    return {prefix + _env_name(s.name): s.text for s in corpus}


def as_argv(corpus: Iterable[Secret]) -> list[str]:
    """A command line holding every secret (``--name=text``, ``--name text``, positional)."""
    argv: list[str] = []
    for s in corpus:
        flag = "--" + s.name.lower().replace("_", "-")
        style = s.index % 3
        if style == 0:
            argv.append(f"{flag}={s.text}")
        elif style == 1:
            argv.extend([flag, s.text])
        elif s.kind != "named":
            argv.append(s.text)
        else:
            argv.append(f"{s.name}={s.text}")
    return argv


def as_params(corpus: Iterable[Secret]) -> dict[str, object]:
    """A nested config holding every secret, at several depths and inside lists."""
    params: dict[str, object] = {"model": {"layers": [], "optimizer": {"lr": 0.01}}}
    layers: list[object] = params["model"]["layers"]  # type: ignore[index]
    for s in corpus:
        slot = s.index % 3
        if slot == 0:
            params[s.name] = s.text
        elif slot == 1:
            params["model"][s.name] = {"value": s.text} if s.kind != "named" else s.text  # type: ignore[index]
        else:
            layers.append({"units": 8, s.name: s.text})
    return params


def encoded_forms(value: str) -> set[str]:
    """``value`` raw, JSON-escaped, URL-encoded and base64-encoded at every alignment."""
    forms = {value, json.dumps(value)[1:-1], quote(value, safe=""), quote_plus(value)}
    raw = value.encode()
    for shift in range(3):
        chunk = raw[shift:]
        chunk = chunk[: len(chunk) // 3 * 3]
        if len(chunk) >= 12:
            forms.add(base64.b64encode(chunk).decode())
            forms.add(base64.urlsafe_b64encode(chunk).decode())
    return forms


def find_leaks(haystack: str | bytes, corpus: Iterable[Secret]) -> list[str]:
    """``"kind#index (form)"`` for every secret found in ``haystack``; empty when clean."""
    text = haystack.decode("utf-8", "surrogateescape") if isinstance(haystack, bytes) else haystack
    leaks = []
    for s in corpus:
        for form in encoded_forms(s.value):
            if form in text:
                kind = "raw" if form == s.value else "encoded"
                leaks.append(f"{s.kind}#{s.index} ({kind})")
                break
    return leaks
