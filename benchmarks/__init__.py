"""Side-by-side timing of classic's stages against the peers (VLFeat, scikit-image, OpenCV, scikit-learn)."""
