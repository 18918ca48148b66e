"""Content digests: bytes, streams, files, directory manifests and Arrow tables.

Import the submodules directly (``mv_orchestration.hashing.files`` ...); this package
imports nothing heavy, and pyarrow is loaded only by :mod:`.tabular` and :mod:`.dataset`.
"""
