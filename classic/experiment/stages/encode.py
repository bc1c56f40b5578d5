"""Stage ``encode``: every image of a split -> its vector, written in shards (the feature store).

Vectors are stored as float16/float32 or as PQ codes; a store the disk would not hold is refused
before any work.  Every split's vocabulary is fitted first, so that one pass over the images encodes
all the splits' stores: an image in several splits (Caltech-101: 3 splits of 6,055 images hold 7,118
distinct ones) is decoded and described once.  The pass runs in CPU worker processes (joblib or
Dask), image by image, each described and encoded into every store before the next; or, on the GPU
(``run.encode_on``), in this process, a whole chunk encoded as one batch while ``run.n_jobs``
threads decode the next chunks.  Both write the same shards under the same key.  Finished shards
are skipped: a killed run resumes at the first unfinished one.

Images that decode but hold no usable descriptor get the encoder's zero vector and are marked in
their shard (``without_descriptors``): training leaves them out, testing scores them as empty images.
"""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import numpy as np

from ...backend import to_numpy
from ...encoding import ProductQuantizer
from ...io import check_space, format_bytes, load_npz, save_json, save_npy, save_npz
from ..build import descriptor_identity, encoded_dimension, fitted_encoder, vocabulary_stage
from ..cache import stable_hash
from .. import context
from ..context import RunContext, on_backend
from ..parallel import run_chunks
from ..stage import StageOutput
from ..store import bytes_per_vector, to_float16


def identity(cfg) -> dict:
    """What an encoding depends on beyond the vocabulary (the Fisher-vector set is the original one,
    so that existing feature stores keep their keys)."""
    enc = cfg.encoder
    out = {"pyramid": enc.pyramid, "improved": enc.improved, "drop_empty": enc.drop_empty,
           "store_dtype": enc.store_dtype, "whiten": enc.whiten}
    if enc.kind == "bow":
        out.update(kind="bow", assignment=enc.assignment, kernel_map=enc.kernel_map,
                   **({"n_nearest": enc.n_nearest, "beta": enc.beta} if enc.assignment == "soft" else {}))
    elif enc.kind == "supervector":
        out.update(kind="supervector", assignment=enc.assignment, frequency_weight=enc.frequency_weight,
                   **({"n_nearest": enc.n_nearest, "beta": enc.beta} if enc.assignment == "soft" else {}))
    elif enc.kind == "llc":
        out.update(kind="llc", n_nearest=enc.n_nearest, llc_lambda=enc.llc_lambda)
    elif enc.kind != "fisher":
        out.update(kind=enc.kind)
    return out


def key(ctx: RunContext, splits: list, index: int, vocabulary_key: str, quantizer_key: str | None) -> str:
    """A store's key; beyond the first split it also names the earlier splits, whose images come
    first in the shared pass (see :func:`encode_stores`) and so fix this store's layout."""
    cfg, split = ctx.config, splits[index]
    refs = list(split.train) + list(split.test)
    earlier = [list(s.train) + list(s.test) for s in splits[:index]]
    return ctx.stages.key("encode", descriptor_identity(cfg.features), cfg.data.max_side, identity(cfg), ctx.dataset_identity,
                          refs, ctx.dataset.fingerprint(refs), cfg.run.chunk_size, vocabulary_key,
                          *([quantizer_key] if quantizer_key else []),
                          *([stable_hash(earlier)] if earlier else []))


def store_target(ctx: RunContext, refs, folder: Path, store_dtype: str, projection: StageOutput,
                 vocabulary: StageOutput, quantizer=None) -> dict:
    """A store to encode: its images ``refs`` (its rows, in order), folder, dtype and fitted models' arrays."""
    return {"refs": refs, "folder": folder, "config": ctx.config, "store_dtype": store_dtype,
            "pca": load_npz(projection.folder / "pca.npz"),
            "vocabulary": load_npz(vocabulary.folder / f"{vocabulary_stage(ctx.config)}.npz"), "quantizer": quantizer}


def _write_shard(target: dict, decoded, vectors, errors, empty, quantizer=None):
    """One shard of a store: ``target["rows"]`` (the store's rows held by the chunk's images
    ``target["members"]``); ``vectors`` are those of the members in ``decoded`` (positions of the images
    that decoded), in order (the others stay zero and invalid), written as the store's dtype or as
    PQ codes.  ``empty``: {position: reason} of the decoded images with no usable descriptor (their
    vectors are the encoder's zero vector): marked, so that training leaves them out."""
    members = target["members"]
    present = [k for k, i in enumerate(members) if i in decoded]
    if quantizer is not None:          # the whole chunk at once: one batched product per sub-quantiser group
        out = np.zeros((len(members), quantizer.codebooks_.shape[0]), dtype=np.uint8)
        if present:
            out[present] = to_numpy(quantizer.transform(vectors))
    else:
        out = np.zeros((len(members), vectors.shape[1]), dtype=target["store_dtype"])
        vectors = to_numpy(vectors)
        out[present] = to_float16(vectors) if out.dtype == np.float16 else vectors
    valid = np.zeros(len(members), bool)
    valid[present] = True
    files = set(target["refs"])
    without = [k for k, i in enumerate(members) if i in empty]
    save_npy(target["shard"].with_suffix(".npy"), out)
    save_json(target["shard"].with_suffix(".json"), {
        "valid": valid.tolist(), "rows": target["rows"], "errors": [e for e in errors if e["file"] in files],
        "without_descriptors": [{"row": target["rows"][k], "file": target["refs"][k], "reason": empty[members[k]]}
                                for k in without]})


def _encode_targets(targets, images, errors, extract, fitted, one_at_a_time: bool):
    """Every target's shard from the chunk's decoded ``images`` ([(position in the chunk, image)]), each
    described once by ``extract``; ``fitted(target)`` gives its (encoder, quantizer or None).

    ``one_at_a_time`` (the CPU workers): image by image, each described and encoded into every store
    that holds it before the next, so that one image's descriptors are in memory at a time, still in
    cache when encoded; else all the images described, then each target's images encoded as one
    batch, one posterior product for all their descriptors (the GPU).  The stores share the run's
    configuration, so an image's usable descriptors in pooling order are made once for all of them
    (``prepared``: one gather instead of two per store)."""
    models = [fitted(target) for target in targets]
    encoder = models[0][0]
    empty = {}          # position -> why the decoded image has no usable descriptor

    def describe(i, image):
        features = encoder.prepared(extract(image))
        # the stores differ in their fitted PCA and vocabulary, not in which descriptors are usable
        if not len(features):
            h, w = image.shape[:2]
            empty[i] = (f"no usable descriptor in the decoded {w} x {h} image (smaller than one frame, or too "
                        f"uniform): left out of training; as a test image it is scored as an empty image")
        return features

    if one_at_a_time:
        held = [set(target["members"]) for target in targets]
        vectors = [[] for _ in targets]
        for i, image in images:
            features = describe(i, image)
            for members, (model, _), out in zip(held, models, vectors):
                if i in members:
                    out.append(model.encode(features))
        vectors = [np.stack(v) if v else None for v in vectors]
    else:
        features = {i: describe(i, image) for i, image in images}
        batches = [[features[i] for i in target["members"] if i in features] for target in targets]
        vectors = [model.encode_batch(batch) if batch else None for batch, (model, _) in zip(batches, models)]
    decoded = {i for i, _ in images}
    for target, (model, quantizer), v in zip(targets, models, vectors):
        _write_shard(target, decoded, np.zeros((0, model.dimension), np.float32) if v is None else v, errors,
                     empty, quantizer)


def _encode_chunk(dataset, refs, extractor, max_side, targets):
    """A worker's task: one chunk of images, each decoded and described once, then encoded into the
    shard of every store (split) that holds it, on the CPU."""
    images, errors = context.decode_chunk(dataset, refs, extractor.image_mode, max_side)

    def fitted(target):
        quantizer = ProductQuantizer.from_arrays(target["quantizer"]) if target["quantizer"] else None
        return fitted_encoder(target["config"], target["pca"], target["vocabulary"], np), quantizer
    _encode_targets(targets, images, errors, extractor.extract, fitted, one_at_a_time=True)
    return errors


def check_disk(ctx: RunContext, folder: Path, needs: list[tuple[str, int]], space=None) -> None:
    """Refuse, before any work, stores that the disk would not hold; ``needs``: (store dtype, images)
    pairs; ``space``: (what, advice) for the message, else a split's feature store's."""
    enc = ctx.config.encoder
    dimension = encoded_dimension(ctx.config)
    n_images = sum(n for _, n in needs)
    need = sum(n * bytes_per_vector(dtype, dimension, enc.pq_subvector_dims) for dtype, n in needs)
    if space is None:
        stored = {dtype for dtype, _ in needs}
        pq = n_images * bytes_per_vector("pq", dimension, enc.pq_subvector_dims)
        switch = f"set encoder.store_dtype=pq (~{format_bytes(pq)}), " if stored != {"pq"} else ""
        space = (f"the feature store ({n_images:,} images x {dimension:,} dims)",
                 f"{switch}shrink the encoding, take a subset, free space, or set CLASSIC_CACHE")
    check_space(folder, need, *space)


def encode_stores(ctx: RunContext, order: list, stores: list[dict], label: str, space=None) -> float:
    """Encode several stores in one pass over their images, each image decoded and described once.

    ``stores``: :func:`store_target` dicts.  The pass walks, in chunks of ``run.chunk_size``, the images
    of the ``order`` lists (all the run's splits, even those already encoded, so that a store's layout
    does not depend on what was cached) in order of first appearance; a store's shard ``j`` holds its
    images in chunk ``j`` and lists their rows.  The first split's shards are thus its own consecutive
    chunks.  Finished shards are skipped.  ``space``: (what, advice) of the disk check when the stores
    are not a split's feature store.  Returns the workers' peak memory (MiB).
    """
    cfg = ctx.config
    union = list(dict.fromkeys(ref for refs in order for ref in refs))
    rows = [{ref: row for row, ref in enumerate(store["refs"])} for store in stores]
    tasks = []
    for j, chunk in enumerate(ctx.chunks(union)):
        targets = []
        for store, row_of in zip(stores, rows):
            members = [i for i, ref in enumerate(chunk) if ref in row_of]
            shard = store["folder"] / f"shard_{j:05d}"
            if members and not shard.with_suffix(".json").exists():
                targets.append(dict(store, shard=shard, members=members, rows=[row_of[chunk[i]] for i in members],
                                    refs=[chunk[i] for i in members]))
        if targets:
            tasks.append((ctx.dataset, chunk, ctx.extractor, cfg.data.max_side, targets))
    check_disk(ctx, stores[0]["folder"], [(t["store_dtype"], len(t["members"])) for task in tasks for t in task[4]],
               space)
    if not ctx.on_backend:
        _, peak = run_chunks(_encode_chunk, tasks, cfg.run.n_jobs, label, ctx.progress, ctx.client)
        return peak
    xp = ctx.xp
    on_device = {}
    for store in stores:
        quantizer = store["quantizer"]
        on_device[store["folder"]] = (
            fitted_encoder(cfg, store["pca"], store["vocabulary"], xp),
            ProductQuantizer.from_arrays({k: xp.asarray(v) for k, v in quantizer.items()}) if quantizer else None)

    def encode(task, decoded):
        images, errors = decoded
        _encode_targets(task[4], images, errors, lambda image: ctx.extractor.extract(xp.asarray(image)),
                        lambda target: on_device[target["folder"]], one_at_a_time=False)
    on_backend(tasks, cfg.run, label, ctx.progress, encode)
    return 0.0          # no workers: the stage's own peak is this process's


def run(ctx: RunContext, jobs: list[dict], index: int) -> StageOutput:
    """The feature store of split ``jobs[index]``, encoded in one pass with the stores of the later
    splits not yet encoded.  ``jobs``: per split its ``split``, ``refs``, ``encode_key`` and the
    ``pca``, ``vocabulary`` and ``quantizer`` (or None) stage outputs."""
    job = jobs[index]

    def compute(folder: Path):
        with ExitStack() as held:
            return encode(ctx.stages.claim_pending("encode", jobs[index + 1:], lambda j: j["encode_key"], held))

    def encode(later: list[dict]):
        pending = [job] + later
        stores = []
        for j in pending:
            folder = ctx.stages.cache.folder("encode", j["encode_key"])
            quantizer = None
            if j["quantizer"] is not None:     # the store carries its codebooks: it decodes itself
                quantizer = load_npz(j["quantizer"].folder / "pq.npz")
                folder.mkdir(parents=True, exist_ok=True)
                save_npz(folder / "quantizer.npz", **quantizer)
            stores.append(store_target(ctx, j["refs"], folder, ctx.config.encoder.store_dtype, j["pca"],
                                       j["vocabulary"], quantizer))
        names = " + ".join(j["split"].name for j in pending)
        peak = encode_stores(ctx, [j["refs"] for j in jobs], stores, f"encode {names}")
        for j in later:
            ctx.stages.finish_shared("encode", j["encode_key"], job["encode_key"], peak)
        return peak
    return ctx.stages.run("encode", job["encode_key"], job["split"].name, compute)
