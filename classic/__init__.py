"""classic: the classical (ILSVRC 2010-2011) image-classification pipeline as a fast, trustworthy baseline.

images -> dense SIFT -> PCA -> GMM -> improved Fisher vectors (spatial pyramid) -> linear SVM -> top-k error
"""
__version__ = "0.1.0"

from .encoding import PCA, DiagonalGMM, FisherVectorEncoder, fisher_vector  # noqa: E402
from .features import DenseSIFT, LocalFeatures  # noqa: E402
from .learn import LinearSVM, evaluate  # noqa: E402

__all__ = ["DenseSIFT", "DiagonalGMM", "FisherVectorEncoder", "LinearSVM", "LocalFeatures", "PCA",
           "evaluate", "fisher_vector", "__version__"]
