# Quick start: `make run` (set up, build the index if absent, serve the app at
# http://localhost:8501) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
# The CPU build of torch; a plain `torch` requirement would pull a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
# Machines of this project keep wheels (torch's CPU build among them) in /opt/wheels.
WHEELS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
STAMP  := $(VENV)/.installed
# Browser tests drive Debian's chromium; installing it needs root (or sudo).
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PORT   ?= 8501

.PHONY: setup browser run chat serve index test unit lint format bench eval clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(WHEELS) "$(TORCH)"
	$(PY) -m pip install --quiet $(WHEELS) -e ".[dev]"
	touch $(STAMP)

browser:
	command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
	  chromium fonts-dejavu-core; }

# The Streamlit app: chat, search and library pages.
run: setup
	$(BIN)/chatbot index --if-missing
	$(BIN)/streamlit run ui/app.py --server.address localhost --server.port $(PORT)

# The same answers in the terminal.
chat: setup
	$(BIN)/chatbot index --if-missing
	$(BIN)/chatbot ask

# The HTTP API on http://127.0.0.1:8000 (docs/api.md).
serve: setup
	$(BIN)/chatbot index --if-missing
	$(BIN)/chatbot serve

index: setup
	$(BIN)/chatbot index

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The whole suite: lint, unit tests on fakes, integration tests on the real models and corpus,
# the Streamlit pages under AppTest and in a real headless Chromium.
test: lint browser
	CHATBOT_REQUIRE_BROWSER=1 $(BIN)/pytest

unit: setup
	$(BIN)/pytest -m "not integration"

bench: setup
	$(PY) benchmarks/bench_index.py

eval: setup
	$(BIN)/chatbot eval

clean:
	rm -rf $(VENV) index/CURRENT index/versions .pytest_cache .mypy_cache .ruff_cache results
