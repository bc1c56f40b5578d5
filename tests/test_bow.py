"""Bag of words: hard histograms, localised soft assignment."""
import numpy as np

from classic.encoding import bow_histograms
from classic.encoding.bow import codeword_weights


def test_hard_bow_is_the_normalised_histogram_of_nearest_words(vocabulary):
    _, kmeans, X, P = vocabulary
    h = bow_histograms([X], [P], kmeans, [(1, 1)], kernel_map="linear")[0]
    expected = np.bincount(kmeans.predict(X), minlength=32) / len(X)
    np.testing.assert_allclose(h, expected, atol=1e-6)


def test_soft_assignment_is_local_normalised_and_tends_to_hard(vocabulary):
    _, kmeans, X, _ = vocabulary
    soft = codeword_weights(X, kmeans, "soft", n_nearest=5, beta=10.0)
    np.testing.assert_allclose(soft.sum(axis=1), 1, atol=1e-5)
    assert ((soft > 0).sum(axis=1) <= 5).all() and ((soft > 0).sum(axis=1) >= 2).mean() > 0.5
    assert (soft.argmax(axis=1) == kmeans.predict(X)).all()          # the nearest word keeps the largest vote
    sharp = codeword_weights(X, kmeans, "soft", n_nearest=5, beta=1e4)
    assert (sharp.argmax(axis=1) == kmeans.predict(X)).all()
    assert (sharp.max(axis=1) > 0.99).mean() > 0.95                   # near-ties aside, one word takes the vote
