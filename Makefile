# `make train` and `make test` install what they need into $(VENV) on first use.
PYTHON ?= python3
VENV ?= .venv
# torch is installed first and pinned: an unpinned torch pulls a multi-GB CUDA build.
# Another build: `make TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126" install`
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
ARGS ?=

.PHONY: install install-dev train test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e .
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

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
