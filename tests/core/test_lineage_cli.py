"""`mvo diff`, `mvo reproduce` and `mvo export` end to end, in-process, on a real registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mv_orchestration.cli import main
from mv_orchestration.lineage.diff import diff_records
from mv_orchestration.registry import connect
from tests.core.lineage_helpers import (
    code_repo,
    isolated_git,  # noqa: F401
    model_files,
    write_table,
)

pytestmark = pytest.mark.usefixtures("isolated_git")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git work tree as the current directory (what runs and checks look at)."""
    repo, _ = code_repo(tmp_path / "work")
    monkeypatch.chdir(repo)
    return repo


@pytest.fixture
def mvo(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    urls = ["--registry", f"sqlite:///{tmp_path / 'reg.db'}", "--store", (tmp_path / "s").as_uri()]

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([*urls, *args])
        out, err = capsys.readouterr()
        return code, out, err

    run.urls = urls  # type: ignore[attr-defined]
    return run


def register_two(mvo, workdir: Path) -> Path:
    data = write_table(workdir / "train.parquet", 8)
    model = model_files(workdir / "model", "one")
    code, _, err = mvo(
        "register",
        "churn",
        str(model),
        "--param",
        "lr=0.1",
        "--data",
        f"train={data}",
        "--seed",
        "3",
    )
    assert code == 0, err
    (model / "model.bin").write_text("two")
    code, _, err = mvo(
        "register",
        "churn",
        str(model),
        "--param",
        "lr=0.3",
        "--param",
        "depth=4",
        "--data",
        f"train={data}",
        "--seed",
        "3",
    )
    assert code == 0, err
    return data


def test_diff_human_and_json(mvo, workdir: Path, tmp_path: Path) -> None:
    register_two(mvo, workdir)
    code, out, _ = mvo("diff", "churn@1.0.0", "churn@1.1.0")
    assert code == 0
    assert "churn@1.0.0 → churn@1.1.0" in out
    assert "Params" in out and "lr" in out and "0.3" in out and "depth" in out
    assert "Datasets" not in out and "Packages" not in out  # unchanged

    code, out, _ = mvo("diff", "churn@1.0.0", "churn@1.1.0", "--json")
    registry = connect(f"sqlite:///{tmp_path / 'reg.db'}", (tmp_path / "s").as_uri())
    try:
        expected = diff_records(registry.record("churn@1.0.0"), registry.record("churn@1.1.0"))
    finally:
        registry.close()
    assert code == 0 and json.loads(out) == expected.to_json()

    code, _, err = mvo("diff", "churn@1.0.0", "churn@9.9.9")
    assert code == 3 and len(err.strip().splitlines()) == 1


def test_reproduce_writes_a_bundle_and_checks_it(mvo, workdir: Path, tmp_path: Path) -> None:
    data = register_two(mvo, workdir)
    code, out, err = mvo("reproduce", "churn@1.0.0", "--check")
    assert code == 0, out + err
    assert "matches" in out
    folder = workdir / "churn-1.0.0-bundle"
    assert (folder / "bundle.json").is_file() and (folder / "requirements.txt").is_file()

    write_table(data, 9)
    target = tmp_path / "bundle"
    code, out, _ = mvo("reproduce", "churn@1.0.0", "--out", str(target), "--check", "--json")
    result = json.loads(out)
    assert code == 1 and result["bundle"] == str(target)
    assert [(d["kind"], d["subject"]) for d in result["differences"]] == [("dataset", "train")]
    assert "rows 8 -> 9" in result["differences"][0]["message"]

    code, out, _ = mvo("reproduce", str(target), "--check")  # a bundle folder, no registry read
    assert code == 1
    assert [line.strip() for line in out.splitlines() if "✗" in line] == [
        f"✗ {result['differences'][0]['message']}"
    ]


def test_export_formats(mvo, workdir: Path, tmp_path: Path) -> None:
    register_two(mvo, workdir)
    code, out, _ = mvo("export", "--out", str(tmp_path / "x"), "--format", "jsonl", "--json")
    report = json.loads(out)
    assert code == 0 and report["format"] == "jsonl"
    assert report["tables"]["versions"]["rows"] == 2
    assert len((tmp_path / "x" / "versions.jsonl").read_text().splitlines()) == 2
    code, out, _ = mvo("export", "--out", str(tmp_path / "y"))
    assert code == 0 and (tmp_path / "y" / "audit_events.parquet").is_file()
    assert "versions.parquet" in out
    code, _, err = mvo("export", "--out", str(tmp_path / "z"), "--format", "xml")
    assert code == 2 and "parquet, jsonl" in err
