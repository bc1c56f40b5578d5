"""The feature store: the encode stage's shards (``shard_NNNNN.npy`` + ``.json``) read as one array.

Shards are memory-mapped, so reading rows costs only those rows; rows come out as float32 whatever
the stored type (float16 by default).  ``store[indices]`` takes an integer index array (or a slice);
``store.subset(indices)`` is a view of some rows that training code can index from 0, so an
estimator streams from disk without knowing about shards.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .cache import load_json


class FeatureStore:
    def __init__(self, folder, n: int | None = None):
        paths = sorted(Path(folder).glob("shard_*.npy"))
        self.shards = [np.load(p, mmap_mode="r") for p in paths]
        meta = [load_json(p.with_suffix(".json")) for p in paths]
        self.valid = np.concatenate([m["valid"] for m in meta]).astype(bool) if meta else np.zeros(0, bool)
        self.errors = [e for m in meta for e in m["errors"]]
        if n is not None and len(self.valid) != n:
            raise RuntimeError(f"feature store {folder} holds {len(self.valid)} images, expected {n}")
        self._owner = np.concatenate([np.full(len(s), i) for i, s in enumerate(self.shards)]) if paths else np.zeros(0, int)
        self._row = np.concatenate([np.arange(len(s)) for s in self.shards]) if paths else np.zeros(0, int)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.valid), (self.shards[0].shape[1] if self.shards else 0)

    def __len__(self) -> int:
        return len(self.valid)

    def __getitem__(self, index) -> np.ndarray:
        index = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index)
        out = np.empty((len(index), self.shape[1]), dtype=np.float32)
        for j, (owner, row) in enumerate(zip(self._owner[index], self._row[index])):
            out[j] = self.shards[owner][row]
        return out

    def subset(self, indices) -> "StoreView":
        return StoreView(self, np.asarray(indices))


class StoreView:
    """Rows ``indices`` of a :class:`FeatureStore`, indexed from 0."""

    def __init__(self, store: FeatureStore, indices: np.ndarray):
        self.store, self.indices = store, indices

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.indices), self.store.shape[1]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index) -> np.ndarray:
        return self.store[self.indices[index]]
