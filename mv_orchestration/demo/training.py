"""The demo's training code, shared by every orchestrator example.

It trains a scikit-learn classifier on the digits data set that ships inside
scikit-learn, with a fixed seed, so the same inputs always give the same model bytes.
Requires the ``examples`` extra (scikit-learn).
"""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path

DATASET_FILE = "digits.parquet"
MODEL_FILE = "model.pkl"
METRICS_FILE = "metrics.json"


@dataclass(frozen=True)
class DigitsParams:
    """Hyperparameters of the demo model."""

    n_estimators: int = 50
    max_depth: int = 8
    test_size: float = 0.25
    seed: int = 42


def prepare_dataset(data_dir: Path) -> Path:
    """Write the digits data set as Parquet under ``data_dir`` and return its path."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.datasets import load_digits

    digits = load_digits()
    columns = {f"pixel_{i}": digits.data[:, i].astype("float32") for i in range(64)}
    columns["label"] = digits.target.astype("int8")
    path = Path(data_dir) / DATASET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        pq.write_table(pa.table(columns), path)
    return path


def train(dataset: Path, params: DigitsParams, out_dir: Path) -> Path:
    """Train on ``dataset`` and write the model and its metrics into ``out_dir``."""
    import numpy as np
    import pyarrow.parquet as pq
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    table = pq.read_table(dataset)
    labels = table.column("label").to_numpy()
    features = np.column_stack(
        [column.to_numpy() for column in table.drop_columns(["label"]).columns]
    )
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=params.test_size, random_state=params.seed, stratify=labels
    )
    model = RandomForestClassifier(
        n_estimators=params.n_estimators,
        max_depth=params.max_depth,
        random_state=params.seed,
        n_jobs=1,
    )
    model.fit(x_train, y_train)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / MODEL_FILE).write_bytes(pickle.dumps(model, protocol=5))
    metrics = {"accuracy": float(model.score(x_test, y_test))}
    (out / METRICS_FILE).write_text(json.dumps(metrics, sort_keys=True))
    return out


def read_metrics(model_dir: Path) -> dict[str, float]:
    """Return the metrics written next to a trained model."""
    return json.loads((Path(model_dir) / METRICS_FILE).read_text())


def params_dict(params: DigitsParams) -> dict[str, object]:
    """The params as a plain dict (what the pipelines log)."""
    return asdict(params)
