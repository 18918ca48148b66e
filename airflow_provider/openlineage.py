"""OpenLineage facets for what an mv-orchestration task did (needs the OpenLineage provider).

For every version record a task touched:

* inputs: the record's datasets, each with a ``version`` facet set to its content digest;
* output: the model (namespace ``mv``, name = model name), ``version`` = the record's
  content digest;
* job facet ``sourceCodeLocation``: git commit (``version``), remote and branch;
* run facets ``mvo_model_version`` (model, version, record id, content digest),
  ``mvo_seeds`` (the seed and what was seeded) and ``mvo_environment`` (packages digest,
  Python version), plus any task-specific facets (e.g. ``mvo_alias_move``).

Importing this module imports the OpenLineage client; operators import it lazily.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attr
from airflow.providers.openlineage.extractors import OperatorLineage
from openlineage.client.event_v2 import Dataset
from openlineage.client.facet_v2 import (
    RunFacet,
    dataset_version_dataset,
    source_code_location_job,
)

if TYPE_CHECKING:
    from mv_orchestration.registry import VersionRecord

MODEL_NAMESPACE = "mv"


@attr.define
class MVOModelVersionRunFacet(RunFacet):
    """The model version a task registered, promoted or checked."""

    model: str
    version: str
    recordId: str
    contentDigest: str


@attr.define
class MVOSeedsRunFacet(RunFacet):
    """The seed of the run and the libraries it seeded."""

    seed: int | None
    seedSource: str | None
    seeded: list[str] = attr.field(factory=list)


@attr.define
class MVOEnvironmentRunFacet(RunFacet):
    """Digest of the installed packages and the Python version."""

    packagesDigest: str | None
    pythonVersion: str | None


@attr.define
class MVOPayloadRunFacet(RunFacet):
    """A task-specific JSON payload (alias move, verify report, retention plan)."""

    payload: dict[str, Any] = attr.field(factory=dict)


def dataset_name(uri: str) -> tuple[str, str]:
    """OpenLineage (namespace, name) of a dataset URI, per the OpenLineage naming spec."""
    parts = urlsplit(uri)
    if parts.scheme in ("", "file"):
        return "file", parts.path or uri
    return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")


def _version_facets(version: str) -> dict[str, Any]:
    return {"version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=version)}


def operator_lineage(
    records: Sequence[VersionRecord], facets: Mapping[str, Mapping[str, Any]]
) -> OperatorLineage:
    """Facets for ``records`` plus ``facets`` (name -> JSON payload) as custom run facets."""
    lineage = OperatorLineage()
    for record in records:
        for dataset in record.datasets:
            namespace, name = dataset_name(dataset.uri)
            lineage.inputs.append(
                Dataset(namespace=namespace, name=name, facets=_version_facets(dataset.digest))
            )
        lineage.outputs.append(
            Dataset(
                namespace=MODEL_NAMESPACE,
                name=record.model,
                facets=_version_facets(record.content_digest),
            )
        )
        lineage.run_facets["mvo_model_version"] = MVOModelVersionRunFacet(
            model=record.model,
            version=record.version,
            recordId=record.record_id,
            contentDigest=record.content_digest,
        )
        seeds = record.capture.get("seeds") or {}
        lineage.run_facets["mvo_seeds"] = MVOSeedsRunFacet(
            seed=seeds.get("seed"),
            seedSource=seeds.get("seed_source"),
            seeded=list(seeds.get("seeded") or []),
        )
        environment = record.capture.get("environment") or {}
        lineage.run_facets["mvo_environment"] = MVOEnvironmentRunFacet(
            packagesDigest=environment.get("packages_digest"),
            pythonVersion=environment.get("python_version"),
        )
        code = record.capture.get("code") or {}
        if code.get("commit"):
            remote = code.get("remote_url") or ""
            lineage.job_facets["sourceCodeLocation"] = (
                source_code_location_job.SourceCodeLocationJobFacet(
                    type="git",
                    url=remote,
                    repoUrl=remote or None,
                    version=code["commit"],
                    branch=code.get("branch"),
                )
            )
    for name, payload in facets.items():
        lineage.run_facets[name] = MVOPayloadRunFacet(payload=dict(payload))
    return lineage
