"""Child process for the crash tests: publishes objects in a loop until SIGKILLed.

After each publish returns, the digest is appended to a journal and fsynced: the journal
plays the registry's part (a record referencing the object), so every complete journal
line must point at a complete, verifying object.
"""

from __future__ import annotations

import io
import os
import random
from multiprocessing.synchronize import Event
from pathlib import Path

from mv_orchestration.store import _remote  # noqa: F401 - imported once, before the forks
from mv_orchestration.store.store import ArtifactStore

SIZES = ((1, 4096), (4096, 1 << 20), (1 << 20, 3 << 20))


def publish_forever(
    url: str, env: dict[str, str], journal: str, workdir: str, seed: int, ready: Event
) -> None:
    """Publish random objects (bytes, files, streams) forever, journaling each digest."""
    os.environ.update(env)
    store = ArtifactStore.from_url(url)
    rng = random.Random(seed)
    ready.set()
    n = 0
    while True:
        data = rng.randbytes(rng.randint(*rng.choice(SIZES)))
        if n % 3 == 0:
            digest = store.put_bytes(data)
        elif n % 3 == 1:
            source = Path(workdir, f"src-{seed}-{n}")
            source.write_bytes(data)
            digest = store.put_file(source)
        else:
            digest = store.put_stream(io.BytesIO(data))
        with open(journal, "a", encoding="ascii") as handle:
            handle.write(digest + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        n += 1
