r"""Bag of visual words: histograms of codeword assignments (Csurka et al. 2004; Lazebnik et al. 2006).

Each descriptor votes for codewords of a k-means vocabulary; an image region's histogram is the
sum of the votes divided by the number of descriptors (L1-normalised), K numbers per region.

* **Hard assignment**: one vote for the nearest codeword.
* **Soft assignment** (kernel codebook: van Gemert et al. 2010; localised to the ``n_nearest``
  codewords as in Liu, Wang & Liu 2011): descriptor x gives codeword k among its n nearest the
  weight :math:`u_k \propto \exp(-\beta\, (d_k^2 - d_{\min}^2) / \bar d^2)`, normalised to sum 1,
  where :math:`\bar d^2` is the vocabulary's mean squared distance of a descriptor to its nearest
  codeword; words beyond the n nearest get 0.  This softens quantisation error at the borders
  between codewords.

Histograms are compared with the :math:`\chi^2` kernel through its explicit feature map
(``kernel_map="chi2"``, :mod:`kernel_map`), or with the Hellinger kernel (``"hellinger"``: the
square root of the histogram), or linearly (``"linear"``).

References
----------
Csurka, G., Dance, C., Fan, L., Willamowski, J., Bray, C. (2004). Visual categorization with bags of
keypoints. ECCV Workshop on Statistical Learning in Computer Vision.

Lazebnik, S., Schmid, C., Ponce, J. (2006). Beyond bags of features: spatial pyramid matching for
recognizing natural scene categories. CVPR. https://doi.org/10.1109/CVPR.2006.68

van Gemert, J. C., Veenman, C. J., Smeulders, A. W. M., Geusebroek, J.-M. (2010). Visual word
ambiguity. IEEE TPAMI 32(7). https://doi.org/10.1109/TPAMI.2009.132
"""
from __future__ import annotations

from ..backend import array_module
from .base import KMeansEncoder
from .kernel_map import chi2_feature_map
from .kmeans import KMeans, k_smallest
from .pyramid import n_regions, pool
from .vlad import nearest_words, one_hot

KERNEL_MAPS = ("chi2", "hellinger", "linear")


def codeword_weights(X, kmeans: KMeans, assignment: str = "hard", n_nearest: int = 5, beta: float = 10.0):
    """(n, K) votes of each descriptor: one-hot (``"hard"``) or localised soft assignment (``"soft"``)."""
    xp = array_module(X)
    centres = kmeans.cluster_centers_.astype(X.dtype)
    k = centres.shape[0]
    if assignment == "hard":
        return one_hot(nearest_words(X, kmeans), k, X.dtype)
    if assignment != "soft":
        raise ValueError(f"assignment must be 'hard' or 'soft', got {assignment!r}")
    if X.shape[0] == 0:
        return xp.zeros((0, k), X.dtype)
    # (|x - c|^2 - |x|^2) / 2: the |x|^2 term cancels in every difference d_k - d_min used below
    half = 0.5 * (centres * centres).sum(1)[None, :] - X @ centres.T
    nearest, near = k_smallest(half, min(n_nearest, k))
    scale = X.dtype.type(2 * beta / max(kmeans.mean_distance_, 1e-12))
    u = xp.exp(-scale * (near - near.min(axis=1, keepdims=True)))
    votes = xp.zeros((X.shape[0], k), dtype=X.dtype)
    votes[xp.arange(X.shape[0])[:, None], nearest] = u / u.sum(axis=1, keepdims=True)
    return votes


def bow_histograms(descriptors, positions, kmeans: KMeans, levels=((1, 1),), assignment: str = "hard",
                   kernel_map: str = "chi2", n_nearest: int = 5, beta: float = 10.0):
    """Bag-of-words vectors of a batch of images: (n_images, n_regions * K * m), m = 3 for ``"chi2"``, else 1.

    Arguments as :func:`classic.encoding.vlad.vlad_vectors`; ``assignment``, ``n_nearest`` and ``beta``
    as :func:`codeword_weights`; ``kernel_map`` one of ``KERNEL_MAPS``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((200, 3)).astype(np.float32)
    >>> km = KMeans(n_clusters=4).fit(X)
    >>> h = bow_histograms([X[:40]], [np.full((40, 2), 0.5)], km, kernel_map="linear")
    >>> h.shape, round(float(h.sum()), 4)          # L1-normalised: the votes sum to one
    ((1, 4), 1.0)
    """
    xp = array_module(descriptors[0])
    if kernel_map not in KERNEL_MAPS:
        raise ValueError(f"kernel_map must be one of {KERNEL_MAPS}, got {kernel_map!r}")

    def votes(X):
        return codeword_weights(X, kmeans, assignment, n_nearest, beta), xp.ones((X.shape[0], 1), X.dtype)

    stats, counts = pool(descriptors, positions, levels, votes)
    histograms = stats[..., 0] / xp.maximum(counts, 1)[..., None]          # (images, R, K), L1 per region
    n_images = len(descriptors)
    if kernel_map == "chi2":
        return chi2_feature_map(histograms.reshape(n_images, -1))
    if kernel_map == "hellinger":
        return xp.sqrt(histograms).reshape(n_images, -1)
    return histograms.reshape(n_images, -1)


class BagOfWordsEncoder(KMeansEncoder):
    """PCA + k-means vocabulary + hard or soft bag-of-words histograms over a spatial pyramid +
    explicit kernel map, as one estimator.

    Parameters
    ----------
    n_components : int, default=1024
        Codewords K of the k-means vocabulary.
    assignment : {"hard", "soft"}, default="hard"
    kernel_map : {"chi2", "hellinger", "linear"}, default="chi2"
    n_nearest : int, default=5
        Soft assignment: the codewords that share a descriptor's vote.
    beta : float, default=10.0
        Soft assignment: sharpness.
    pca_dims, whiten, pyramid, sample_size, drop_empty, seed
        As :class:`~classic.encoding.FisherVectorEncoder`.
    kmeans_max_iter : int, default=25

    Examples
    --------
    >>> import numpy as np
    >>> from classic import DenseSIFT
    >>> rng = np.random.default_rng(0)
    >>> features = DenseSIFT(bin_sizes=(4,), step=8).transform([rng.random((64, 64), dtype=np.float32)] * 2)
    >>> BagOfWordsEncoder(n_components=8, pca_dims=8, pyramid=((1, 1),)).fit(features).transform(features).shape
    (2, 24)
    """

    def __init__(self, n_components: int = 1024, *, assignment: str = "hard", kernel_map: str = "chi2",
                 n_nearest: int = 5, beta: float = 10.0, pca_dims: int | None = 80, whiten: bool = False,
                 pyramid=((1, 1), (2, 2), (1, 3)), sample_size: int = 200_000, kmeans_max_iter: int = 25,
                 drop_empty: bool = True, seed: int = 0):
        self.n_components = n_components
        self.assignment = assignment
        self.kernel_map = kernel_map
        self.n_nearest = n_nearest
        self.beta = beta
        self.pca_dims = pca_dims
        self.whiten = whiten
        self.pyramid = pyramid
        self.sample_size = sample_size
        self.kmeans_max_iter = kmeans_max_iter
        self.drop_empty = drop_empty
        self.seed = seed

    def _encode_batch(self, descriptors, positions):
        return bow_histograms(descriptors, positions, self.vocabulary_, self.pyramid, self.assignment,
                              self.kernel_map, self.n_nearest, self.beta)

    def _dimension(self, d: int) -> int:
        return n_regions(self.pyramid) * self.n_components * (3 if self.kernel_map == "chi2" else 1)
