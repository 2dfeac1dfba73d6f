# Two commands on a fresh machine: `make run` (demo on 127.0.0.1:8000) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Two test processes (pytest-xdist); `make pytest PYTEST_ARGS=` runs one.
PYTEST_ARGS ?= -n 2

.PHONY: run test lint typecheck pytest bench widget widget-deps clean

run: $(BIN)/.installed
	$(BIN)/nps-beacon demo

test: $(BIN)/.dev widget-deps lint typecheck pytest

lint: $(BIN)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check app tests

typecheck: $(BIN)/.dev
	$(BIN)/mypy

pytest: $(BIN)/.dev
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(BIN)/.dev
	$(BIN)/pytest -m benchmark -s tests/benchmarks

widget: widget-deps
	cd widget && npm run build

# esbuild for the build and staleness test, axe-core for the browser tests.
widget-deps: widget/node_modules/.installed

widget/node_modules/.installed: widget/package-lock.json
	cd widget && npm ci --no-audit --no-fund
	touch $@

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(BIN)/.dev: $(BIN)/.installed
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
