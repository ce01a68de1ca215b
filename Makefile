# One virtual environment per clone, built from pyproject.toml; pip resolves
# torch and torchvision together from the package index (see pyproject.toml).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo digits test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m inferno_lightning.demo

# The main job: Diehl & Cook on the bundled digits, trained, tested, logged (W&B offline).
digits: $(STAMP)
	$(VENV)/bin/inferno-lightning fit --config recipes/digits_diehl_cook.yaml

test: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV)
