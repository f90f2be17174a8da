# Quick start: `make run` (set up, build the index if absent, start the app) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
# The CPU build of torch; a plain `torch` requirement would pull a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
# Machines of this project keep wheels (torch's CPU build among them) in /opt/wheels.
WHEELS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
STAMP  := $(VENV)/.installed

.PHONY: setup run index test unit lint format bench eval clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(WHEELS) "$(TORCH)"
	$(PY) -m pip install --quiet $(WHEELS) -e ".[dev]"
	touch $(STAMP)

run: setup
	test -f "$${CHATBOT_INDEX_DIR:-index}/CURRENT" || $(BIN)/chatbot index
	$(BIN)/chatbot ask

index: setup
	$(BIN)/chatbot index

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The whole suite: lint, unit tests on fakes, integration tests on the real model and corpus.
test: lint
	$(BIN)/pytest

unit: setup
	$(BIN)/pytest -m "not integration"

bench: setup
	$(PY) benchmarks/bench_index.py

eval: setup
	$(BIN)/chatbot eval

clean:
	rm -rf $(VENV) index/CURRENT index/versions .pytest_cache .mypy_cache .ruff_cache results
