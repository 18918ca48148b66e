"""The integrity asset checks against clean and tampered stores."""

import dagster as dg

from dagster_resources import ModelRegistryResource, integrity_checks
from tests.dagster.helpers import materialization, tamper, value


@dg.asset
def features() -> dict:
    return {"columns": ["a", "b", "c"]}


class ScoreConfig(dg.Config):
    score: int = 1


@dg.asset(metadata={"mv/model": "scorer"})
def scorer(config: ScoreConfig) -> dict:
    return {"score": config.score}


CHECKS = integrity_checks([features, scorer])


def _evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}


def _run_checks(resources, instance) -> dict[str, dg.AssetCheckEvaluation]:
    result = dg.materialize(
        [features, scorer, *CHECKS],
        selection=dg.AssetSelection.all_asset_checks(),
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    return _evaluations(result)


def _materialize(resources, instance, score: int = 1) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [features, scorer, *CHECKS],
        resources=resources,
        instance=instance,
        run_config={"ops": {"scorer": {"config": {"score": score}}}},
    )


def test_checks_pass_on_clean_objects(resources, instance) -> None:
    evaluations = _evaluations(_materialize(resources, instance))
    assert set(evaluations) == {"features", "scorer"}
    assert all(e.passed for e in evaluations.values())
    checked = value(evaluations["scorer"].metadata["checked"])
    assert any("scorer@" in item for item in checked)


def test_check_fails_on_a_tampered_stored_object(
    resources, instance, store_dir, mv_registry: ModelRegistryResource
) -> None:
    result = _materialize(resources, instance)
    digest = str(value(materialization(result, "features").metadata["mv/digest"]))
    tamper(store_dir, mv_registry, digest)
    evaluations = _run_checks(resources, instance)
    assert not evaluations["features"].passed
    assert digest in str(value(evaluations["features"].metadata["problems"]))
    assert evaluations["scorer"].passed


def test_check_fails_when_an_alias_target_no_longer_verifies(
    resources, instance, store_dir, mv_registry: ModelRegistryResource
) -> None:
    first = materialization(_materialize(resources, instance, score=1), "scorer")
    mv_registry.promote(str(value(first.metadata["mv/ref"])), "production")
    _materialize(resources, instance, score=2)
    assert all(e.passed for e in _run_checks(resources, instance).values())

    # Damage only the production version's bytes: the latest materialization is clean.
    tamper(store_dir, mv_registry, str(value(first.metadata["mv/digest"])))
    evaluation = _run_checks(resources, instance)["scorer"]
    assert not evaluation.passed
    assert "scorer@production" in str(value(evaluation.metadata["problems"]))


def test_check_warns_when_nothing_was_stored(resources, instance) -> None:
    evaluation = _run_checks(resources, instance)["features"]
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
