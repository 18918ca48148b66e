"""No secret reaches the registry database, the artifact store or the logs.

240 synthetic secrets are planted in environment variables (allowlisted names included),
argv, params, metadata, a git remote and the uncommitted diff of the training code; a
real registration then runs, and every byte written is searched for them, raw and
JSON-, URL- and base64-encoded.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

import mv_orchestration as mvo
from tests.core.secrets_corpus import as_argv, as_env, as_params, find_leaks, make_corpus


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_no_planted_secret_is_written_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    corpus = make_corpus()
    url_secret = next(s for s in corpus if s.kind == "url_password")
    tokens = corpus[:60]

    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(
        repo,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@e",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "0",
    )
    git(repo, "remote", "add", "origin", url_secret.text)
    (repo / "train.py").write_text("".join(f"{s.name.lower()} = {s.text!r}\n" for s in tokens))
    git(repo, "add", "train.py")
    model = repo / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"\x00" * 64)

    monkeypatch.chdir(repo)
    for name, value in {**as_env(corpus), **as_env(corpus[:40], prefix="CUDA_")}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["train.py", *as_argv(corpus)])
    caplog.set_level(logging.DEBUG)

    db = tmp_path / "registry.db"
    registry = mvo.connect(f"sqlite:///{db}", (tmp_path / "store").as_uri())
    with registry.run("churn", seed=1) as run:
        run.log_params(as_params(corpus))
        version = run.register_model(
            model, metadata={s.name: s.text for s in corpus[:30]}, tags={"owner": "ml"}
        )
    record = registry.record(version.ref)
    assert record.capture["code"]["diff_stored"] is True
    assert {k for k in record.capture["env_vars"] if k.startswith("CUDA_")}  # allowlisted kept
    registry.promote(version.ref, alias="production")
    registry.close()

    written = [p for p in tmp_path.rglob("*") if p.is_file() and repo not in p.parents]
    assert db in written and any("objects" in p.parts for p in written)
    for path in written:
        assert find_leaks(path.read_bytes(), corpus) == [], path.name
    assert find_leaks(caplog.text, corpus) == []
