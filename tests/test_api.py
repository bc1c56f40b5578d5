"""The README's Python API: the stages compose in a scikit-learn Pipeline."""
from sklearn.pipeline import make_pipeline

from classic import DenseSIFT, FisherVectorEncoder, LinearSVM
from classic.data import DigitsDataset


def test_pipeline_of_estimators_on_digits():
    ds = DigitsDataset(n_train=20, n_test=10)
    split = ds.splits()[0]
    train, test = [ds.load(r) for r in split.train], [ds.load(r) for r in split.test]
    model = make_pipeline(DenseSIFT(bin_sizes=(3, 4), step=2),
                          FisherVectorEncoder(n_components=8, pca_dims=24, pyramid=((1, 1), (2, 2)),
                                              sample_size=20_000, gmm_max_iter=20),
                          LinearSVM(C=10))
    model.fit(train, split.train_labels)
    assert model.decision_function(test).shape == (100, 10)
    assert (model.predict(test) == split.test_labels).mean() > 0.9
