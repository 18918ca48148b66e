"""The always-on redactor: names, values, URLs, argv, env and nested structures."""

from __future__ import annotations

import json

import pytest

from mv_orchestration.capture.redact import (
    REDACTED,
    is_sensitive_name,
    redact_argv,
    redact_env,
    redact_text,
    redact_value,
    strip_url_credentials,
)
from tests.core.secrets_corpus import (
    SENSITIVE_NAMES,
    as_argv,
    as_env,
    as_params,
    find_leaks,
    make_corpus,
    url_secrets,
)

CORPUS = make_corpus()
DETECTABLE_BY_VALUE = [s for s in CORPUS if s.kind != "named"]


def test_corpus_is_large_and_distinct() -> None:
    assert len(CORPUS) >= 200
    assert len({s.value for s in CORPUS}) == len(CORPUS)
    assert len({s.kind for s in CORPUS}) >= 15


@pytest.mark.parametrize("name", [*SENSITIVE_NAMES, "DB_PASS", "x-api-key", "X-Amz-Credential"])
def test_sensitive_names(name: str) -> None:
    assert is_sensitive_name(name)
    assert is_sensitive_name(f"{name}_2")


@pytest.mark.parametrize(
    "name",
    [
        "lr",
        "keyboard",
        "monkey",
        "tokenizer",
        "max_tokens",
        "max_new_tokens",
        "pad_token_id",
        "num_tokens",
        "sort_key",
        "partition_key",
        "key_dim",
        "pass_rate",
        "CUDA_VISIBLE_DEVICES",
        "OMP_NUM_THREADS",
        "TOKENIZERS_PARALLELISM",
        "author",
    ],
)
def test_ordinary_names_stay_readable(name: str) -> None:
    assert not is_sensitive_name(name)


@pytest.mark.parametrize("secret", DETECTABLE_BY_VALUE, ids=lambda s: f"{s.kind}-{s.index}")
def test_value_patterns_are_redacted_in_any_surrounding(secret) -> None:
    for text in (
        secret.text,
        f"prefix {secret.text} suffix",
        f"x={secret.text}",
        json.dumps({"value": secret.text}),
        f"'{secret.text}'",
    ):
        out = redact_text(text)
        assert find_leaks(out, [secret]) == [], secret.kind
        assert REDACTED in out


@pytest.mark.parametrize("secret", CORPUS, ids=lambda s: f"{s.kind}-{s.index}")
def test_name_value_pairs_are_redacted(secret) -> None:
    for text in (
        f"{secret.name}={secret.text}",
        f"{secret.name}: {secret.text}",
        json.dumps({secret.name: secret.text}),
        repr({secret.name: secret.text}),
        f"https://h.example.com/p?{secret.name}={secret.text}&page=2",
    ):
        assert find_leaks(redact_text(text), [secret]) == []


def test_non_secrets_are_left_alone() -> None:
    text = (
        "commit 0123456789abcdef0123456789abcdef01234567 on main; lr=0.01 max_tokens=512 "
        "partition_key: 2024-01-01 path=/data/train.parquet ssh://git@github.com/o/r.git "
        "digest blake3:" + "ab" * 32 + " use_auth=true the token expired"
    )
    assert redact_text(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:p@ss@host/x", f"https://user:{REDACTED}@host/x"),
        ("postgresql://bob:hunter2@db:5432/x", f"postgresql://bob:{REDACTED}@db:5432/x"),
        ("Authorization: Bearer abcdefgh12345", f"Authorization: {REDACTED} {REDACTED}"),
        ('{"password": "a\\"b c", "user": "bob"}', f'{{"password": "{REDACTED}", "user": "bob"}}'),
        ("password='unterminated", f"password='{REDACTED}'"),
        ("token=abc&x=1", f"token={REDACTED}&x=1"),
        (
            "https://hooks.slack.com/services/T0/B0/XX",
            f"https://hooks.slack.com/services/{REDACTED}",
        ),
        ("password=[REDACTED]tail", f"password={REDACTED}"),
    ],
)
def test_exact_redactions(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize("secret", CORPUS[:60], ids=lambda s: f"{s.kind}-{s.index}")
def test_redaction_is_idempotent(secret) -> None:
    for text in (secret.text, f"{secret.name}={secret.text}"):
        once = redact_text(text)
        assert redact_text(once) == once


def test_strip_url_credentials() -> None:
    for secret in url_secrets(CORPUS):
        out = strip_url_credentials(secret.text)
        assert find_leaks(out, [secret]) == []
        assert "@" not in out
    assert strip_url_credentials("ssh://git@github.com/o/r.git") == "ssh://git@github.com/o/r.git"
    assert strip_url_credentials("git@github.com:o/r.git") == "git@github.com:o/r.git"
    assert (
        strip_url_credentials("https://u:pw@h.example.com/r.git") == "https://h.example.com/r.git"
    )


def test_argv() -> None:
    argv = ["train.py", "--password", "x1", "--token=abc", "--lr", "0.1", "--api-key", "k"]
    assert redact_argv(argv) == [
        "train.py",
        "--password",
        REDACTED,
        f"--token={REDACTED}",
        "--lr",
        "0.1",
        "--api-key",
        REDACTED,
    ]
    assert redact_argv(["--auth", "--verbose"]) == ["--auth", "--verbose"]
    assert find_leaks(json.dumps(redact_argv(as_argv(CORPUS))), CORPUS) == []


def test_env() -> None:
    env = redact_env({"OMP_NUM_THREADS": "4", "DB_PASSWORD": "hunter2", "X": "AKIA" + "A" * 16})
    assert env == {"OMP_NUM_THREADS": "4", "DB_PASSWORD": REDACTED, "X": REDACTED}
    assert find_leaks(json.dumps(redact_env(as_env(CORPUS))), CORPUS) == []


def test_redact_value_walks_structures() -> None:
    value = {
        "a": {"password": "x", "nested": ["ghp_" + "a" * 36, {"token": None}], "n": 3},
        "auth": {"user": "bob", "pass": "pw"},
        "private": False,
        "t": ("sk_live_" + "b" * 20,),
    }
    assert redact_value(value) == {
        "a": {"password": REDACTED, "nested": [REDACTED, {"token": None}], "n": 3},
        "auth": REDACTED,
        "private": False,
        "t": [REDACTED],
    }
    assert find_leaks(json.dumps(redact_value(as_params(CORPUS))), CORPUS) == []


def test_redact_value_survives_deep_nesting() -> None:
    value: dict[str, object] = {}
    node = value
    for _ in range(20_000):
        child: dict[str, object] = {}
        node["k"] = child
        node = child
    node["password"] = "x"
    out = redact_value(value)
    for _ in range(20_000):
        out = out["k"]
    assert out == {"password": REDACTED}


def test_redacted_keys_do_not_collide() -> None:
    key_a, key_b = "ghp_" + "a" * 36, "ghp_" + "b" * 36
    out = redact_value({key_a: 1, key_b: 2})
    assert sorted(out.values()) == [1, 2]
    assert all(REDACTED in key and "ghp_" not in key for key in out)


def test_leak_detector_sees_base64_and_url_encoding() -> None:
    import base64
    from urllib.parse import quote

    secret = next(s for s in CORPUS if quote(s.value, safe="") != s.value)
    for prefix in (b"", b"x", b"xy"):
        wrapped = base64.b64encode(prefix + secret.value.encode() + b"z").decode()
        assert secret.value not in wrapped
        assert find_leaks(wrapped, [secret]) == [f"{secret.kind}#{secret.index} (encoded)"]
    assert find_leaks(f"a={quote(secret.value, safe='')}", [secret])
    assert find_leaks("nothing here", [secret]) == []
