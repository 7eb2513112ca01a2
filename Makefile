# `make train` and `make test` install what they need into $(VENV) on first use.
PYTHON ?= python3
VENV ?= .venv
# torch is installed first and pinned: an unpinned torch pulls a multi-GB CUDA build.
# Another build: `make TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126" install`
TORCH ?= torch==2.13.0
# The Optuna sweeper, installed without its declared optuna<3 pin (see pyproject.toml).
SWEEPER ?= hydra-optuna-sweeper==1.3.0
OPTUNA_STORAGE ?= sqlite:///outputs/optuna.db
BIN := $(VENV)/bin
ARGS ?=

.PHONY: install install-dev train test dashboard bench bench-network bench-peers clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m pip install --quiet --no-deps $(SWEEPER)
	# numba compiles the CPU kernels into its disk cache here, not in the first training run.
	$(BIN)/python -m lif.exact
	$(BIN)/python -m lif.stepped
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

train: $(VENV)/.installed
	$(BIN)/python train.py $(ARGS)

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(ARGS)

# The benchmark against references and peers (scripts/bench.py --help).
bench: $(VENV)/.installed
	$(BIN)/python scripts/bench.py $(ARGS)

# Network training steps against snnTorch, Norse and SpikingJelly (scripts/bench_network.py --help);
# `make bench-peers` first, or only the peers already importable are measured.
bench-network: $(VENV)/.installed
	$(BIN)/python scripts/bench_network.py $(ARGS)

# The peer libraries of both benchmarks. Not torchvision: it breaks `import lightning` next to this torch.
bench-peers: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python -m pip install --quiet --no-deps spikingjelly==2.0.0
	# Norse 1.1.0 is a source distribution versioned by setuptools_scm: without it, and with no git
	# checkout to read a version from, pip builds it as version 0.0.0 and stops. So: setuptools_scm
	# in the venv, and the version given.
	$(BIN)/python -m pip install --quiet "setuptools>=68" wheel "setuptools_scm>=8"
	SETUPTOOLS_SCM_PRETEND_VERSION=1.1.0 $(BIN)/python -m pip install --quiet --no-deps --no-build-isolation norse==1.1.0

# Optuna's web UI on the study storage, on http://127.0.0.1:8080 (Ctrl-C stops it).
dashboard: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet "optuna-dashboard>=0.15"
	$(BIN)/optuna-dashboard $(OPTUNA_STORAGE) --host 127.0.0.1 --port 8080

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
