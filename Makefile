# make run   set everything up (virtualenv, dependencies, database, demo data) and serve
# make test  the whole suite, on SQLite and on a throwaway PostgreSQL (fails when PostgreSQL
#            cannot start; `make test SQLITE_ONLY=1` runs SQLite only, and says so)
# make mutate break each rule that guards money and limits in turn (a copy of the tree) and
#            show which test catches it (scripts/mutate.py; not part of make test)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
WORKERS ?= 2

.PHONY: run test mutate setup migrate demo bench clean

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed
	scripts/system-deps.sh run

migrate: setup
	$(BIN)/alembic upgrade head

demo: migrate
	$(BIN)/flask --app app demo load

run: demo
	@echo "Serving on http://127.0.0.1:$(PORT)/  (staff console: /console/, API docs: /api/docs)"
	@# The background worker (expiry, tiers, birthdays, outbox) runs beside the web server and stops with it.
	$(BIN)/flask --app app worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/gunicorn --workers $(WORKERS) --bind 127.0.0.1:$(PORT) --access-logfile - app:app

test: $(VENV)/.installed-dev
	scripts/system-deps.sh test
	@# `VAR=$$(cmd) command` would ignore cmd's failure: take the URL first and stop if there is none.
	url="$$(scripts/test-pg.sh)" || { scripts/stop-test-pg.sh; exit 1; }; \
	  TEST_PG_URL="$$url" $(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	  scripts/stop-test-pg.sh; exit $$status

mutate: $(VENV)/.installed-dev
	scripts/system-deps.sh test
	url="$$(SQLITE_ONLY= scripts/test-pg.sh)" || { scripts/stop-test-pg.sh; exit 1; }; \
	  TEST_PG_URL="$$url" $(BIN)/python scripts/mutate.py $(MUTATE_ARGS); status=$$?; \
	  scripts/stop-test-pg.sh; exit $$status

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance/portal.db*
