# The two commands of the README.  Each creates or updates .venv/ from pyproject.toml by itself,
# needs only python3 and make, and is idempotent.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test env clean

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

clean:
	rm -rf runs cache/encode cache/kernel cache/svm
