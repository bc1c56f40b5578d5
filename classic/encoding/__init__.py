"""Encoding local descriptors into one vector per image: PCA, GMM, Fisher vectors, spatial pyramid."""
from .fisher import FisherVectorEncoder, fisher_vector, fisher_vectors, sample_descriptors
from .gmm import DiagonalGMM
from .pca import PCA

__all__ = ["DiagonalGMM", "FisherVectorEncoder", "PCA", "fisher_vector", "fisher_vectors", "sample_descriptors"]
