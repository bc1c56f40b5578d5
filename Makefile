# The two commands of the README.  Each creates or updates .venv/ from pyproject.toml by itself,
# needs only python3 and make, and is idempotent.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test env docs clean

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

env: $(STAMP)

## make demo: the offline main job (digits) -> prints the result table
demo: $(STAMP)
	$(VENV)/bin/classic run experiments/digits.yaml --out runs/digits

## make test: the test suite
test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

## make docs: the API reference from the docstrings (Sphinx, warnings as errors) -> docs/_build/api/index.html
$(VENV)/.docs: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -e '.[test,docs]'
	@touch $(VENV)/.docs

docs: $(VENV)/.docs
	$(VENV)/bin/python -m sphinx -E -W --keep-going -q -b html docs/api docs/_build/api
	@echo "API reference: docs/_build/api/index.html"

clean:
	rm -rf runs cache/encode cache/kernel cache/svm
