# The two commands of the README:
#   make run   - the embedded demo at http://127.0.0.1:5000
#   make test  - lint, types and every test (starts or installs PostgreSQL and Redis)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app barometre

.PHONY: run test lint install services

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install
	$(FLASK) db upgrade
	$(FLASK) seed --demo
	PUBLIC_BAROMETER=$${PUBLIC_BAROMETER:-1} $(FLASK) run --host 127.0.0.1 --port 5000

services:
	scripts/ensure-services.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

test: install services lint
	$(BIN)/pytest

# Benchmarks (see README "Performance"): the full run, and one under 3 minutes.
.PHONY: bench bench-quick
bench: install services
	$(BIN)/python -m bench

bench-quick: install services
	$(BIN)/python -m bench --quick
