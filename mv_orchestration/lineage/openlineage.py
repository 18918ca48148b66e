"""OpenLineage run events for training runs, sent through openlineage-python's transports.

A training run emits ``START`` when it begins, then ``COMPLETE`` or ``FAIL``. Events carry:

* inputs: every logged dataset, named by the OpenLineage naming rules, with the standard
  ``version`` facet (= its content digest), ``schema`` for tables and ``inputStatistics``;
* outputs: ``models/<model>`` in the configured namespace, versioned by artifact digest;
* job facets: ``sourceCodeLocation`` (git commit, branch, remote) and ``jobType``;
* run facets: ``mvo_seeds``, ``mvo_environment`` (package digest), ``mvo_runContext``,
  ``mvo_modelVersion`` on completion, ``nominalTime`` and, on failure, ``errorMessage``.

Configuration, in one place (environment variables, read by :meth:`OpenLineageSettings.from_env`):

* ``MVO_OPENLINEAGE_TRANSPORT``: ``console``, ``file``, ``http`` or ``openlineage`` (use
  openlineage-python's own configuration: ``openlineage.yml``, ``OPENLINEAGE_URL``,
  ``OPENLINEAGE__TRANSPORT__*``). Unset or ``none``: no events.
* ``MVO_OPENLINEAGE_URL``, ``MVO_OPENLINEAGE_ENDPOINT`` (default ``api/v1/lineage``),
  ``MVO_OPENLINEAGE_API_KEY`` (bearer token, never logged), ``MVO_OPENLINEAGE_TIMEOUT``
  (seconds): the ``http`` transport.
* ``MVO_OPENLINEAGE_FILE``: the ``file`` transport's file (one JSON event per line).
* ``MVO_OPENLINEAGE_NAMESPACE``: job and model namespace (default ``mvo``).

openlineage-python is imported only when events are built (extra ``openlineage``).
"""

from __future__ import annotations

import logging
import os
import threading
import traceback
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlparse

from pydantic import BaseModel, ConfigDict, SecretStr

from mv_orchestration._version import __version__
from mv_orchestration.errors import ConfigurationError

if TYPE_CHECKING:
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import InputDataset, OutputDataset, RunEvent

    from mv_orchestration.capture import RunContext
    from mv_orchestration.hashing.dataset import DatasetRef
    from mv_orchestration.registry.run import Run

log = logging.getLogger(__name__)

PROJECT_URL = "https://github.com/mv-orchestration/mv-orchestration"
PRODUCER = f"{PROJECT_URL}/tree/v{__version__}"
EventType = Literal["START", "COMPLETE", "FAIL"]
Transport = Literal["console", "file", "http", "openlineage"]
TRANSPORTS: tuple[Transport, ...] = ("console", "file", "http", "openlineage")
MAX_STACK_TRACE = 32_000


class OpenLineageSettings(BaseModel):
    """Where OpenLineage events go; ``transport`` None means nowhere."""

    model_config = ConfigDict(frozen=True)

    transport: Transport | None = None
    url: str | None = None
    endpoint: str = "api/v1/lineage"
    api_key: SecretStr | None = None
    timeout_s: float = 5.0
    file: str | None = None
    namespace: str = "mvo"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OpenLineageSettings:
        """Settings from ``MVO_OPENLINEAGE_*`` variables; ConfigurationError when they
        are incomplete (``http`` without a URL, ``file`` without a file)."""
        env = os.environ if environ is None else environ
        raw = env.get("MVO_OPENLINEAGE_TRANSPORT", "").strip().lower()
        if raw in ("", "none"):
            return cls()
        if raw not in TRANSPORTS:
            raise ConfigurationError(
                f"MVO_OPENLINEAGE_TRANSPORT={raw!r}: choose one of {', '.join(TRANSPORTS)} or none"
            )
        try:
            timeout = float(env.get("MVO_OPENLINEAGE_TIMEOUT") or 5.0)
        except ValueError:
            raise ConfigurationError(
                "MVO_OPENLINEAGE_TIMEOUT must be a number of seconds"
            ) from None
        key = env.get("MVO_OPENLINEAGE_API_KEY")
        settings = cls(
            transport=raw,
            url=env.get("MVO_OPENLINEAGE_URL") or None,
            endpoint=env.get("MVO_OPENLINEAGE_ENDPOINT") or "api/v1/lineage",
            api_key=SecretStr(key) if key else None,
            timeout_s=timeout,
            file=env.get("MVO_OPENLINEAGE_FILE") or None,
            namespace=env.get("MVO_OPENLINEAGE_NAMESPACE") or "mvo",
        )
        if settings.transport == "http" and not settings.url:
            raise ConfigurationError("MVO_OPENLINEAGE_TRANSPORT=http needs MVO_OPENLINEAGE_URL")
        if settings.transport == "file" and not settings.file:
            raise ConfigurationError("MVO_OPENLINEAGE_TRANSPORT=file needs MVO_OPENLINEAGE_FILE")
        return settings

    @property
    def enabled(self) -> bool:
        return self.transport is not None

    def transport_config(self) -> dict[str, Any] | None:
        """The openlineage-python transport configuration (None: its own configuration)."""
        if self.transport == "console":
            return {"type": "console"}
        if self.transport == "file":
            return {"type": "file", "log_file_path": self.file, "append": True}
        if self.transport == "http":
            config: dict[str, Any] = {
                "type": "http",
                "url": self.url,
                "endpoint": self.endpoint,
                "timeout": self.timeout_s,
            }
            if self.api_key is not None:
                config["auth"] = {"type": "api_key", "apiKey": self.api_key.get_secret_value()}
            return config
        return None

    def cache_key(self) -> tuple[Any, ...]:
        """Identity of these settings, secret included (kept in memory only)."""
        secret = self.api_key.get_secret_value() if self.api_key else None
        return (*self.model_dump(exclude={"api_key"}).values(), secret)


def make_client(settings: OpenLineageSettings) -> OpenLineageClient:
    """An openlineage-python client with the transport ``settings`` choose."""
    from openlineage.client import OpenLineageClient

    if not settings.enabled:
        raise ConfigurationError("OpenLineage is not configured (MVO_OPENLINEAGE_TRANSPORT)")
    config = settings.transport_config()
    return OpenLineageClient(config={"transport": config}) if config else OpenLineageClient()


# --- naming -------------------------------------------------------------------------
def dataset_identity(uri: str) -> tuple[str, str]:
    """OpenLineage (namespace, name) of a dataset location: ``file`` + absolute path for
    local files, ``s3://bucket`` + key for objects, ``memory`` + name for in-memory tables."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        path = unquote(parsed.path)
        return (
            ("file", path)
            if parsed.netloc in ("", "localhost")
            else (
                f"file://{parsed.netloc}",
                path,
            )
        )
    if parsed.scheme == "memory":
        return "memory", (parsed.netloc + parsed.path).strip("/") or uri
    if parsed.scheme and parsed.netloc:
        return f"{parsed.scheme}://{parsed.netloc}", unquote(parsed.path).lstrip("/") or "/"
    return "file", uri


def job_name(model: str, context: RunContext) -> str:
    """``<pipeline>.<task or asset>`` under an orchestrator, ``train.<model>`` otherwise."""
    parts = [p for p in (context.pipeline, context.task_id or context.asset_key) if p]
    return ".".join(parts) if parts else f"train.{model}"


def run_uuid(run: Run) -> str:
    """The OpenLineage run id of ``run`` (a UUID, the same for all its events)."""
    return str(uuid.UUID(hex=run.local_id))


# --- events -------------------------------------------------------------------------
def build_event(
    run: Run,
    event_type: EventType,
    *,
    settings: OpenLineageSettings,
    error: BaseException | None = None,
    event_time: datetime | None = None,
) -> RunEvent:
    """The ``event_type`` event of ``run`` (FAIL carries ``error``)."""
    from openlineage.client.event_v2 import Job, RunEvent, RunState
    from openlineage.client.event_v2 import Run as OLRun

    capture = run.capture
    if event_time is None:
        event_time = capture.started_at if event_type == "START" else datetime.now(timezone.utc)
    return RunEvent(
        eventTime=event_time.isoformat(),
        producer=PRODUCER,
        eventType=RunState(event_type),
        run=OLRun(runId=run_uuid(run), facets=_run_facets(run, event_type, error)),
        job=Job(
            namespace=settings.namespace,
            name=job_name(run.model, capture.context),
            facets=_job_facets(run),
        ),
        inputs=[_input(ref) for ref in run.datasets.values()],
        outputs=_outputs(run, settings) if event_type == "COMPLETE" else [],
    )


def _run_facets(run: Run, event_type: EventType, error: BaseException | None) -> dict[str, Any]:
    from openlineage.client.facet_v2 import nominal_time_run

    from mv_orchestration.lineage.openlineage_facets import (
        MvoEnvironmentRunFacet,
        MvoModelVersionRunFacet,
        MvoRunContextRunFacet,
        MvoSeedsRunFacet,
    )

    capture = run.capture
    seeds, env, ctx = capture.seeds, capture.environment, capture.context
    facets: dict[str, Any] = {
        "mvo_seeds": MvoSeedsRunFacet(
            seed=seeds.seed,
            seedSource=seeds.seed_source,
            seeded=list(seeds.seeded),
            deferred=list(seeds.deferred),
            deterministic=dict(seeds.deterministic),
            pythonHashSeed=seeds.pythonhashseed,
            stateDigests=dict(seeds.state_digests),
        ),
        "mvo_environment": MvoEnvironmentRunFacet(
            packagesDigest=env.packages_digest,
            pythonVersion=env.python_version,
            pythonImplementation=env.python_implementation,
            packageCount=len(env.distributions),
            platform=env.platform,
            containerImageDigest=env.container.image_digest if env.container else None,
            condaEnvironment=env.conda.name if env.conda else None,
        ),
        "mvo_runContext": MvoRunContextRunFacet(
            orchestrator=ctx.orchestrator,
            runRef=run.run_ref,
            pipeline=ctx.pipeline,
            runId=ctx.run_id,
            taskId=ctx.task_id,
            tryNumber=ctx.try_number,
            mapIndex=ctx.map_index,
            partitionKey=ctx.partition_key,
            assetKey=ctx.asset_key,
            deployment=ctx.deployment,
            logicalDate=ctx.logical_date.isoformat() if ctx.logical_date else None,
        ),
    }
    if ctx.logical_date is not None:
        facets["nominalTime"] = nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=ctx.logical_date.isoformat(), producer=PRODUCER
        )
    if event_type == "COMPLETE" and run.versions:
        facets["mvo_modelVersion"] = MvoModelVersionRunFacet(
            versions=[
                {
                    "model": mv.model,
                    "version": mv.version,
                    "recordId": mv.record_id,
                    "artifactDigest": mv.artifact_digest,
                    "created": mv.created,
                }
                for mv in run.versions
            ],
        )
    if event_type == "FAIL" and error is not None:
        facets["errorMessage"] = _error_facet(error)
    return facets


def _error_facet(error: BaseException) -> Any:
    from openlineage.client.facet_v2 import error_message_run

    from mv_orchestration.capture import redact_text

    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return error_message_run.ErrorMessageRunFacet(
        message=redact_text(f"{type(error).__name__}: {error}"),
        programmingLanguage="python",
        stackTrace=redact_text(trace[-MAX_STACK_TRACE:]),
        producer=PRODUCER,
    )


def _job_facets(run: Run) -> dict[str, Any]:
    from openlineage.client.facet_v2 import job_type_job, source_code_location_job

    code, ctx = run.capture.code, run.capture.context
    facets: dict[str, Any] = {
        "jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH",
            integration=ctx.orchestrator.upper(),
            jobType="TASK",
            producer=PRODUCER,
        )
    }
    if code.commit:
        remote = code.remote_url
        url = remote if remote and urlparse(remote).scheme else f"urn:git:{code.commit}"
        facets["sourceCodeLocation"] = source_code_location_job.SourceCodeLocationJobFacet(
            type="git",
            url=url,
            repoUrl=remote,
            version=code.commit,
            branch=code.branch,
            producer=PRODUCER,
        )
    return facets


def _input(ref: DatasetRef) -> InputDataset:
    from openlineage.client.event_v2 import InputDataset
    from openlineage.client.facet_v2 import (
        dataset_version_dataset,
        input_statistics_input_dataset,
        schema_dataset,
    )

    namespace, name = dataset_identity(ref.uri)
    facets: dict[str, Any] = {
        "version": dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=ref.digest, producer=PRODUCER
        )
    }
    if ref.schema:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(name=column, type=str(kind))
                for column, kind in ref.schema.items()
            ],
            producer=PRODUCER,
        )
    return InputDataset(
        namespace=namespace,
        name=name,
        facets=facets,
        inputFacets={
            "inputStatistics": input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                rowCount=ref.num_rows, size=ref.size, fileCount=ref.file_count, producer=PRODUCER
            )
        },
    )


def _outputs(run: Run, settings: OpenLineageSettings) -> list[OutputDataset]:
    from openlineage.client.event_v2 import OutputDataset
    from openlineage.client.facet_v2 import dataset_version_dataset

    return [
        OutputDataset(
            namespace=settings.namespace,
            name=f"models/{mv.model}",
            facets={
                "version": dataset_version_dataset.DatasetVersionDatasetFacet(
                    datasetVersion=mv.artifact_digest, producer=PRODUCER
                )
            },
        )
        for mv in run.versions
    ]


# --- emission -----------------------------------------------------------------------
class OpenLineageEmitter:
    """Builds the events of runs and sends them through one openlineage-python client."""

    def __init__(
        self, settings: OpenLineageSettings, client: OpenLineageClient | None = None
    ) -> None:
        self.settings = settings
        self.client = client if client is not None else make_client(settings)

    def emit_run(
        self, run: Run, event_type: EventType, error: BaseException | None = None
    ) -> RunEvent:
        """Build and send the ``event_type`` event of ``run``; return it."""
        event = build_event(run, event_type, settings=self.settings, error=error)
        self.client.emit(event)
        log.debug("OpenLineage %s event of %s sent", event_type, run.model)
        return event

    def close(self) -> None:
        """Flush and close the transport."""
        self.client.close()


_EMITTERS: dict[tuple[Any, ...], OpenLineageEmitter] = {}
_LOCK = threading.Lock()


def emitter_for(settings: OpenLineageSettings) -> OpenLineageEmitter:
    """The process-wide emitter for ``settings`` (one client per configuration)."""
    key = settings.cache_key()
    with _LOCK:
        emitter = _EMITTERS.get(key)
        if emitter is None:
            emitter = _EMITTERS[key] = OpenLineageEmitter(settings)
        return emitter
