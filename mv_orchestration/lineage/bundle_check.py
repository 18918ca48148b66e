"""Compare a rebuild bundle with what is here now: Python, packages, git state and data.

:func:`check_bundle` returns one :class:`Difference` per mismatch, each with a readable
one-line ``message``; an empty list means this environment, work tree and data match
the recorded version.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote, urlparse

from pydantic import BaseModel, ConfigDict

from mv_orchestration.errors import MVOError, UsageError
from mv_orchestration.hashing.digest import digest_bytes, parse_digest
from mv_orchestration.lineage.bundle import Bundle, bundle_from_record, is_bundle, load_bundle
from mv_orchestration.lineage.diff import describe_distribution

if TYPE_CHECKING:
    from mv_orchestration.capture.environment import Distribution
    from mv_orchestration.hashing.dataset import DatasetRef
    from mv_orchestration.registry import Registry

DifferenceKind = Literal["bundle", "python", "package", "code", "dataset"]


class Difference(BaseModel):
    """One way the current state differs from the bundle."""

    model_config = ConfigDict(frozen=True)

    kind: DifferenceKind
    subject: str
    expected: str | None = None
    actual: str | None = None
    message: str

    def __str__(self) -> str:
        return self.message


def _difference(
    kind: DifferenceKind, subject: str, expected: str | None, actual: str | None, detail: str
) -> Difference:
    return Difference(
        kind=kind,
        subject=subject,
        expected=expected,
        actual=actual,
        message=f"{kind} {subject}: {detail}",
    )


def check_bundle(
    source: str | os.PathLike[str],
    registry: Registry | None = None,
    *,
    cwd: str | os.PathLike[str] | None = None,
) -> list[Difference]:
    """Every difference between the bundle and this environment, work tree and data.

    ``source`` is a bundle folder (its files are re-hashed too) or a version reference
    (then ``registry`` is needed). ``cwd`` is the git work tree to compare (default: the
    current directory).
    """
    differences: list[Difference] = []
    if is_bundle(source):
        folder = Path(source)
        bundle = load_bundle(folder)
        differences += check_files(bundle, folder)
    elif registry is None:
        raise UsageError(f"{os.fspath(source)!r} is not a bundle folder; a registry is needed")
    else:
        bundle = bundle_from_record(registry.record(os.fspath(source)))
    differences += check_python(bundle)
    differences += check_packages(bundle)
    differences += check_code(bundle, os.fspath(cwd) if cwd is not None else os.getcwd())
    differences += check_datasets(bundle.datasets)
    return differences


def check_files(bundle: Bundle, folder: Path) -> list[Difference]:
    """Bundle files that are missing or changed since the bundle was written."""
    out = []
    for entry in bundle.files:
        path = folder / entry.path
        try:
            actual = digest_bytes(path.read_bytes(), parse_digest(entry.digest)[0])
        except FileNotFoundError:
            out.append(_difference("bundle", entry.path, entry.digest, None, "file is missing"))
            continue
        if actual != entry.digest:
            out.append(_difference("bundle", entry.path, entry.digest, actual, "file was modified"))
    return out


def check_python(bundle: Bundle) -> list[Difference]:
    """The interpreter version and implementation."""
    out = []
    version, implementation = platform.python_version(), platform.python_implementation()
    if version != bundle.python.version:
        out.append(
            _difference(
                "python",
                "version",
                bundle.python.version,
                version,
                f"expected {bundle.python.version}, running {version}",
            )
        )
    if implementation != bundle.python.implementation:
        out.append(
            _difference(
                "python",
                "implementation",
                bundle.python.implementation,
                implementation,
                f"expected {bundle.python.implementation}, running {implementation}",
            )
        )
    return out


def check_packages(
    bundle: Bundle, installed: Iterable[Distribution] | None = None
) -> list[Difference]:
    """Distributions missing, extra or at another version (or VCS commit) than recorded.

    ``installed`` defaults to the distributions of this interpreter.
    """
    if installed is None:
        from mv_orchestration.capture.environment import capture_environment

        installed = capture_environment().distributions
    have = {d.name: d for d in installed}
    want = {d.name: d for d in bundle.distributions}
    out = []
    for name in sorted(want.keys() | have.keys()):
        expected, actual = want.get(name), have.get(name)
        if actual is None:
            assert expected is not None
            text = describe_distribution(expected.to_json())
            out.append(_difference("package", name, text, None, f"expected {text}, not installed"))
        elif expected is None:
            text = describe_distribution(actual.to_json())
            out.append(_difference("package", name, None, text, f"not in the lock, found {text}"))
        elif expected.version != actual.version or expected.commit != actual.commit:
            old = describe_distribution(expected.to_json())
            new = describe_distribution(actual.to_json())
            out.append(_difference("package", name, old, new, f"expected {old}, found {new}"))
    return out


def check_code(bundle: Bundle, cwd: str) -> list[Difference]:
    """The commit checked out in ``cwd`` and its uncommitted changes."""
    from mv_orchestration.capture._git import read_git_state

    code = bundle.code
    if code.commit is None:
        return []
    state = read_git_state(cwd, keep_diff=False, max_diff_bytes=0)
    if state is None:
        return [
            _difference(
                "code", "commit", code.commit, None, f"{cwd} is not a git work tree (or git failed)"
            )
        ]
    out = []
    if state.commit != code.commit:
        out.append(
            _difference(
                "code",
                "commit",
                code.commit,
                state.commit,
                f"expected {code.commit}, checked out {state.commit}",
            )
        )
    if state.diff_digest != code.diff_digest:
        if code.diff_digest is None:
            detail = "the work tree has uncommitted changes; the run had none"
        elif state.diff_digest is None:
            detail = "the run had uncommitted changes (apply code.diff); the work tree has none"
        else:
            detail = "uncommitted changes differ from the run's (apply code.diff to a clean tree)"
        out.append(_difference("code", "diff", code.diff_digest, state.diff_digest, detail))
    return out


def check_datasets(datasets: Iterable[DatasetRef]) -> list[Difference]:
    """Re-hash every dataset at its recorded location."""
    return [d for ref in datasets if (d := check_dataset(ref)) is not None]


def check_dataset(ref: DatasetRef) -> Difference | None:
    """The difference of one dataset from its recorded digest, or None when it matches."""
    from mv_orchestration.hashing.dataset import describe_dataset

    parsed = urlparse(ref.uri)
    if parsed.scheme != "file":
        return _difference(
            "dataset",
            ref.name,
            ref.digest,
            None,
            f"{ref.uri} cannot be re-hashed here (only local files are checked)",
        )
    path = Path(unquote(parsed.path))
    if not path.exists():
        return _difference("dataset", ref.name, ref.digest, None, f"{path} is missing")
    try:
        now = describe_dataset(
            ref.name, path, algo=parse_digest(ref.digest)[0], tabular=ref.kind == "table"
        )
    except MVOError as exc:
        return _difference("dataset", ref.name, ref.digest, None, f"{path}: {exc}")
    if now.digest == ref.digest:
        return None
    details = [f"{path} changed: expected {ref.digest}, found {now.digest}"]
    if ref.num_rows is not None and now.num_rows != ref.num_rows:
        details.append(f"rows {ref.num_rows} -> {now.num_rows}")
    if ref.schema is not None and now.schema != ref.schema:
        from mv_orchestration.lineage.diff import diff_values

        columns = diff_values(ref.schema, now.schema or {})
        details.append("columns " + ", ".join(f"{c.path} {c.change}" for c in columns))
    return _difference("dataset", ref.name, ref.digest, now.digest, "; ".join(details))
