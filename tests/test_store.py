"""The feature store: rows across shards, float16 conversion bit for bit."""
import numpy as np
import pytest


def test_feature_store_reads_rows_across_shards(tmp_path):
    from classic.io import save_json, save_npy
    from classic.experiment.store import FeatureStore
    rng = np.random.default_rng(0)
    parts = [rng.random((n, 7)).astype(np.float16) for n in (5, 3, 6)]
    for i, part in enumerate(parts):
        save_npy(tmp_path / f"shard_{i:05d}.npy", part)
        save_json(tmp_path / f"shard_{i:05d}.json", {"valid": [True] * len(part), "errors": []})
    everything = np.concatenate(parts).astype(np.float32)
    store = FeatureStore(tmp_path, 14)
    assert store.shape == (14, 7)
    for index in ([0, 1, 2], [13, 4, 5, 6, 0], np.arange(14), [8]):
        np.testing.assert_array_equal(store[np.asarray(index)], everything[index])
    np.testing.assert_array_equal(store[3:9], everything[3:9])
    np.testing.assert_array_equal(store.subset([2, 9, 11])[[2, 0]], everything[[11, 2]])
    with pytest.raises(RuntimeError, match="holds 14 images"):
        FeatureStore(tmp_path, 15)


def test_float16_conversion_is_numpys_bit_for_bit():
    """The store's float32 -> float16 conversion (fast also for float16-subnormal values) gives numpy's bits:
    a sweep over every 4,099th float32 bit pattern (all exponents, both signs) and dense sweeps around
    the subnormal boundary, the smallest subnormal, 1 and the overflow threshold."""
    from classic.experiment.store import to_float16
    sweep = np.arange(0, 1 << 32, 4099, dtype=np.uint64).astype(np.uint32)
    dense = [np.arange(base - 4096, base + 4096, dtype=np.uint32) for base in (0x38800000, 0x33000000, 0x3F800000,
                                                                                 0x477FF000)]
    x = np.concatenate([sweep] + dense + [d | np.uint32(0x80000000) for d in dense]).view(np.float32)
    x = x[:len(x) // 7 * 7]
    with np.errstate(over="ignore"):
        expected = x.astype(np.float16)
    ours = to_float16(x.reshape(-1, 7)).reshape(-1)         # any shape
    finite = ~np.isnan(x)
    np.testing.assert_array_equal(ours.view(np.uint16)[finite], expected.view(np.uint16)[finite])
    assert np.isnan(ours[~finite]).all()
