"""mv-orchestration's custom OpenLineage run facets (needs ``openlineage-python``).

OpenLineage has no standard place yet for a model version, the seeds of a run or its
package environment; these facets carry them under the ``mvo_`` prefix. Their JSON
schemas live next to this module in ``facets/1-0-0/`` and are what ``_schemaURL`` names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attr
from openlineage.client.facet_v2 import RunFacet

from mv_orchestration.lineage.openlineage import PRODUCER

SCHEMA_VERSION = "1-0-0"
SCHEMA_DIR = Path(__file__).parent / "facets" / SCHEMA_VERSION
SCHEMA_BASE = (
    "https://raw.githubusercontent.com/mv-orchestration/mv-orchestration/main/"
    f"mv_orchestration/lineage/facets/{SCHEMA_VERSION}"
)


def schema_url(name: str) -> str:
    """The ``_schemaURL`` of one of our facets."""
    return f"{SCHEMA_BASE}/{name}.json#/$defs/{name}"


@attr.define
class MvoRunFacet(RunFacet):
    """Base of our run facets: produced by mv-orchestration."""

    _producer: str = attr.field(default=PRODUCER, kw_only=True)


@attr.define
class MvoSeedsRunFacet(MvoRunFacet):
    """The seed a run set, what it seeded and the digests of the seeded states."""

    seed: int
    seedSource: str
    seeded: list[str] = attr.field(factory=list)
    deferred: list[str] = attr.field(factory=list)
    deterministic: dict[str, Any] = attr.field(factory=dict)
    pythonHashSeed: str | None = attr.field(default=None)
    stateDigests: dict[str, str] = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        return schema_url("MvoSeedsRunFacet")


@attr.define
class MvoEnvironmentRunFacet(MvoRunFacet):
    """The package environment of a run, by digest, with the interpreter and platform."""

    packagesDigest: str
    pythonVersion: str
    pythonImplementation: str
    packageCount: int | None = attr.field(default=None)
    platform: str | None = attr.field(default=None)
    containerImageDigest: str | None = attr.field(default=None)
    condaEnvironment: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return schema_url("MvoEnvironmentRunFacet")


@attr.define
class MvoModelVersionRunFacet(MvoRunFacet):
    """The model versions the run registered (``model``, ``version``, ``recordId``,
    ``artifactDigest``, ``created``)."""

    versions: list[dict[str, Any]] = attr.field(factory=list)

    @staticmethod
    def _get_schema() -> str:
        return schema_url("MvoModelVersionRunFacet")


@attr.define
class MvoRunContextRunFacet(MvoRunFacet):
    """The orchestrator's identity of the task run."""

    orchestrator: str
    runRef: str
    pipeline: str | None = attr.field(default=None)
    runId: str | None = attr.field(default=None)
    taskId: str | None = attr.field(default=None)
    tryNumber: int | None = attr.field(default=None)
    mapIndex: int | None = attr.field(default=None)
    partitionKey: str | None = attr.field(default=None)
    assetKey: str | None = attr.field(default=None)
    deployment: str | None = attr.field(default=None)
    logicalDate: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return schema_url("MvoRunContextRunFacet")
