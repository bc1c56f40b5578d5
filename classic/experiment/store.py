"""The feature store: the encode stage's shards (``shard_NNNNN.npy`` + ``.json``) read as one array.

Shards hold float16 or float32 vectors, or, when the folder has a ``quantizer.npz``, uint8
product-quantisation codes that are decoded on the fly (:class:`classic.encoding.ProductQuantizer`):
whoever reads the store sees float32 vectors either way.

Rows are read with plain file reads (one per run of consecutive rows), not through a memory map:
a map would keep every page read resident in this process, so its memory would grow with the rows
visited; this way it holds only the rows asked for.  Rows come out as float32 whatever the stored
type (float16 by default).  ``store[indices]`` takes an integer index array (or a slice);
``store.subset(indices)`` is a view of some rows that training code can index from 0, so an
estimator streams from disk without knowing about shards.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..encoding import ProductQuantizer
from ..io import load_json, load_npz, read_at, write_at


_READ_THREADS = min(4, os.cpu_count() or 1)
_HALF_BLOCK = 1 << 16       # values converted to float16 at a time: the block's passes stay in cache


def to_float16(x) -> np.ndarray:
    r"""``x.astype(float16)``, bit for bit (round to nearest, ties to even), at the same speed for every value.

    numpy converts values that land in float16's subnormal range (below 2^-14) ~20x slower than the
    others, and 42% of a Caltech-101 Fisher vector's entries are that small (benchmarks/README.md,
    "Design measurements").  Here the bits are computed with integer arithmetic on the
    float32 bits, branch-free (F. Giesen's round-to-nearest-even float-to-half):

    - normal result: rebias the exponent (-112 << 23), add 0xFFF plus the bit that ends up lowest
      (ties to even), keep the top bits (>> 13); a carry out of the significand rounds up into the
      exponent, up to infinity;
    - subnormal result (:math:`|x| < 2^{-14}`): adding 0.5, whose float32 spacing is 2^-24, rounds :math:`|x|` to
      m * 2^-24 with ties to even; m (<= 1024, 1024 being the smallest normal half) is then the sum's
      low bits;
    - :math:`|x| \ge 65536` is infinity.  Blocks holding a NaN are left to numpy (its NaN payloads).
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty(x.shape, dtype=np.float16)
    flat_in, flat_out = x.reshape(-1), out.reshape(-1)
    for start in range(0, flat_in.size, _HALF_BLOCK):
        block = flat_in[start:start + _HALF_BLOCK]
        if np.isnan(block).any():
            with np.errstate(over="ignore"):        # infinities, as below
                flat_out[start:start + _HALF_BLOCK] = block.astype(np.float16)
            continue
        bits = block.view(np.uint32)
        magnitude = bits & np.uint32(0x7FFFFFFF)
        normal = (magnitude + np.uint32(0xC8000FFF)) + ((magnitude >> np.uint32(13)) & np.uint32(1))  # -112 << 23 + 0xFFF
        normal >>= np.uint32(13)
        subnormal = (magnitude.view(np.float32) + np.float32(0.5)).view(np.uint32) - np.uint32(0x3F000000)
        half = np.where(magnitude < np.uint32(0x38800000), subnormal, normal)     # 0x38800000: 2^-14
        half[magnitude >= np.uint32(0x47800000)] = 0x7C00                          # 0x47800000: 65536
        half |= (bits >> np.uint32(16)) & np.uint32(0x8000)
        flat_out.view(np.uint16)[start:start + _HALF_BLOCK] = half
    return out


def bytes_per_vector(store_dtype: str, dimension: int, subvector_dims: int = 8) -> int:
    """Disk bytes of one stored vector: 2 or 4 per dimension, or one byte per PQ sub-vector."""
    if store_dtype == "pq":
        return dimension // subvector_dims
    return dimension * np.dtype(store_dtype).itemsize


class _Shard:
    """One ``.npy`` file's rows by file reads: header parsed once, then seek + read."""

    def __init__(self, path: Path):
        self.path = path
        with open(path, "rb") as f:
            major, _ = np.lib.format.read_magic(f)
            header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = header(f)
            self.offset = f.tell()
        if fortran or len(shape) != 2:
            raise ValueError(f"{path}: expected a C-ordered 2-D array")
        self.shape, self.dtype = shape, np.dtype(dtype)

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, rows: np.ndarray, out: np.ndarray) -> None:
        """Rows (sorted or not) into ``out``; consecutive rows in one read."""
        row_bytes = self.shape[1] * self.dtype.itemsize
        with open(self.path, "rb") as f:
            start = 0
            while start < len(rows):
                stop = start + 1
                while stop < len(rows) and rows[stop] == rows[stop - 1] + 1:
                    stop += 1
                f.seek(self.offset + int(rows[start]) * row_bytes)
                block = np.fromfile(f, dtype=self.dtype, count=(stop - start) * self.shape[1])
                out[start:stop] = block.reshape(stop - start, self.shape[1])
                start = stop


class FeatureStore:
    """The shards of one store read as one (n, dimension) float32 array.

    A shard holds consecutive rows of the store, or, when its ``.json`` lists ``rows``, those rows: a
    store encoded in the same pass as other splits' (one description per image for all of them) has
    its rows spread over the pass's chunks.  Every row must be held by exactly one shard.
    """

    def __init__(self, folder, n: int | None = None):
        paths = sorted(Path(folder).glob("shard_*.npy"))
        self.shards = [_Shard(p) for p in paths]
        meta = [load_json(p.with_suffix(".json")) for p in paths]
        rows, start = [], 0
        for shard, m in zip(self.shards, meta):
            rows.append(np.asarray(m["rows"], dtype=np.int64) if "rows" in m else np.arange(start, start + len(shard)))
            start += len(shard)
        if n is not None and start != n:
            raise RuntimeError(f"feature store {folder} holds {start} images, expected {n}")
        held = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        if not np.array_equal(np.sort(held), np.arange(start)):
            raise RuntimeError(f"feature store {folder}: its shards do not hold each of rows 0..{start - 1} once")
        self.valid = np.zeros(start, bool)
        self._owner = np.zeros(start, np.int64)
        self._row = np.zeros(start, np.int64)
        for i, (r, m) in enumerate(zip(rows, meta)):
            self.valid[r], self._owner[r], self._row[r] = m["valid"], i, np.arange(len(r))
        self.errors = [e for m in meta for e in m["errors"]]
        # decoded images with no usable descriptor (stored as the encoder's zero vector)
        self.without_descriptors = [e for m in meta for e in m.get("without_descriptors", [])]
        self.empty = np.zeros(start, bool)
        self.empty[[e["row"] for e in self.without_descriptors]] = True
        quantizer = Path(folder) / "quantizer.npz"
        self.quantizer = ProductQuantizer.from_arrays(load_npz(quantizer)) if quantizer.exists() else None

    def train_and_test_rows(self, n_train: int) -> tuple[np.ndarray, np.ndarray]:
        """(training rows, training rows then test rows) of a split whose first ``n_train`` rows are its
        training images: training leaves out the images that did not decode or have no usable
        descriptor; testing keeps the latter (scored as an empty image: the store holds its zero vector)."""
        return _train_and_test_rows(self.valid, self.empty, n_train)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, dimension) of the stored vectors, as float32 rows come out."""
        if self.quantizer is not None:
            return len(self.valid), self.quantizer.codebooks_.shape[0] * self.quantizer.subvector_dims
        return len(self.valid), (self.shards[0].shape[1] if self.shards else 0)

    def __len__(self) -> int:
        return len(self.valid)

    def __getitem__(self, index) -> np.ndarray:
        index = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index)
        out = np.empty((len(index), self.shape[1]), dtype=np.float32)
        owners = self._owner[index]

        def read(owner):
            where = np.flatnonzero(owners == owner)
            shard = self.shards[owner]
            part = np.empty((len(where), shard.shape[1]), dtype=np.uint8 if self.quantizer else np.float32)
            shard.read(self._row[index[where]], part)
            out[where] = self.quantizer.inverse_transform(part) if self.quantizer else part
        # shards on threads: file reads and numpy's float16 -> float32 conversion release the GIL (2.6x
        # faster on two threads than on one: benchmarks/README.md, "Design measurements")
        with ThreadPoolExecutor(_READ_THREADS) as pool:
            list(pool.map(read, np.unique(owners)))
        return out

    def subset(self, indices) -> "StoreView":
        """A view of rows ``indices``, indexed from 0 (what the streaming solvers train on)."""
        return StoreView(self, np.asarray(indices))


def _train_and_test_rows(valid, empty, n_train: int) -> tuple[np.ndarray, np.ndarray]:
    train = np.flatnonzero(valid[:n_train] & ~empty[:n_train])
    return train, np.concatenate([train, n_train + np.flatnonzero(valid[n_train:])])


class ConcatenatedStore:
    r"""Several stores of the same images read side by side, store c's rows scaled by ``scales[c]``: the
    weighted concatenation :math:`[\sqrt{w_1} x_1, \dots]` of early fusion, for the streaming solvers
    (nothing is written: each read reads every store).  An image is valid where every store decoded
    it, empty where no store has a descriptor for it."""

    def __init__(self, stores, scales):
        self.stores, self.scales = list(stores), [np.float32(c) for c in scales]
        self.valid = np.logical_and.reduce([s.valid for s in self.stores])
        self.empty = np.logical_and.reduce([s.empty for s in self.stores])

    def train_and_test_rows(self, n_train: int) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`FeatureStore.train_and_test_rows`, over all the stores."""
        return _train_and_test_rows(self.valid, self.empty, n_train)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, the stores' dimensions summed)."""
        return len(self.valid), sum(s.shape[1] for s in self.stores)

    def __len__(self) -> int:
        return len(self.valid)

    def __getitem__(self, index) -> np.ndarray:
        return np.concatenate([s[index] * c for s, c in zip(self.stores, self.scales)], axis=1)

    def subset(self, indices) -> "StoreView":
        """A view of rows ``indices``, indexed from 0."""
        return StoreView(self, np.asarray(indices))


class RowFile:
    """A zero-filled float32 (n, width) array in a file, read and written by rows at their offsets:
    memory holds only the rows in use (a streaming solver's per-image state)."""

    def __init__(self, path, shape: tuple[int, int]):
        self.path, self.shape = Path(path), shape
        with open(self.path, "wb") as f:
            f.truncate(shape[0] * shape[1] * 4)          # a sparse file: zeros without writing them
        self._fd = os.open(self.path, os.O_RDWR)
        self._row_bytes = shape[1] * 4

    def __getitem__(self, rows) -> np.ndarray:
        return np.stack([np.frombuffer(read_at(self._fd, self._row_bytes, int(r) * self._row_bytes), np.float32)
                         for r in rows]) if len(rows) else np.zeros((0, self.shape[1]), np.float32)

    def __setitem__(self, rows, values) -> None:
        values = np.ascontiguousarray(values, dtype=np.float32)
        for r, v in zip(rows, values):
            write_at(self._fd, v.tobytes(), int(r) * self._row_bytes)

    def close(self) -> None:
        """Close the file."""
        os.close(self._fd)


class StoreView:
    """Rows ``indices`` of a :class:`FeatureStore`, indexed from 0."""

    def __init__(self, store: FeatureStore, indices: np.ndarray):
        self.store, self.indices = store, indices

    @property
    def shape(self) -> tuple[int, int]:
        """(rows in the view, dimension)."""
        return len(self.indices), self.store.shape[1]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index) -> np.ndarray:
        return self.store[self.indices[index]]
