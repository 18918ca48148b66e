"""capture_run end to end: every field, the env allowlist, and the secrets corpus."""

from __future__ import annotations

import importlib.util
import json
import logging
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

import pytest

from mv_orchestration.capture import (
    DEFAULT_ENV_ALLOWLIST,
    REDACTED,
    RunContext,
    capture_env_vars,
    capture_environment,
    capture_hardware,
    capture_run,
    normalise_params,
    seeds,
)
from mv_orchestration.errors import ValidationError
from tests.core.secrets_corpus import (
    as_argv,
    as_env,
    as_params,
    find_leaks,
    make_corpus,
    url_secrets,
)

CORPUS = make_corpus()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\tname = Test\n\temail = test@example.com\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    yield
    seeds._defer([], 0)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()


def task_repo(path: Path, name: str) -> tuple[Path, ModuleType]:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "task.py").write_text("def train(config):\n    return sum(config)\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "task")
    spec = importlib.util.spec_from_file_location(name, path / "task.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return path, module


def test_every_part_is_captured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, module = task_repo(tmp_path / "repo", "snapshot_task_a")
    (repo / "task.py").write_text("def train(config):\n    return max(config)\n")
    monkeypatch.setattr(sys, "argv", ["train.py", "--epochs", "3", "--api-key", "abc123"])
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    monkeypatch.setenv("UNLISTED_VARIABLE", "x")
    context = RunContext(
        orchestrator="airflow", pipeline="churn", run_id="manual__1", task_id="fit", try_number=2
    )
    before = datetime.now(timezone.utc)
    capture = capture_run(seed=42, context=context, code_of=module.train)
    assert before <= capture.started_at <= datetime.now(timezone.utc)
    assert capture.started_at.tzinfo is not None
    assert capture.seeds.seed == 42 and capture.seeds.seed_source == "given"
    assert random.Random(42).random() == random.random()
    assert capture.environment == capture_environment()
    assert capture.hardware == capture_hardware()
    assert capture.code.commit == git(repo, "rev-parse", "HEAD")
    assert capture.code.dirty is True
    assert capture.code.source == "snapshot_task_a:train"
    assert capture.diff is not None and b"max(config)" in capture.diff
    assert capture.context == context
    assert capture.env_vars["OMP_NUM_THREADS"] == "4"
    assert "UNLISTED_VARIABLE" not in capture.env_vars
    assert capture.argv == ["train.py", "--epochs", "3", "--api-key", REDACTED]

    data = json.loads(json.dumps(capture.to_json()))
    assert "diff" not in data
    assert set(data) == {
        "seeds",
        "environment",
        "hardware",
        "code",
        "context",
        "env_vars",
        "argv",
        "started_at",
    }
    assert data["context"] == context.to_json()
    assert data["code"]["diff_digest"] == capture.code.diff_digest
    assert capture.diff is not None and repr(capture.diff) not in repr(capture)


def test_store_diff_off_and_explicit_cwd(tmp_path: Path) -> None:
    repo, _ = task_repo(tmp_path / "repo", "snapshot_task_b")
    (repo / "task.py").write_text("changed = True\n")
    capture = capture_run(cwd=repo, store_diff=False)
    assert capture.diff is None
    assert capture.code.diff_digest is not None and capture.code.diff_stored is False
    assert capture.seeds.seed_source == "os_entropy"
    assert capture.context == RunContext()


def test_every_allowlisted_variable_is_captured(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5)
    expected = {}
    for pattern in DEFAULT_ENV_ALLOWLIST:
        for n in range(4 if pattern.endswith("*") else 1):
            name = pattern.replace("*", f"X{n}_{rng.randrange(10**6)}")
            expected[name] = f"{rng.randrange(1, 64)},{rng.choice(['cuda:0', 'max', '1'])}"
    for name, value in expected.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NOT_ALLOWED_X", "1")
    monkeypatch.setenv("cuda_lowercase", "1")
    captured = capture_env_vars()
    assert {name: captured.get(name) for name in expected} == expected
    assert "NOT_ALLOWED_X" not in captured and "cuda_lowercase" not in captured
    assert capture_run(seed=1).env_vars == captured


def test_custom_allowlist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOO_A", "1")
    monkeypatch.setenv("FOO_TOKEN", "abc")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert capture_env_vars(["FOO_*"]) == {"FOO_A": "1", "FOO_TOKEN": REDACTED}
    assert capture_env_vars([]) == {}
    assert capture_run(seed=1, env_allowlist=["FOO_A"]).env_vars == {"FOO_A": "1"}
    with pytest.raises(ValidationError):
        capture_env_vars("FOO_*")
    with pytest.raises(ValidationError):
        capture_env_vars([1])  # type: ignore[list-item]


def test_context_strings_are_redacted() -> None:
    jwt = CORPUS[10].text
    assert CORPUS[10].kind == "jwt"
    context = RunContext(run_id=f"run-{jwt}", extra={"callback": CORPUS[13].text})
    capture = capture_run(seed=1, context=context)
    assert find_leaks(json.dumps(capture.to_json()), CORPUS) == []
    assert capture.context.run_id == f"run-{REDACTED}"


def test_secrets_corpus_never_leaks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert len(CORPUS) >= 200
    repo, module = task_repo(tmp_path / "repo", "snapshot_task_c")
    formatted = [s for s in CORPUS if s.kind not in ("named", "url_token_user")]
    (repo / "task.py").write_text(
        "def train(config):\n    return 1\n"
        + "".join(f"VALUE_{s.index} = {s.text!r}\n" for s in formatted)
        + "".join(f"{s.name} = {s.text!r}\n" for s in CORPUS if s.kind == "named")
    )
    env = {**as_env(CORPUS), **as_env(CORPUS, prefix="CUDA_"), **as_env(CORPUS, prefix="OMP_")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["train.py", *as_argv(CORPUS)])
    context = RunContext(
        orchestrator="prefect",
        run_id="r",
        extra={s.name: s.text for s in CORPUS[:40]},
    )
    written: list[str | bytes] = []
    with caplog.at_level(logging.DEBUG, logger="mv_orchestration"):
        written.append(json.dumps(normalise_params(as_params(CORPUS))))
        for allowlist in (None, ["*"]):
            capture = capture_run(
                seed=7, context=context, code_of=module.train, env_allowlist=allowlist
            )
            written += [json.dumps(capture.to_json()), capture.diff or b"", repr(capture)]
            assert {f"CUDA_{n}" for n in as_env(CORPUS)} <= set(capture.env_vars)
        assert capture.code.diff_redacted is True
        for secret in url_secrets(CORPUS):
            if git(repo, "remote"):
                git(repo, "remote", "remove", "origin")
            git(repo, "remote", "add", "origin", secret.text)
            remote = capture_run(seed=7, code_of=module.train).code.remote_url
            assert remote is not None and "@" not in remote
            assert remote.split("://")[1] == secret.text.rsplit("@", 1)[1]
            written.append(remote)
    written += [record.getMessage() for record in caplog.records]
    written.append(caplog.text)
    for blob in written:
        assert find_leaks(blob, CORPUS) == []


def test_capture_imports_no_heavy_module(tmp_path: Path) -> None:
    code = (
        "import sys, mv_orchestration.capture as c\n"
        "light = [m for m in ('pydantic', 'numpy') if m in sys.modules]\n"
        "c.capture_run(seed=1)\n"
        "heavy = ('pydantic', 'numpy', 'pyarrow', 'sqlalchemy', 'torch', 'tensorflow',\n"
        "         'omegaconf')\n"
        "print(light, [m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[] []"


def test_context_as_mapping_and_bad_arguments_before_seeding() -> None:
    capture = capture_run(seed=3, context={"orchestrator": "dagster", "run_id": "abc"})
    assert capture.context == RunContext(orchestrator="dagster", run_id="abc")
    random.seed(0)
    expected = random.random()
    random.seed(0)
    for bad in ({"orchestrator": "x", "nope": 1}, {"try_number": "many"}):
        with pytest.raises(ValidationError, match="invalid run context"):
            capture_run(seed=9, context=bad)
    with pytest.raises(ValidationError):
        capture_run(seed=9, env_allowlist="CUDA_*")
    with pytest.raises(ValidationError):
        capture_run(seed=-1)
    assert random.random() == expected
