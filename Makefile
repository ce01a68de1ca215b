# One virtual environment per clone, built from pyproject.toml; pip resolves
# torch and torchvision together from the package index (see pyproject.toml).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo digits test lint docs clean bench-env bench-bindsnet gpu-wheels gpu-dry-run

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

# A separate environment for benchmarks/bindsnet_peer.py, which times BindsNET (PyPI `bindsnet`)
# in the same process as our package and the hand-written references: bindsnet 0.3.4, our
# package (editable, with its dependencies: DiehlCook2015 needs Lightning) and the project's
# torch, resolved together in one pip call (bindsnet 0.3.4 accepts torch >=2.14,<3 and
# torchvision >=0.29, so torch stays at the project's 2.15.0). BindsNET comes with its declared
# dependencies (gymnasium[atari], ale-py, opencv-python, pandas, scikit-image, tensorboardX, ...)
# although the benchmark uses only its network, learning and models: `import bindsnet.<anything>`
# runs bindsnet/__init__.py, which imports every subpackage (environment imports ale_py and
# gymnasium, datasets cv2, analysis pandas and tensorboardX, models scipy, evaluation sklearn),
# so --no-deps would save only scikit-image. PYTHON must be 3.11 to 3.13 (bindsnet 0.3.4's
# range). About 1.5 minutes and 6.3 GB (PyPI's Linux torch is the CUDA build, with its nvidia-*
# wheels); pip's cache makes a rebuild quicker. `make bench-bindsnet`, then
# `.bench-bindsnet/bin/python benchmarks/bindsnet_peer.py` (see its docstring).
BINDSNET_VENV ?= .bench-bindsnet
BINDSNET_PY := $(BINDSNET_VENV)/bin/python
BINDSNET_STAMP := $(BINDSNET_VENV)/.installed
BINDSNET ?= bindsnet==0.3.4

$(BINDSNET_STAMP): pyproject.toml
	$(PYTHON) -m venv $(BINDSNET_VENV)
	$(BINDSNET_PY) -m pip install --upgrade pip
	$(BINDSNET_PY) -m pip install -e . '$(BINDSNET)' '$(BENCH_TORCH)'
	touch $(BINDSNET_STAMP)

bench-bindsnet: $(BINDSNET_STAMP)

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
