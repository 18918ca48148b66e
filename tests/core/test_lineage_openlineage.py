"""OpenLineage events of real training runs, through openlineage-python's real transports,
each event validated against the official OpenLineage JSON schemas (and ours)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("openlineage.client", reason="needs the openlineage extra")
jsonschema = pytest.importorskip("jsonschema")
referencing = pytest.importorskip("referencing")

from referencing.jsonschema import DRAFT202012  # noqa: E402

from mv_orchestration.capture import RunContext  # noqa: E402
from mv_orchestration.errors import ConfigurationError  # noqa: E402
from mv_orchestration.lineage.openlineage import (  # noqa: E402
    PRODUCER,
    OpenLineageSettings,
    dataset_identity,
)
from mv_orchestration.lineage.openlineage_facets import SCHEMA_DIR, schema_url  # noqa: E402
from mv_orchestration.registry import Registry  # noqa: E402
from tests.core.lineage_helpers import (  # noqa: E402
    code_repo,
    isolated_git,  # noqa: F401
    model_files,
    write_table,
)

pytest_plugins = ["tests.core.registry_fixtures"]
pytestmark = pytest.mark.usefixtures("isolated_git")

VECTORS = Path(__file__).parent / "vectors" / "openlineage"
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
ENV_VARS = (
    "MVO_OPENLINEAGE_TRANSPORT",
    "MVO_OPENLINEAGE_URL",
    "MVO_OPENLINEAGE_FILE",
    "MVO_OPENLINEAGE_API_KEY",
    "MVO_OPENLINEAGE_NAMESPACE",
    "OPENLINEAGE_URL",
    "OPENLINEAGE_CONFIG",
)


@pytest.fixture(scope="module")
def schemas() -> Any:
    """The official OpenLineage schemas (vendored copies) and our facet schemas."""
    paths = [VECTORS / "OpenLineage.json", *sorted((VECTORS / "facets").glob("*.json"))]
    paths += sorted(SCHEMA_DIR.glob("*.json"))
    resources = []
    for path in paths:
        document = json.loads(path.read_text())
        resources.append((document["$id"], DRAFT202012.create_resource(document)))
    return referencing.Registry().with_resources(resources)


def validate(event: dict[str, Any], schemas: Any) -> None:
    """The event against RunEvent, then every facet against the schema its _schemaURL names."""
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    assert event["schemaURL"] == RUN_EVENT
    jsonschema.Draft202012Validator(
        {"$ref": RUN_EVENT}, registry=schemas, format_checker=checker
    ).validate(event)
    facets = [*event["run"].get("facets", {}).values(), *event["job"].get("facets", {}).values()]
    for dataset in [*event.get("inputs", []), *event.get("outputs", [])]:
        for group in ("facets", "inputFacets", "outputFacets"):
            facets += dataset.get(group, {}).values()
    assert facets
    for facet in facets:
        url = facet["_schemaURL"]
        try:
            schemas.get_or_retrieve(url.split("#")[0])
        except (referencing.exceptions.Unretrievable, referencing.exceptions.NoSuchResource):
            pytest.fail(f"no local copy of schema {url}")
        jsonschema.Draft202012Validator(
            {"$ref": url}, registry=schemas, format_checker=checker
        ).validate(facet)


@pytest.fixture
def ol_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OPENLINEAGE__TRANSPORT__TYPE", raising=False)
    monkeypatch.chdir(tmp_path)  # no openlineage.yml from the working directory
    monkeypatch.setenv("HOME", str(tmp_path))
    return monkeypatch


def train(
    registry: Registry, root: Path, *, fail: bool = False, context: RunContext | None = None
) -> Any:
    """A run: the registry's Run sends START after its capture, then COMPLETE or FAIL."""
    _, module = code_repo(root / "code", remote="https://example.com/org/models.git")
    table = write_table(root / "train.parquet", 20)
    notes = root / "notes.txt"
    notes.write_text("hand-labelled\n")
    run = registry.run("churn", seed=42, code_of=module.train, context=context)
    try:
        with run:
            run.log_params({"lr": 0.1})
            run.log_dataset("train", table)
            run.log_dataset("notes", notes)
            if fail:
                raise RuntimeError("disk full; password=hunter2")
            run.register_model(model_files(root / "model", "weights"))
    except RuntimeError:
        pass
    return run


def events_in(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_file_transport_start_and_complete_carry_our_facets(
    ol_env: pytest.MonkeyPatch,
    sqlite_registry: Registry,
    tmp_path: Path,
    schemas: Any,
) -> None:
    out = tmp_path / "events.jsonl"
    ol_env.setenv("MVO_OPENLINEAGE_TRANSPORT", "file")
    ol_env.setenv("MVO_OPENLINEAGE_FILE", str(out))
    context = RunContext(
        orchestrator="airflow",
        pipeline="train_churn",
        run_id="manual__2026-01-01",
        task_id="fit",
        try_number=1,
        logical_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )
    run = train(sqlite_registry, tmp_path, context=context)
    start, complete = events_in(out)
    for event in (start, complete):
        validate(event, schemas)
        assert event["producer"] == PRODUCER
        assert event["job"] == {**event["job"], "namespace": "mvo", "name": "train_churn.fit"}
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == complete["run"]["runId"]

    capture = run.capture
    facets = complete["run"]["facets"]
    assert facets["mvo_seeds"]["seed"] == 42 and "python" in facets["mvo_seeds"]["seeded"]
    assert facets["mvo_environment"]["packagesDigest"] == capture.environment.packages_digest
    assert facets["mvo_runContext"]["runId"] == "manual__2026-01-01"
    assert facets["nominalTime"]["nominalStartTime"].startswith("2026-01-01T00:00:00")
    [version] = facets["mvo_modelVersion"]["versions"]
    mv = run.versions[0]
    assert (version["version"], version["recordId"]) == ("1.0.0", mv.record_id)
    assert "mvo_modelVersion" not in start["run"]["facets"]
    ours = [f for name, f in facets.items() if name.startswith("mvo_")]
    assert len(ours) == 4 and {f["_producer"] for f in ours} == {PRODUCER}

    location = complete["job"]["facets"]["sourceCodeLocation"]
    assert location["version"] == capture.code.commit
    assert location["url"] == "https://example.com/org/models.git"

    inputs = {d["name"]: d for d in complete["inputs"]}
    datasets = run.datasets
    table = inputs[str(tmp_path / "train.parquet")]
    assert table["namespace"] == "file"
    assert table["facets"]["version"]["datasetVersion"] == datasets["train"].digest
    assert [f["name"] for f in table["facets"]["schema"]["fields"]] == ["x", "label"]
    assert table["inputFacets"]["inputStatistics"]["rowCount"] == 20
    notes = inputs[str(tmp_path / "notes.txt")]
    assert notes["facets"]["version"]["datasetVersion"] == datasets["notes"].digest
    assert "schema" not in notes["facets"]
    [output] = complete["outputs"]
    assert (output["namespace"], output["name"]) == ("mvo", "models/churn")
    assert output["facets"]["version"]["datasetVersion"] == mv.artifact_digest


def test_fail_event_has_a_redacted_error(
    ol_env: pytest.MonkeyPatch,
    sqlite_registry: Registry,
    tmp_path: Path,
    schemas: Any,
) -> None:
    out = tmp_path / "events.jsonl"
    ol_env.setenv("MVO_OPENLINEAGE_TRANSPORT", "file")
    ol_env.setenv("MVO_OPENLINEAGE_FILE", str(out))
    train(sqlite_registry, tmp_path, fail=True)
    start, fail = events_in(out)
    for event in (start, fail):
        validate(event, schemas)
    assert fail["eventType"] == "FAIL" and fail["outputs"] == []
    error = fail["run"]["facets"]["errorMessage"]
    assert error["programmingLanguage"] == "python"
    assert error["message"].startswith("RuntimeError: disk full")
    assert "hunter2" not in json.dumps(fail)
    assert fail["job"]["name"] == "train.churn"  # outside an orchestrator


def test_http_transport_posts_events_with_the_api_key(
    ol_env: pytest.MonkeyPatch,
    sqlite_registry: Registry,
    tmp_path: Path,
    schemas: Any,
) -> None:
    received: list[tuple[str, str | None, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers.get("Authorization"), json.loads(body)))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        ol_env.setenv("MVO_OPENLINEAGE_TRANSPORT", "http")
        ol_env.setenv("MVO_OPENLINEAGE_URL", f"http://127.0.0.1:{server.server_port}")
        ol_env.setenv("MVO_OPENLINEAGE_API_KEY", "test-key-123")
        ol_env.setenv("MVO_OPENLINEAGE_NAMESPACE", "ml-platform")
        train(sqlite_registry, tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    assert [path for path, _, _ in received] == ["/api/v1/lineage"] * 2
    assert {auth for _, auth, _ in received} == {"Bearer test-key-123"}
    for _, _, event in received:
        validate(event, schemas)
        assert event["job"]["namespace"] == "ml-platform"
    assert [e["eventType"] for _, _, e in received] == ["START", "COMPLETE"]


def test_console_transport_logs_each_event(
    ol_env: pytest.MonkeyPatch,
    sqlite_registry: Registry,
    tmp_path: Path,
    schemas: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ol_env.setenv("MVO_OPENLINEAGE_TRANSPORT", "console")
    with caplog.at_level(logging.INFO, logger="openlineage.client.transport.console"):
        train(sqlite_registry, tmp_path)
    events = [
        json.loads(r.getMessage())
        for r in caplog.records
        if r.name == "openlineage.client.transport.console"
    ]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        validate(event, schemas)


def test_openlineage_own_configuration_is_honoured(
    ol_env: pytest.MonkeyPatch,
    sqlite_registry: Registry,
    tmp_path: Path,
    schemas: Any,
) -> None:
    out = tmp_path / "ol-events.jsonl"
    (tmp_path / "openlineage.yml").write_text(
        f"transport:\n  type: file\n  log_file_path: {out}\n  append: true\n"
    )
    ol_env.setenv("OPENLINEAGE_CONFIG", str(tmp_path / "openlineage.yml"))
    ol_env.setenv("MVO_OPENLINEAGE_TRANSPORT", "openlineage")
    train(sqlite_registry, tmp_path)
    events = events_in(out)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        validate(event, schemas)


def test_a_failing_transport_never_breaks_training(
    ol_env: pytest.MonkeyPatch,
    sqlite_registry: Registry,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocked = tmp_path / "not-a-file"
    blocked.mkdir()
    ol_env.setenv("MVO_OPENLINEAGE_TRANSPORT", "file")
    ol_env.setenv("MVO_OPENLINEAGE_FILE", str(blocked))
    with caplog.at_level(logging.WARNING, logger="mv_orchestration.lineage.run_hooks"):
        run = train(sqlite_registry, tmp_path)
    assert run.versions and run.versions[0].version == "1.0.0"
    warnings = [r.getMessage() for r in caplog.records if r.name.endswith("run_hooks")]
    assert len(warnings) == 2 and all("not sent" in w for w in warnings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MVO_OPENLINEAGE_TRANSPORT": "kafka"}, "choose one of"),
        ({"MVO_OPENLINEAGE_TRANSPORT": "http"}, "MVO_OPENLINEAGE_URL"),
        ({"MVO_OPENLINEAGE_TRANSPORT": "file"}, "MVO_OPENLINEAGE_FILE"),
        (
            {
                "MVO_OPENLINEAGE_TRANSPORT": "http",
                "MVO_OPENLINEAGE_URL": "http://x",
                "MVO_OPENLINEAGE_TIMEOUT": "soon",
            },
            "seconds",
        ),
    ],
)
def test_incomplete_settings_are_configuration_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        OpenLineageSettings.from_env(env)


def test_settings_never_show_the_api_key() -> None:
    settings = OpenLineageSettings.from_env(
        {
            "MVO_OPENLINEAGE_TRANSPORT": "http",
            "MVO_OPENLINEAGE_URL": "http://x",
            "MVO_OPENLINEAGE_API_KEY": "s3cr3t-value",
        }
    )
    assert "s3cr3t-value" not in repr(settings) and "s3cr3t-value" not in str(settings)
    assert "s3cr3t-value" not in settings.model_dump_json()
    assert settings.transport_config()["auth"]["apiKey"] == "s3cr3t-value"
    assert not OpenLineageSettings.from_env({}).enabled


@pytest.mark.parametrize(
    ("uri", "identity"),
    [
        ("file:///data/train.parquet", ("file", "/data/train.parquet")),
        ("file:///data/with%20space.csv", ("file", "/data/with space.csv")),
        ("s3://bucket/prefix/part-0.parquet", ("s3://bucket", "prefix/part-0.parquet")),
        ("memory://train", ("memory", "train")),
    ],
)
def test_dataset_identity_follows_openlineage_naming(uri: str, identity: tuple[str, str]) -> None:
    assert dataset_identity(uri) == identity


def test_our_facet_schemas_reject_a_malformed_facet(schemas: Any) -> None:
    url = schema_url("MvoSeedsRunFacet")
    bad = {"_producer": PRODUCER, "_schemaURL": url, "seed": -1, "seedSource": "given"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator({"$ref": url}, registry=schemas).validate(bad)


@pytest.fixture(autouse=True)
def _fresh_emitters() -> Iterator[None]:
    from mv_orchestration.lineage import openlineage

    yield
    for emitter in openlineage._EMITTERS.values():
        emitter.close()
    openlineage._EMITTERS.clear()
