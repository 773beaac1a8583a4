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

# Two stamps, one per install: `make run` needs the runtime dependencies only; `make test` installs
# the dev extra (tests, linters, coverage), the export extra (tests check the ONNX export against
# torch) and the bench extra. The test install includes the runtime one, so it stamps both.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e .
	$(PIP) check
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[dev,export,bench]'
	$(PIP) check
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run

install-test: $(VENV)/.installed-test

# The page tests drive Debian's chromium through its chromedriver (installed when missing).
browser:
	@scripts/ensure_chromium.sh

run: install
	$(BIN)/mvr up

# Coverage of mvr/ with a floor ([tool.coverage] in pyproject.toml).
test: install-test browser
	$(BIN)/ruff check mvr tests scripts benchmarks
	$(BIN)/mypy mvr
	$(BIN)/pytest -q --cov --cov-report=term:skip-covered

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
	rm -rf $(VENV) .mvr .pytest_cache .ruff_cache .mypy_cache .coverage
