"""Projections computed once: kept in memory and on disk, keyed by model identity + settings.

A key is the SHA-256 of the model's identity (its registry id, its store key and a digest
of the embedding table's bytes, :func:`table_fingerprint`) and the projection settings, so
a retrained checkpoint under the same id never serves an old picture. On disk a projection
is one ``.npz`` under ``$GLASSBOX_HOME/cache/embeddings/`` written to a temporary file in
the same folder and renamed into place (``os.replace`` is atomic), read back with
``allow_pickle=False``; a file that does not read back as a projection is removed and
computed again. A projection that was cancelled or failed is never stored: only
:meth:`ProjectionCache.put` writes, and :func:`project_cached` calls it after success.

The memory side is a small LRU shared by every session of a server (projections are
read-only results; the page holds one cache object in ``st.cache_resource``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from core.embeddings.project import Progress, Projection, ProjectionSettings, project

MEMORY_ITEMS = 12  # projections kept in memory (SmolLM2 PCA of every row: ~400 KB each)
_FORMAT = 1  # bump when the file layout changes: old files then miss and are recomputed


def table_fingerprint(table: torch.Tensor | np.ndarray) -> str:
    """A digest of a table's shape, dtype and bytes (BLAKE2b: ~0.2 s for 113 MB)."""
    array = torch.as_tensor(table).detach().to("cpu").contiguous().numpy()
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{array.shape}|{array.dtype}".encode())
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def projection_key(model_key: str, settings: ProjectionSettings) -> str:
    """The cache key of ``settings`` applied to the model identified by ``model_key``."""
    payload = json.dumps(
        {"model": model_key, "settings": settings.to_dict(), "format": _FORMAT}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class ProjectionCache:
    """Projections by key: an LRU in memory in front of a folder of ``.npz`` files."""

    def __init__(self, folder: Path | None, memory_items: int = MEMORY_ITEMS) -> None:
        self.folder = folder  # None: memory only
        self.memory_items = memory_items
        self._memory: OrderedDict[str, Projection] = OrderedDict()
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / f"{key}.npz"

    def get(self, key: str) -> Projection | None:
        """The stored projection, or None (a damaged file is removed)."""
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        if self.folder is None:
            return None
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            projection = _read(path)
        except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError):
            path.unlink(missing_ok=True)
            return None
        self._remember(key, projection)
        return projection

    def put(self, key: str, projection: Projection) -> None:
        """Store a finished projection in memory and (when there is a folder) on disk."""
        self._remember(key, projection)
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _write(self._path(key), projection)
        except OSError:
            pass  # a full or read-only disk: the memory copy still serves this server

    def _remember(self, key: str, projection: Projection) -> None:
        with self._lock:
            self._memory[key] = projection
            self._memory.move_to_end(key)
            while len(self._memory) > self.memory_items:
                self._memory.popitem(last=False)

    def __contains__(self, key: str) -> bool:
        with self._lock:
            if key in self._memory:
                return True
        return self.folder is not None and self._path(key).is_file()


def _write(path: Path, projection: Projection) -> None:
    meta = json.dumps(
        {
            "method": projection.method,
            "explained": list(projection.explained),
            "seconds": projection.seconds,
            "note": projection.note,
        }
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, coords=projection.coords, ids=projection.ids, meta=np.array(meta))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path) -> Projection:
    with np.load(path, allow_pickle=False) as data:
        coords = np.asarray(data["coords"], dtype=np.float32)
        ids = np.asarray(data["ids"], dtype=np.int64)
        meta = json.loads(str(data["meta"]))
    if coords.ndim != 2 or coords.shape[1] not in (1, 2, 3) or ids.shape != (len(coords),):
        raise ValueError(f"{path.name} does not hold a projection")
    if not np.isfinite(coords).all():
        raise ValueError(f"{path.name} holds non-finite coordinates")
    return Projection(
        coords,
        ids,
        str(meta["method"]),
        tuple(float(v) for v in meta["explained"]),
        float(meta["seconds"]),
        str(meta["note"]),
    )


def project_cached(
    table: torch.Tensor | np.ndarray,
    model_key: str,
    settings: ProjectionSettings,
    cache: ProjectionCache,
    progress: Progress | None = None,
) -> tuple[Projection, bool]:
    """(projection, whether it came from the cache). Only a finished projection is stored."""
    key = projection_key(model_key, settings)
    found = cache.get(key)
    if found is not None:
        return found, True
    projection = project(table, settings, progress)  # may raise: nothing is stored then
    cache.put(key, projection)
    return projection, False
