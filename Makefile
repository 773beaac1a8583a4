# MVR: `make run` starts everything, `make test` runs the whole suite.
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

.PHONY: install install-test browser run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[dev]'
	touch $@

# Tests also check the ONNX export against torch, so they need the export extra.
$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PIP) install --quiet -e '.[dev,export,bench]'
	$(PIP) check
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# The page tests drive Debian's chromium through its chromedriver (installed when missing).
browser:
	@scripts/ensure_chromium.sh

run: install
	$(BIN)/mvr up

test: install-test browser
	$(BIN)/ruff check mvr tests scripts benchmarks
	$(BIN)/mypy mvr
	$(BIN)/pytest -q

lint: install-test
	$(BIN)/ruff check mvr tests scripts benchmarks
	$(BIN)/ruff format --check mvr tests scripts benchmarks
	$(BIN)/mypy mvr

bench: install-test
	$(BIN)/python benchmarks/bench_inference.py --quick
	$(BIN)/python benchmarks/bench_intake.py --quick
	$(BIN)/python benchmarks/bench_e2e.py --quick
	$(BIN)/python benchmarks/bench_queue.py --quick
	$(BIN)/python benchmarks/bench_scale.py --quick
	$(BIN)/python benchmarks/bench_quality.py --quick
	$(BIN)/python benchmarks/bench_urgency.py --quick
	$(BIN)/python benchmarks/soak.py --quick

clean:
	rm -rf $(VENV) .mvr .pytest_cache .ruff_cache .mypy_cache
