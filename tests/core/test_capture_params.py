"""normalise_params: every supported config kind, typed errors naming the path, bounds."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import enum
import json
import uuid
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel, SecretStr

from mv_orchestration.canonical import canonical_json
from mv_orchestration.capture import REDACTED, normalise_params
from mv_orchestration.errors import MetadataLimitError, UnsupportedValueError, ValidationError
from tests.core.secrets_corpus import as_params, find_leaks, make_corpus


class Activation(enum.Enum):
    RELU = "relu"
    GELU = "gelu"


class OptimizerConfig(BaseModel):
    name: str = "adam"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)


class TrainConfig(BaseModel):
    optimizer: OptimizerConfig = OptimizerConfig()
    epochs: int = 10
    activation: Activation = Activation.GELU
    data_dir: Path = Path("/data/train")
    api_key: SecretStr = SecretStr("sk_live_" + "x" * 24)
    start: dt.date = dt.date(2024, 1, 31)


@dataclasses.dataclass
class Layer:
    units: int
    activation: Activation = Activation.RELU


@dataclasses.dataclass
class ModelConfig:
    layers: list[Layer]
    dropout: float = 0.1
    tags: frozenset[str] = frozenset({"b", "a"})


def test_plain_dict_is_normalised() -> None:
    assert normalise_params({"lr": 1.0, "n": 3, "x": -0.0, "s": "t", "none": None}) == {
        "lr": 1,
        "n": 3,
        "x": 0,
        "s": "t",
        "none": None,
    }
    assert normalise_params(None) == {}


def test_pydantic_config() -> None:
    assert normalise_params(TrainConfig()) == {
        "optimizer": {"name": "adam", "lr": 0.001, "betas": [0.9, 0.999]},
        "epochs": 10,
        "activation": "gelu",
        "data_dir": "/data/train",
        "api_key": REDACTED,
        "start": "2024-01-31",
    }


def test_dataclass_config() -> None:
    config = ModelConfig(layers=[Layer(64), Layer(10, Activation.GELU)])
    assert normalise_params(config) == {
        "layers": [{"units": 64, "activation": "relu"}, {"units": 10, "activation": "gelu"}],
        "dropout": 0.1,
        "tags": ["a", "b"],
    }


def test_argparse_namespace() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--db-password")
    parser.add_argument("--data", type=Path)
    parser.add_argument("--store-url")
    args = parser.parse_args(
        [
            "--epochs",
            "3",
            "--db-password",
            "hunter2!x",
            "--data",
            "d/x.parquet",
            "--store-url",
            "s3://key:very-secret@bucket/p",
        ]
    )
    assert normalise_params(args) == {
        "lr": 0.1,
        "epochs": 3,
        "db_password": REDACTED,
        "data": "d/x.parquet",
        "store_url": f"s3://key:{REDACTED}@bucket/p",
    }


def test_omegaconf_config() -> None:
    omegaconf = pytest.importorskip("omegaconf")
    config = omegaconf.OmegaConf.create(
        {"model": {"lr": 0.01, "layers": [8, 4]}, "sched": {"peak": "${model.lr}"}, "seed": 1}
    )
    assert normalise_params(config) == {
        "model": {"lr": 0.01, "layers": [8, 4]},
        "sched": {"peak": 0.01},
        "seed": 1,
    }
    missing = omegaconf.OmegaConf.create({"model": {"lr": "???"}})
    with pytest.raises(UnsupportedValueError, match=r"^\$: config cannot be resolved"):
        normalise_params(missing)
    nested = {"outer": omegaconf.OmegaConf.create({"a": 1})}
    assert normalise_params(nested) == {"outer": {"a": 1}}


def test_other_value_types() -> None:
    when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone.utc)
    ident = uuid.UUID(int=7)
    out = normalise_params(
        {
            "when": when,
            "time": dt.time(1, 2),
            "span": dt.timedelta(minutes=2),
            "money": Decimal("0.10"),
            "id": ident,
            "path": PurePosixPath("a/b"),
            "np_float": np.float64(0.5),
            "np_int": np.int64(3),
            "np_bool": np.bool_(True),
            "arr": np.arange(4).reshape(2, 2),
            "tuple": (1, (2, 3)),
            "class_weight": {0: 1.0, 1: 2.5},
        }
    )
    assert out == {
        "when": "2024-05-01T12:30:00+00:00",
        "time": "01:02:00",
        "span": 120,
        "money": "0.10",
        "id": str(ident),
        "path": "a/b",
        "np_float": 0.5,
        "np_int": 3,
        "np_bool": True,
        "arr": [[0, 1], [2, 3]],
        "tuple": [1, [2, 3]],
        "class_weight": {"0": 1, "1": 2.5},
    }
    assert type(out["np_float"]) is float
    json.dumps(out)


def test_same_config_in_any_form_has_the_same_canonical_bytes() -> None:
    as_dict = {"optimizer": {"name": "adam", "lr": 0.001, "betas": [0.9, 0.999]}}

    @dataclasses.dataclass
    class Wrapper:
        optimizer: OptimizerConfig

    forms = [as_dict, Wrapper(OptimizerConfig()), argparse.Namespace(optimizer=OptimizerConfig())]
    digests = {canonical_json(normalise_params(form)) for form in forms}
    assert len(digests) == 1


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"optimizer": {"lr": object()}}, r"$.optimizer.lr"),
        ({"layers": [{"act": print}]}, r"$.layers[0].act"),
        ({"odd key": {"x": b"bytes"}}, r"$['odd key'].x"),
        ({"x": [1, float("nan")]}, r"$.x[1]"),
        ({"x": float("inf")}, r"$.x"),
        ({"x": {1.5: 2}}, r"$.x"),
        ({"x": {1: "a", "1": "b"}}, r"$.x['1']"),
        ({"s": {frozenset({1})}}, r"$.s"),
        ({"cls": TrainConfig}, r"$.cls"),
    ],
)
def test_unsupported_values_name_their_path(params: dict[str, Any], path: str) -> None:
    with pytest.raises(UnsupportedValueError) as error:
        normalise_params(params)
    assert str(error.value).startswith(f"{path}: ")


@pytest.mark.parametrize("top", [[1, 2], "text", 3])
def test_top_level_must_be_a_mapping(top: Any) -> None:
    with pytest.raises(UnsupportedValueError, match=r"^\$: params must be a mapping"):
        normalise_params(top)


def test_hostile_nesting_meets_the_depth_bound() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(10_000):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(MetadataLimitError, match="nested deeper than 64 levels"):
        normalise_params(deep)
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    with pytest.raises(MetadataLimitError):
        normalise_params(cyclic)
    exact: dict[str, Any] = {}
    node = exact
    for _ in range(63):
        node["a"] = {}
        node = node["a"]
    assert normalise_params(exact)
    with pytest.raises(ValidationError):
        normalise_params({}, max_depth=10_000)


def test_key_and_size_bounds() -> None:
    with pytest.raises(MetadataLimitError, match=r"^\$.x\[9\]: more than 10 keys"):
        normalise_params({"x": list(range(100))}, max_keys=10)
    with pytest.raises(MetadataLimitError, match="array larger than 10"):
        normalise_params({"x": np.zeros(11)}, max_keys=10)
    with pytest.raises(MetadataLimitError, match="larger than 100 bytes"):
        normalise_params({"x": "a" * 200}, max_bytes=100)
    fits = {"x": "a" * 50}
    limit = len(canonical_json(fits))
    assert normalise_params(fits, max_bytes=limit) == fits
    with pytest.raises(MetadataLimitError):
        normalise_params(fits, max_bytes=limit - 1)
    assert len(normalise_params({"x": list(range(9_000))})["x"]) == 9_000


def test_output_is_redacted() -> None:
    corpus = make_corpus()
    out = normalise_params(as_params(corpus))
    assert find_leaks(json.dumps(out), corpus) == []
    assert out["model"]["optimizer"] == {"lr": 0.01}
    assert normalise_params({"max_tokens": 512, "partition_key": "2024"}) == {
        "max_tokens": 512,
        "partition_key": "2024",
    }
