"""classic: the classical (ILSVRC 2010-2011) image-classification pipeline as a fast, trustworthy baseline.

images -> dense SIFT -> PCA -> GMM -> improved Fisher vectors (spatial pyramid) -> linear SVM -> top-k error,
with VLAD and bag of visual words (hard / soft assignment, chi2 kernel map) as the other encoders.
"""
__version__ = "0.1.0"

from .encoding import (PCA, BagOfWordsEncoder, DiagonalGMM, FisherVectorEncoder, KMeans,  # noqa: E402
                       VLADEncoder, fisher_vector)
from .features import DenseSIFT, LocalFeatures  # noqa: E402
from .learn import LinearSVM, evaluate  # noqa: E402



def load_model(path, backend: str = "numpy"):
    """The trained pipeline of a run folder as a fitted scikit-learn Pipeline (images in, scores out):
    :func:`classic.experiment.model.load_model`."""
    from .experiment.model import load_model as load
    return load(path, backend)


__all__ = ["BagOfWordsEncoder", "DenseSIFT", "DiagonalGMM", "FisherVectorEncoder", "KMeans", "LinearSVM",
           "LocalFeatures", "PCA", "VLADEncoder", "evaluate", "fisher_vector", "load_model", "__version__"]
