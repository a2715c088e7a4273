# The two commands: `make run` serves the demo city, `make test` passes the tests.
# Both set up everything they need on a fresh machine with python3 (>= 3.11) and npm.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP_FLAGS := --quiet --disable-pip-version-check
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# Tests run in parallel (pytest-xdist), one worker per core, at most 4: each worker starts its own
# PostgreSQL, demo server and browser. `make test PYTEST_WORKERS=0` runs them in one process.
PYTEST_WORKERS ?= auto

.PHONY: run test lint typecheck importcheck pytest assets venv venv-dev demo clean help

help:
	@echo "make run    - set up, build the demo city once and serve it on http://$(HOST):$(PORT)"
	@echo "make test   - set up and run ruff, mypy, import-linter and pytest (SQLite + PostgreSQL + browser)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) --upgrade pip

# Reinstalled when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install $(PIP_FLAGS) -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install $(PIP_FLAGS) -e '.[dev]'
	@touch $(VENV)/.installed $@

venv: $(VENV)/.installed
venv-dev: $(VENV)/.installed-dev

# ECharts, htmx and Swagger UI from the npm registry into node_modules/ (git-ignored; served locally).
node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

assets: node_modules/.installed

demo: venv assets
	$(BIN)/citybrain db upgrade
	$(BIN)/citybrain demo

run: demo
	$(BIN)/citybrain serve --host $(HOST) --port $(PORT)

lint: venv-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv-dev
	$(BIN)/mypy

importcheck: venv-dev
	PYTHONPATH=. $(BIN)/lint-imports

pytest: venv-dev assets
	$(BIN)/pytest -n $(PYTEST_WORKERS) --maxprocesses=4 $(PYTEST_ARGS)

test: lint typecheck importcheck pytest

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
