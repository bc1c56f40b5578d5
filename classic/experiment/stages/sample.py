"""Stage ``sample``: descriptors from a stratified subset of a split's training images, for PCA and
the vocabulary.

A split's sample takes ``encoder.sample_images`` training images, equally per class, and up to
``sample_size / images`` usable descriptors of each (a seeded draw per image), then at most
``sample_size`` in all.  The first split's stage draws every split's sample in one pass over the
union of their images (Caltech-101's 3 samples of 1,020 images hold 2,486 distinct ones), each image
described once; each split's sample is the one its own pass would draw.
"""
from __future__ import annotations

import math
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from ...backend import to_numpy
from ...encoding import sample_descriptors
from ...io import save_json, save_npy
from ..build import descriptor_identity
from ..config import ConfigError
from .. import context
from ..context import RunContext, on_backend
from ..parallel import run_chunks
from ..stage import StageOutput


def _sampled_descriptors(extractor, images, draws, drop_empty, xp=np):
    """[(slot, index, descriptors)]: from each decoded image (``images``: [(position in the chunk,
    image)]), described once, the draws ``draws[position]`` = [(slot, index, quota, seed)] of the
    samples (splits) that hold it: up to ``quota`` of its descriptors each, as numpy."""
    out = []
    for i, image in images:
        features = extractor.extract(xp.asarray(image))
        d = (features.without_empty() if drop_empty else features).descriptors
        for slot, index, quota, seed in draws[i]:
            out.append((slot, index, to_numpy(sample_descriptors([d], quota, seed) if len(d) else d)))
    return out


def _sample_chunk(dataset, refs, extractor, max_side, draws, drop_empty=True):
    """A worker's task: one chunk's images decoded and sampled."""
    images, errors = context.decode_chunk(dataset, refs, extractor.image_mode, max_side)
    return _sampled_descriptors(extractor, images, draws, drop_empty), errors


def plan(ctx: RunContext, split) -> dict:
    """A split's descriptor sample: its images (equally per class), the quota per image, the seed of
    each image's draw, and the stage key."""
    cfg, enc = ctx.config, ctx.config.encoder
    rng = np.random.default_rng(cfg.seed)
    n_classes = len(ctx.dataset.class_names)
    per_class = max(1, math.ceil(enc.sample_images / n_classes))
    chosen = []
    for c in range(n_classes):
        members = np.flatnonzero(split.train_labels == c)
        chosen.extend(rng.permutation(members)[:per_class].tolist())
    refs = [split.train[i] for i in sorted(chosen)]
    key = ctx.stages.key("sample", descriptor_identity(cfg.features), cfg.data.max_side, ctx.dataset_identity, refs,
                         ctx.dataset.fingerprint(refs), enc.sample_size, enc.drop_empty, cfg.seed)
    size = cfg.run.chunk_size
    # image k's draw: the seed it had when each split walked its own list in chunks (chunk + position)
    seeds = [cfg.seed + k // size + k % size for k in range(len(refs))]
    return dict(split=split, refs=refs, seeds=seeds, key=key,
                quota=max(1, math.ceil(enc.sample_size / max(1, len(refs)))))


def run(ctx: RunContext, plans: list[dict], index: int) -> StageOutput:
    """Split ``plans[index]``'s sample, drawn in one pass with the later splits' samples not yet drawn."""
    cfg, enc, mine = ctx.config, ctx.config.encoder, plans[index]

    def compute(folder: Path):
        with ExitStack() as held:
            return draw(folder, [mine] + ctx.stages.claim_pending("sample", plans[index + 1:], lambda p: p["key"], held))

    def draw(folder: Path, pending: list[dict]):
        union = list(dict.fromkeys(ref for p in pending for ref in p["refs"]))
        draws_of = {ref: [] for ref in union}
        for slot, p in enumerate(pending):
            for k, (ref, seed) in enumerate(zip(p["refs"], p["seeds"])):
                draws_of[ref].append((slot, k, p["quota"], seed))
        tasks = [(ctx.dataset, chunk, ctx.extractor, cfg.data.max_side, [draws_of[ref] for ref in chunk],
                  enc.drop_empty) for chunk in ctx.chunks(union)]
        names = " + ".join(p["split"].name for p in pending)
        if ctx.on_backend:
            def sample(task, decoded):
                images, errors = decoded
                return _sampled_descriptors(ctx.extractor, images, task[4], enc.drop_empty, ctx.xp), errors
            results, _ = on_backend(tasks, cfg.run, f"sample {names}", ctx.progress, sample)
            peak = 0.0
        else:
            results, peak = run_chunks(_sample_chunk, tasks, cfg.run.n_jobs, f"sample {names}", ctx.progress,
                                       ctx.client)
        parts = [dict() for _ in pending]
        for drawn, _ in results:
            for slot, k, descriptors in drawn:
                parts[slot][k] = descriptors
        errors = [e for r in results for e in r[1]]
        for slot, p in enumerate(pending):
            pieces = [parts[slot][k] for k in sorted(parts[slot])]
            sample = np.concatenate(pieces) if pieces else np.zeros((0, 1), np.float32)
            if len(sample) > enc.sample_size:
                sample = sample[np.sort(np.random.default_rng(cfg.seed).choice(len(sample), enc.sample_size, False))]
            if len(sample) < max(enc.n_components, 2):
                raise ConfigError(f"encoder.n_components = {enc.n_components}: the sample of split "
                                  f"{p['split'].name} holds only {len(sample)} usable descriptors, too few to fit "
                                  f"the vocabulary; lower encoder.n_components, raise encoder.sample_images, or "
                                  f"check the images (too small or too uniform for the features' frames)")
            target = folder if slot == 0 else ctx.stages.cache.folder("sample", p["key"])
            refs = set(p["refs"])
            save_npy(target / "sample.npy", sample)
            save_json(target / "errors.json", [e for e in errors if e["file"] in refs])
            if slot:
                ctx.stages.finish_shared("sample", p["key"], mine["key"], peak)
        return peak
    return ctx.stages.run("sample", mine["key"], mine["split"].name, compute)
