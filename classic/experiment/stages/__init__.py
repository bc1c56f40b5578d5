"""The stages of a run, one module each (see :mod:`classic.experiment.stage` for their contract).

``sample`` -> ``fit`` (PCA, vocabulary, PQ codebooks) -> ``encode`` (the feature store) -> ``kernel``
(Gram matrices) -> ``svm`` (classifier and test scores).  The per-image stages (sample, encode) are
passes shared by all the splits of a run: an image in several splits is decoded and described once.
"""
