# The README's set-up is `make install` then `make test`; CI runs the same targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install test lint format demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'

test:
	$(BIN)/python -m pytest -q

lint:
	$(BIN)/ruff check importer schemas tests benchmarks
	$(BIN)/ruff format --check importer schemas tests benchmarks
	$(BIN)/mypy

format:
	$(BIN)/ruff check --fix importer schemas tests benchmarks
	$(BIN)/ruff format importer schemas tests benchmarks

demo:
	$(BIN)/python -m importer.demo

bench:
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
