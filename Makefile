# The two commands of the README:
#   make run   - the embedded demo at http://127.0.0.1:5000
#   make test  - lint, types, layering and every test (starts or installs PostgreSQL and Redis)
PYTHON ?= python3
# Bytecode cached, whatever the shell says: without it every test process, worker and
# command compiles every module and pytest rewrites every test's asserts again.
unexport PYTHONDONTWRITEBYTECODE
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app barometre

.PHONY: run test lint install services translations audit lock load-test

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# The port: `make run PORT=5077` (or FLASK_RUN_PORT); a port already taken is said before.
PORT ?= $(or $(FLASK_RUN_PORT),5000)
run: install
	@$(BIN)/python -c "import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); r=s.connect_ex(('127.0.0.1', $(PORT))); sys.exit(f'Le port $(PORT) est déjà pris : make run PORT=5077 (un autre port libre).' if r == 0 else 0)"
	$(FLASK) db upgrade
	$(FLASK) seed --demo
	PUBLIC_BAROMETER=$${PUBLIC_BAROMETER:-1} BASE_URL=$${BASE_URL:-http://127.0.0.1:$(PORT)} \
		$(FLASK) run --host 127.0.0.1 --port $(PORT)

services:
	scripts/ensure-services.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# pip-audit on the locked runtime dependencies; prints NOT AUDITED when its
# vulnerability service cannot be reached (AUDIT_REQUIRED=1 makes that fail).
audit: install
	$(BIN)/python scripts/audit.py requirements.lock

# Re-lock the runtime dependencies from a clean venv (what the Docker image installs).
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet .
	{ echo '# Locked runtime dependencies (Python 3.11), what the Docker image installs.'; \
	  echo '# Regenerate with `make lock`; `make audit` checks them with pip-audit.'; \
	  .lock-venv/bin/pip freeze --exclude-editable | grep -iv '^barometre'; } > requirements.lock
	rm -rf .lock-venv build

# Not part of `make test`: 200 reports from 20 clients against gunicorn on loopback.
load-test: install services
	$(BIN)/python bench/load_test.py

# Tests on two processes a core (a test waiting on a worker, a browser or Redis leaves
# its core to the others), dealt in turn, the longest and the waiting ones first
# (tests/conftest.py);
# line coverage printed (its floor: pyproject.toml). The bytecode is compiled once first,
# not by each test process and each worker it starts.
TEST_PROCESSES ?= $(shell echo $$(( $$(nproc) * 2 )))
# Lint and audit side by side (the audit mostly waits on the network), each one's
# output in one piece; either failing stops `make test` before the tests.
test: install services
	$(MAKE) --no-print-directory -j 2 --output-sync=target lint audit
	$(BIN)/python -m compileall -q barometre alerts intake bench
	$(BIN)/pytest -n $(TEST_PROCESSES) --dist load --cov --cov-report=term-missing

# Not part of `make test`: every fuzz property at full depth (`make test` runs 2.5 % of
# each): the console and questionnaire with 3 000 cases a form; every route × method ×
# role × CSRF off/on; 3 000 schemathesis reports.
.PHONY: fuzz
fuzz: install services
	FUZZ_CASES=3000 $(BIN)/pytest -n auto tests/test_fuzz_console.py tests/test_fuzz_forms.py tests/test_fuzz_api.py
	FUZZ_CASES=3000 $(BIN)/pytest -n auto tests/test_fuzz_methods.py tests/test_openapi_conformance.py

# Not part of `make test`: a 50 000-line history file imported from the console as a job,
# compared with the CLI's import of the same file (PostgreSQL; prints the time it took);
# 100 000 reports exported in the background (under 30 s).
.PHONY: soak
soak: install services
	HISTORY_IMPORT_LINES=50000 $(BIN)/pytest tests/test_import_jobs.py -k "stores_what_the_cli_stores" -s
	EXPORT_REPORTS=100000 $(BIN)/pytest tests/test_exports.py -k "many_reports_export" -s

# Extract the French source strings, update the nl/en catalogs, write the French plurals'
# catalog, compile them (.mo committed).
BABEL_KEYWORDS := -k _l -k lazy_gettext
translations: install
	$(BIN)/pybabel extract -F babel.cfg $(BABEL_KEYWORDS) --no-location --sort-output \
		--project barometre --copyright-holder Fidex -o barometre/translations/messages.pot \
		.
	for lang in nl en; do \
		if [ -f barometre/translations/$$lang/LC_MESSAGES/messages.po ]; then \
			$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -i barometre/translations/messages.pot \
				-d barometre/translations -l $$lang; \
		else \
			$(BIN)/pybabel init -i barometre/translations/messages.pot -d barometre/translations -l $$lang; \
		fi; \
	done
	# French, the source, is not translated: its catalog only carries its plural rule
	# (0 is singular) with every plural message as written (scripts/french_catalog.py).
	$(BIN)/python scripts/french_catalog.py barometre/translations
	$(BIN)/pybabel compile -d barometre/translations

# Benchmarks (method and figures: bench/RESULTS.md): the full run, and one under 3 minutes.
.PHONY: bench bench-quick
bench: install services
	$(BIN)/python -m bench

bench-quick: install services
	$(BIN)/python -m bench --quick

# Screenshots of /, an establishment page and the questionnaire at 360 and 1280 px (demo data).
.PHONY: screenshots
screenshots: install
	$(BIN)/python scripts/screenshots.py screenshots

# Not part of `make test`: docker-compose.yml run for real (image build, every service
# healthy, a report that raises a level, its email read back), then `down -v`.
.PHONY: compose-smoke
compose-smoke:
	scripts/compose-smoke.sh
