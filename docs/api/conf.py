"""Sphinx configuration of the API reference (``make docs``: HTML in docs/_build/api, warnings as errors)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import classic  # noqa: E402

project = "classic"
author = "the classic authors"
release = version = classic.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax", "sphinx.ext.viewcode"]
# the docstrings are numpydoc: Parameters, Returns, Attributes, References, Examples sections
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
# members defined in each module (not what it imports: the estimators re-exported by the packages,
# scikit-learn's helpers), and not the metadata-routing setters scikit-learn adds to every estimator
autodoc_default_options = {"members": True, "show-inheritance": True, "ignore-module-all": True,
                           "exclude-members": "set_fit_request, set_transform_request, set_predict_request, "
                                              "set_score_request, set_output, set_partial_fit_request, set_inverse_transform_request"}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# the package re-exports its estimators (classic.DenseSIFT is classic.features.DenseSIFT): each is
# documented once, where it is defined
autodoc_inherit_docstrings = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = []
suppress_warnings = ["ref.python"]          # the same short name in several modules (e.g. ``transform``)
