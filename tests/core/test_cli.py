"""The `mvo` CLI end to end: real registry, real store, exit codes and JSON output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mv_orchestration.cli import main
from mv_orchestration.hashing.digest import digest_bytes


@pytest.fixture
def mvo(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Run `mvo ARGS` in-process against a fresh registry; return (exit code, stdout, stderr)."""
    urls = [
        "--registry",
        f"sqlite:///{tmp_path / 'reg.db'}",
        "--store",
        (tmp_path / "store").as_uri(),
    ]

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([*urls, *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    path = tmp_path / "model"
    path.mkdir()
    (path / "weights.bin").write_bytes(b"\x00\x01" * 100)
    return path


def register(mvo, model_dir: Path, *extra: str) -> dict:
    code, out, err = mvo("register", "digits", str(model_dir), "--json", *extra)
    assert code == 0, err
    return json.loads(out)


def test_version_and_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mv_orchestration.cli.app", "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("mvo ")
    help_text = subprocess.run(
        [sys.executable, "-m", "mv_orchestration.cli.app", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for command in ("register", "promote", "rollback", "retention", "lineage", "demo"):
        assert command in help_text


def test_register_promote_rollback_history(mvo, model_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("a,b\n1,2\n")
    first = register(mvo, model_dir, "--param", "lr=0.1", "--data", f"train={data}", "--seed", "7")
    assert first["version"] == "1.0.0" and first["created"] is True
    (model_dir / "weights.bin").write_bytes(b"\x02" * 100)
    second = register(mvo, model_dir, "--param", "lr=0.2", "--data", f"train={data}", "--seed", "7")
    assert second["version"] == "1.1.0"  # a hyperparameter changed: minor

    assert mvo("promote", "digits@1.0.0", "--alias", "production")[0] == 0
    assert mvo("promote", "digits@1.1.0", "--alias", "production")[0] == 0
    code, out, _ = mvo("rollback", "digits", "--json")
    assert code == 0 and json.loads(out)["to_version"] == "1.0.0"

    code, out, _ = mvo("history", "digits", "--json")
    moves = json.loads(out)
    assert [(m["from_version"], m["to_version"]) for m in moves] == [
        (None, "1.0.0"),
        ("1.0.0", "1.1.0"),
        ("1.1.0", "1.0.0"),
    ]
    code, out, _ = mvo("versions", "digits", "--json")
    assert [v["version"] for v in json.loads(out)] == ["1.1.0", "1.0.0"]
    code, out, _ = mvo("show", "digits@production", "--json")
    record = json.loads(out)["record"]
    assert record["version"] == "1.0.0" and record["params"] == {"lr": 0.1}


def test_lineage_formats(mvo, model_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("x\n1\n")
    register(mvo, model_dir, "--data", f"train={data}")
    code, out, _ = mvo("lineage", "digits@latest", "--format", "json")
    graph = json.loads(out)
    relations = {edge["relation"] for edge in graph["edges"]}
    assert {"trained_on", "produced_by"} <= relations
    code, out, _ = mvo("lineage", str(data))  # a dataset path: downstream by default
    assert code == 0 and "trained_on → version digits@1.0.0" in out
    code, out, _ = mvo("lineage", "digits@1.0.0", "--format", "mermaid")
    assert out.startswith("graph LR")


def test_verify_exits_1_on_tampered_bytes(mvo, model_dir: Path, tmp_path: Path) -> None:
    register(mvo, model_dir)
    assert mvo("verify", "--all")[0] == 0
    stored = next(p for p in (tmp_path / "store" / "objects").rglob("*") if p.is_file())
    blob = bytearray(stored.read_bytes())
    blob[0] ^= 0xFF
    stored.chmod(0o644)
    stored.write_bytes(bytes(blob))
    code, _, err = mvo("verify", "--all")
    assert code == 1 and "digits@1.0.0" in err


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [
        (("show", "digits@9.9.9"), 3),
        (("show", "no-such-model@latest"), 3),
        (("promote", "digits@1.0.0", "--alias", "Not An Alias!"), 2),
        (("register", "Bad Name!", "."), 2),
        (("register", "digits", ".", "--version", "1.0"), 2),
        (("rollback", "digits"), 3),
        (("verify",), 2),
        (("pin", "remove", "dagster", "never-pinned"), 3),
        (("pin", "add", "Bad Owner", "k", "blake3:" + "0" * 64), 2),
    ],
)
def test_user_errors_are_one_line_with_documented_exit_codes(
    mvo, model_dir: Path, args: tuple[str, ...], exit_code: int
) -> None:
    register(mvo, model_dir)
    code, _, err = mvo(*args)
    assert code == exit_code, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_audit_and_retention_plan(mvo, model_dir: Path) -> None:
    register(mvo, model_dir)
    code, out, _ = mvo("audit", "verify", "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    code, out, _ = mvo("retention", "plan", "--json")
    plan = json.loads(out)
    assert code == 0 and plan["id"]
    assert [v["decision"] for v in plan["versions"]] == ["keep"]
    code, out, _ = mvo("retention", "show", plan["id"], "--json")
    assert code == 0 and json.loads(out)["digest"] == plan["digest"]


def test_pin_add_list_remove(mvo, model_dir: Path) -> None:
    register(mvo, model_dir)
    digest = digest_bytes((model_dir / "weights.bin").read_bytes())  # a stored object
    code, _, err = mvo("pin", "add", "ops", "keep/this", digest, "--tree")
    assert code == 1 and "not a manifest" in err  # a tree pin needs a manifest
    code, out, err = mvo("pin", "add", "ops", "keep/this", digest, "--json")
    assert code == 0, err
    assert {k: json.loads(out)[k] for k in ("owner", "key", "digest", "kind")} == {
        "owner": "ops",
        "key": "keep/this",
        "digest": digest,
        "kind": "object",
    }
    code, out, _ = mvo("pin", "list")
    assert code == 0 and "keep/this" in out and digest[:19] in out
    code, out, _ = mvo("pin", "list", "--owner", "dagster", "--json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = mvo("pin", "remove", "ops", "keep/this")
    assert code == 0 and f"unpinned ops:keep/this ({digest})" in out
    code, out, _ = mvo("pin", "list", "--json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = mvo("audit", "verify", "--json")
    assert code == 0 and json.loads(out)["ok"] is True


def test_rollback_without_a_previous_target_is_refused(mvo, model_dir: Path) -> None:
    register(mvo, model_dir)
    assert mvo("promote", "digits@1.0.0")[0] == 0
    code, _, err = mvo("rollback", "digits")
    assert code == 4 and "Traceback" not in err
    code, out, _ = mvo("history", "digits", "--json")
    assert len(json.loads(out)) == 1


@pytest.mark.parametrize("args", [("versions",), ("no-such-command",), ("show", "--bogus")])
def test_malformed_commands_exit_2_without_traceback(mvo, args: tuple[str, ...]) -> None:
    code, _, err = mvo(*args)
    assert code == 2 and "Error:" in err and "Traceback" not in err
