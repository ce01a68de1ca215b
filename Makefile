# One virtual environment per clone, built from pyproject.toml.
# PIP_FIND_LINKS is cleared so that pip resolves torch and torchvision together
# from the package index (a locally provided CPU-only torch wheel has no
# matching torchvision, and torchvision then fails at import).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	PIP_FIND_LINKS= $(PY) -m pip install --upgrade pip
	PIP_FIND_LINKS= $(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m inferno_lightning.demo

test: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV)
