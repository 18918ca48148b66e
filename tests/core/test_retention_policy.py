"""Retention policies and durations: parsing, validation, files, digests."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mv_orchestration.errors import ValidationError
from mv_orchestration.retention.durations import (
    age_text,
    format_duration,
    parse_duration,
)
from mv_orchestration.retention.policy import (
    RetentionPolicy,
    RetentionRule,
    load_policy,
    policy_from_dict,
    policy_from_file,
    policy_from_text,
)

ISSUE_EXAMPLE = """\
rules:
  - models: "*"
    keep_last: 5
    keep_within: 30d
    keep_alias_history: 3
    min_retention_after_production: 7y
grace_period: 24h
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("24h", timedelta(hours=24)),
        ("7y", timedelta(days=7 * 365)),
        ("90m", timedelta(minutes=90)),
        ("2w", timedelta(weeks=2)),
        ("45s", timedelta(seconds=45)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("0s", timedelta(0)),
        (" 3D ", timedelta(days=3)),
    ],
)
def test_parse_duration_accepts_units(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["", "30", "d30", "3 d", "1.5d", "-1d", "5mo", "1001y", "abc"])
def test_parse_duration_rejects_malformed_text(bad: str) -> None:
    with pytest.raises(ValidationError):
        parse_duration(bad)


@pytest.mark.parametrize("bad", [30, 1.5, None, timedelta(seconds=-1)])
def test_parse_duration_rejects_numbers_and_negative(bad: object) -> None:
    with pytest.raises(ValidationError):
        parse_duration(bad)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=999 * 365 * 86400))
def test_format_duration_round_trips(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value


def test_format_and_age_text_are_readable() -> None:
    assert format_duration(timedelta(days=30)) == "30d"
    assert format_duration(timedelta(days=365 * 7)) == "7y"
    assert format_duration(timedelta(days=1, hours=12)) == "1d12h"
    assert format_duration(timedelta(days=14)) == "2w"
    assert age_text(timedelta(days=45, hours=3)) == "45d"
    assert age_text(timedelta(minutes=90)) == "1h"
    assert age_text(timedelta(seconds=-5)) == "0s"


def test_issue_example_loads_exactly_as_written(tmp_path) -> None:
    path = tmp_path / "retention.yaml"
    path.write_text(ISSUE_EXAMPLE)
    policy = policy_from_file(path)
    (rule,) = policy.rules
    assert rule.models == ("*",)
    assert rule.keep_last == 5
    assert rule.keep_within == timedelta(days=30)
    assert rule.keep_alias_history == 3
    assert rule.min_retention_after_production == timedelta(days=7 * 365)
    assert rule.production_aliases == ("production",)
    assert policy.grace_period == timedelta(hours=24)
    assert policy.effective_gc_grace == timedelta(hours=24)


def test_same_policy_from_yaml_toml_json_and_code_has_one_digest(tmp_path) -> None:
    toml = tmp_path / "p.toml"
    toml.write_text(
        'grace_period = "24h"\n\n[[rules]]\nmodels = "*"\nkeep_last = 5\nkeep_within = "30d"\n'
        'keep_alias_history = 3\nmin_retention_after_production = "7y"\n'
    )
    jsonfile = tmp_path / "p.json"
    jsonfile.write_text(
        json.dumps(
            {
                "rules": [
                    {
                        "models": ["*"],
                        "keep_last": 5,
                        "keep_within": "720h",
                        "keep_alias_history": 3,
                        "min_retention_after_production": "365w",
                    }
                ],
                "grace_period": "1d",
            }
        )
    )
    code = RetentionPolicy(
        rules=[
            RetentionRule(
                keep_last=5,
                keep_within=timedelta(days=30),
                keep_alias_history=3,
                min_retention_after_production=timedelta(days=7 * 365),
            )
        ],
        grace_period=timedelta(hours=24),
    )
    from_yaml = policy_from_text(ISSUE_EXAMPLE)
    policies = [from_yaml, policy_from_file(toml), policy_from_file(jsonfile), code]
    assert len({p.digest() for p in policies}) == 1
    assert from_yaml.to_json()["rules"][0]["min_retention_after_production"] == "7y"
    assert load_policy(from_yaml) is from_yaml
    assert load_policy(from_yaml.to_json()) == from_yaml
    assert load_policy(str(toml)) == from_yaml


def test_different_policies_have_different_digests() -> None:
    base = policy_from_text(ISSUE_EXAMPLE)
    other = policy_from_text(ISSUE_EXAMPLE.replace("keep_last: 5", "keep_last: 6"))
    assert base.digest() != other.digest()
    assert base.digest().startswith("blake3:")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"rules": [{"models": "*", "keep_last": 5, "keep_lats": 3}]}, "rules.0.keep_lats"),
        ({"rules": [], "grace": "1d"}, "grace: unknown key"),
        ({"rules": [{"keep_last": -1}]}, "rules.0.keep_last"),
        ({"rules": [{"keep_within": "30"}]}, "rules.0.keep_within"),
        ({"rules": [{"keep_within": 30}]}, "rules.0.keep_within"),
        ({"rules": [{"models": "*"}]}, "at least one of keep_last"),
        ({"rules": [{"models": "", "keep_last": 1}]}, "rules.0.models"),
        ({"grace_period": "tomorrow"}, "grace_period"),
        ({"rules": "everything"}, "rules"),
    ],
)
def test_invalid_policies_name_the_bad_key(data: dict, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        policy_from_dict(data)
    assert fragment in str(info.value)
    assert str(info.value).startswith("invalid retention policy")


def test_bad_files_are_validation_errors(tmp_path) -> None:
    cases = {
        "p.yaml": "rules: [unclosed",
        "p.toml": "rules = [",
        "p.json": "{",
        "p.ini": "[rules]",
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ValidationError):
            policy_from_file(path)
    with pytest.raises(ValidationError, match="cannot read"):
        policy_from_file(tmp_path / "missing.yaml")
    with pytest.raises(ValidationError, match="expected a mapping"):
        policy_from_text("- 1\n- 2\n")


def test_empty_yaml_is_a_policy_without_rules() -> None:
    policy = policy_from_text("")
    assert policy.rules == ()
    assert policy.grace_period == timedelta(hours=24)


def test_rule_scope_matches_globs_and_tags() -> None:
    rule = RetentionRule(models=["churn*", "fraud"], tags={"stage": "exp*"}, keep_last=1)
    assert rule.applies_to("churn-eu", {"stage": "experiment"})
    assert rule.applies_to("fraud", {"stage": "exp", "team": "x"})
    assert not rule.applies_to("fraud", {})
    assert not rule.applies_to("fraud", {"stage": "prod"})
    assert not rule.applies_to("spam", {"stage": "exp"})
    assert rule.applies_to_model("churn")
    assert rule.label(0) == "rule 1"
    assert RetentionRule(name="scratch", keep_last=0).label(3) == "scratch"


def test_gc_grace_defaults_to_grace_and_can_differ() -> None:
    policy = policy_from_dict({"grace_period": "2d", "gc_grace_period": "6h"})
    assert policy.effective_gc_grace == timedelta(hours=6)
    assert policy.grace_period == timedelta(days=2)
