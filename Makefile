# make run   set everything up (virtualenv, dependencies, database, demo data) and serve
# make test  the whole suite, on SQLite and on a throwaway PostgreSQL
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
WORKERS ?= 2
# Links in mails start with PORTAL_BASE_URL; requests for any host not in TRUSTED_HOSTS get 400.
PORTAL_BASE_URL ?= http://127.0.0.1:$(PORT)
TRUSTED_HOSTS ?= 127.0.0.1,localhost

.PHONY: run test setup migrate demo bench clean

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
	export PORTAL_BASE_URL='$(PORTAL_BASE_URL)' TRUSTED_HOSTS='$(TRUSTED_HOSTS)'; \
	  $(BIN)/flask --app app worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/gunicorn --workers $(WORKERS) --bind 127.0.0.1:$(PORT) --access-logfile - app:app

test: $(VENV)/.installed-dev
	scripts/system-deps.sh test
	TEST_PG_URL="$$(scripts/test-pg.sh)" $(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	  scripts/stop-test-pg.sh; exit $$status

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance/portal.db*
