"""What every stage of a run reads: the configuration, the stage bookkeeping, the dataset, the
descriptor extractor and where the per-image work runs."""
from __future__ import annotations

from dataclasses import dataclass, field

from joblib import effective_n_jobs

from ..data import Dataset, ImageError
from .config import ExperimentConfig
from .parallel import run_overlapped
from .stage import Stages


@dataclass
class RunContext:
    """One run's shared state, handed to every stage function."""
    config: ExperimentConfig
    stages: Stages
    dataset: Dataset
    extractor: object
    xp: object                          # the array module of config.backend
    progress: bool = True
    client: object = None               # a Dask client, or None (joblib)
    dataset_identity: list = field(default_factory=list)

    @property
    def on_backend(self) -> bool:
        """Whether the per-image stages run in this process on the array backend (:func:`runs_on_backend`)."""
        return runs_on_backend(self.config, self.client)

    def chunks(self, refs: list) -> list[list]:
        """``refs`` in chunks of ``run.chunk_size``: the unit of work of a worker and of a store shard."""
        size = self.config.run.chunk_size
        return [refs[i:i + size] for i in range(0, len(refs), size)]


def runs_on_backend(config, client) -> bool:
    """Whether the per-image stages run in this process on the array backend (the GPU: one device,
    one owner; CPU threads decode meanwhile) rather than in worker processes on the CPU."""
    mode = config.run.encode_on
    return mode == "backend" or (mode == "auto" and config.backend != "numpy" and client is None)


def decode_chunk(dataset, refs, mode, max_side):
    """([(i, image)] of the chunk's images that decode, [error records] of those that do not)."""
    images, errors = [], []
    for i, ref in enumerate(refs):
        try:
            images.append((i, dataset.load(ref, mode, max_side)))
        except ImageError as exc:
            errors.append({"file": ref, "reason": str(exc)})
    return images, errors


def on_backend(tasks, run_cfg, desc: str, progress: bool, compute):
    """``compute(task, (images, errors))`` for the chunk ``tasks`` (the worker functions' argument tuples:
    dataset, refs, extractor, max_side, ...) in this process, while ``run.n_jobs`` threads decode the
    next chunks' images."""
    def decode(task):
        dataset, refs, extractor, max_side = task[:4]
        return decode_chunk(dataset, refs, extractor.image_mode, max_side)
    threads = effective_n_jobs(run_cfg.n_jobs)       # -1: all cores, as for the worker processes
    return run_overlapped(decode, compute, tasks, threads, ahead=max(2, threads), desc=desc, progress=progress)
