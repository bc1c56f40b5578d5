"""From a config to the library's objects: every registered descriptor and encoder builds, and the
encoding's dimension (the encoder's one formula) is what a fitted encoder produces."""
import numpy as np
import pytest

from classic.experiment import load_config
from classic.experiment.build import DESCRIPTORS, ENCODERS, encoded_dimension, make_encoder, make_extractor
from conftest import REPO


@pytest.mark.parametrize("kind", sorted(DESCRIPTORS))
@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_every_registered_pipeline_builds_and_its_dimension_is_the_fitted_encoders(kind, encoder):
    config = load_config(REPO / "experiments" / "digits.yaml",
                         [f"features.kind={kind}", f"encoder.kind={encoder}", "encoder.n_components=4", "encoder.n_nearest=3",
                          "encoder.pca_dims=8", "encoder.pyramid=[[1, 1], [2, 2]]", "features.bin_sizes=[4]"])
    extractor = make_extractor(config)
    rng = np.random.default_rng(0)
    shape = (40, 40) if extractor.image_mode == "gray" else (40, 40, 3)
    features = extractor.transform([rng.random(shape, dtype=np.float32) for _ in range(3)])
    fitted = make_encoder(config).fit(features)
    assert fitted.transform(features).shape == (3, encoded_dimension(config)) == (3, fitted.dimension)
    assert fitted.n_descriptor_features_ == extractor.descriptor_size
