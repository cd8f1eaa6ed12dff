# The two commands of the README:
#   make run   - the embedded demo at http://127.0.0.1:5000
#   make test  - lint, types and every test (starts or installs PostgreSQL and Redis)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app barometre

.PHONY: run test lint install services translations

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

# Extract the French source strings, update the nl/en catalogs, compile them (.mo committed).
BABEL_KEYWORDS := -k _l -k lazy_gettext
translations: install
	$(BIN)/pybabel extract -F babel.cfg $(BABEL_KEYWORDS) --no-location --sort-output \
		--project barometre --copyright-holder Fidex -o barometre/translations/messages.pot \
		.
	for lang in nl en; do \
		if [ -f barometre/translations/$$lang/LC_MESSAGES/messages.po ]; then \
			$(BIN)/pybabel update --no-fuzzy-matching -i barometre/translations/messages.pot \
				-d barometre/translations -l $$lang; \
		else \
			$(BIN)/pybabel init -i barometre/translations/messages.pot -d barometre/translations -l $$lang; \
		fi; \
	done
	$(BIN)/pybabel compile -d barometre/translations
