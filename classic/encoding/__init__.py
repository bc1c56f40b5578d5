"""Encoding local descriptors into one vector per image: PCA, vocabularies (GMM, k-means), the spatial
pyramid, and the encoders of the era (Fisher vector, super-vector, LLC, VLAD, bag of words with a chi2
kernel map)."""
from .base import LocalEncoder, sample_descriptors
from .bow import BagOfWordsEncoder, bow_histograms
from .fisher import FisherVectorEncoder, fisher_vector, fisher_vectors
from .gmm import DiagonalGMM
from .kernel_map import chi2_feature_map
from .kmeans import KMeans
from .llc import LLCEncoder, llc_vectors
from .pca import PCA
from .pq import ProductQuantizer
from .supervector import SuperVectorEncoder, supervectors
from .vlad import VLADEncoder, vlad_vectors

__all__ = ["BagOfWordsEncoder", "DiagonalGMM", "FisherVectorEncoder", "KMeans", "LLCEncoder", "LocalEncoder", "PCA",
           "ProductQuantizer", "SuperVectorEncoder",
           "VLADEncoder", "bow_histograms", "chi2_feature_map", "fisher_vector", "fisher_vectors", "llc_vectors",
           "sample_descriptors", "supervectors", "vlad_vectors"]
