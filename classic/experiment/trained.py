"""A finished run's fitted stages read back from its ``model/`` folder, to score and draw one image
(``classic explain``): the descriptor extractor, the encoder (PCA + vocabulary) and the SVMs' weights."""
from __future__ import annotations

import numpy as np

from ..learn import scores_for_classes
from .config import build_config
from .model import model_parts, read_model
from .run_folder import RunNotFound


class TrainedPipeline:
    """The single-channel model of a run folder, as its parts: ``config``, ``class_names``,
    ``extractor``, ``encoder``, ``info`` (its ``model.json``) and :meth:`scores` of an encoded vector."""

    def __init__(self, folder):
        info = read_model(folder)
        if len(info["channels"]) > 1:
            raise RunNotFound(f"{folder} fuses {len(info['channels'])} descriptor channels; a trained pipeline is "
                              f"read from a single-channel run (run one channel of its config alone)")
        self.config = build_config(info["config"])
        self.class_names = info["class_names"]
        [(_, self.extractor, self.encoder)], self.svm = model_parts(info)
        self.trained_classes = np.asarray(info["trained_classes"])
        self.info = info

    def scores(self, vector) -> np.ndarray:
        """SVM scores (n_classes,) of one encoded image: -inf for a class the SVMs were not trained on."""
        raw = self.svm.coef_ @ np.asarray(vector, dtype=np.float32) + self.svm.intercept_
        return scores_for_classes(raw[None], self.trained_classes, len(self.class_names))[0]
