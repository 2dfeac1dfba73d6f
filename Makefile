# Two commands on a fresh machine: `make run` (demo on 127.0.0.1:8000) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck pytest bench widget clean

run: $(BIN)/.installed
	$(BIN)/nps-beacon demo

test: $(BIN)/.dev lint typecheck pytest

lint: $(BIN)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check app tests

typecheck: $(BIN)/.dev
	$(BIN)/mypy

pytest: $(BIN)/.dev
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(BIN)/.dev
	$(BIN)/pytest -m benchmark -s tests/benchmarks

widget:
	cd widget && npm ci --no-audit --no-fund && npm run build

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
