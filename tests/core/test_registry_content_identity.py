"""Identical content returns the existing version; a seed counts only when it was given."""

from pathlib import Path

import mv_orchestration as mvo


def register(registry, model_dir: Path, seed: int | None):
    with registry.run("m", seed=seed) as run:
        run.log_params({"lr": 0.1})
        return run.register_model(model_dir)


def test_unseeded_identical_content_returns_the_same_version(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "w.bin").write_bytes(b"weights")
    registry = mvo.connect(f"sqlite:///{tmp_path / 'r.db'}", (tmp_path / "store").as_uri())
    first = register(registry, model_dir, None)
    again = register(registry, model_dir, None)
    assert (first.version, first.created) == ("1.0.0", True)
    assert (again.version, again.created) == ("1.0.0", False)

    seeded = register(registry, model_dir, 7)
    same_seed = register(registry, model_dir, 7)
    other_seed = register(registry, model_dir, 8)
    assert seeded.created and seeded.version != first.version
    assert (same_seed.version, same_seed.created) == (seeded.version, False)
    assert other_seed.created and other_seed.version not in (first.version, seeded.version)
    registry.close()
