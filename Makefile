# One virtual environment per clone, built from pyproject.toml; pip resolves
# torch and torchvision together from the package index (see pyproject.toml).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo digits test lint docs clean bench-env gpu-wheels gpu-dry-run

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

# The documentation site (mkdocs.yml, sources in docs/) into site/, in strict mode: a broken
# link or cross-reference fails the build. `$(VENV)/bin/mkdocs serve` previews it.
docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks

# A separate environment for benchmarks/inferno_ai.py: the Inferno reference library from PyPI
# (package `inferno`), timed against the same hand-written references as our benchmarks. Kept
# apart so it cannot disturb the project's own environment; our package is not installed in it
# (the script puts src/ on sys.path). inferno-ai 0.0.5 pins torch only in its `torch` extra
# (2.4.1); the project's torch version is installed instead so both environments time the same
# torch.
BENCH_VENV ?= .bench-venv
BENCH_PY := $(BENCH_VENV)/bin/python
BENCH_STAMP := $(BENCH_VENV)/.installed
INFERNO_AI ?= inferno-ai==0.0.5
BENCH_TORCH ?= torch==2.15.0

$(BENCH_STAMP):
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install --upgrade pip
	$(BENCH_PY) -m pip install '$(INFERNO_AI)' '$(BENCH_TORCH)'
	touch $(BENCH_STAMP)

bench-env: $(BENCH_STAMP)

# Wheels that the GPU machine lacks, for benchmarks/gpu.sh to install there (carried in .whl/ by
# the device tool's `run`): jsonargparse[signatures], which the CLI needs (the main-job part).
# Pure-Python wheels, fetched for the machine's Python 3.12 on manylinux x86_64; .whl/ is kept
# out of git through .git/info/exclude. The CUDA tests need none of them, nor wandb.
GPU_WHEELS ?= jsonargparse==4.53.0 docstring-parser==0.18.0 typeshed-client==2.15.0
GPU_PLATFORMS := manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 \
	manylinux2014_x86_64 manylinux1_x86_64

gpu-wheels:
	exclude=$$(git rev-parse --git-path info/exclude) && mkdir -p "$$(dirname "$$exclude")" && \
		(grep -qxF /.whl/ "$$exclude" 2>/dev/null || echo /.whl/ >> "$$exclude")
	$(PYTHON) -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
		--implementation cp $(addprefix --platform ,$(GPU_PLATFORMS)) -d .whl $(GPU_WHEELS)

# benchmarks/gpu.sh's plumbing on the CPU with tiny sizes (results in /tmp/inferno-gpu-dry-run).
gpu-dry-run: $(STAMP)
	bash benchmarks/gpu.sh --dry-run

clean:
	rm -rf $(VENV)
