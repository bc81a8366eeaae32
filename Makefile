# make run   set everything up (virtualenv, dependencies, database, demo data) and serve
# make test  the whole suite, on SQLite and on a throwaway PostgreSQL (fails when PostgreSQL
#            cannot start; `make test SQLITE_ONLY=1` runs SQLite only, and says so)
# make mutate break each rule that guards money and limits in turn (a copy of the tree) and
#            show which test catches it (scripts/mutate.py; not part of make test)
# make partner-demo  the portal and the example partner site (examples/partner_site) side by side
# make bench  Portal against a bare baseline (bench/README.md): BENCH_DB=sqlite (default), postgresql or both
#            (PostgreSQL: BENCH_PG_URL, else a throwaway server of the bench's own, stopped after);
#            BENCH_ARGS=--quick for the small volume
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
WORKERS ?= 2
# Links in mails start with PORTAL_BASE_URL; requests for any host not in TRUSTED_HOSTS get 400.
PORTAL_BASE_URL ?= http://127.0.0.1:$(PORT)
TRUSTED_HOSTS ?= 127.0.0.1,localhost
PARTNER_PORT ?= 8001
BENCH_DB ?= sqlite

.PHONY: run test mutate setup migrate demo bench clean partner-demo

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

# The example partner site signs demo members in through the portal (OAuth 2 / OpenID Connect).
# Its app is registered (or its secret renewed) on every start; both servers stop together.
partner-demo: demo
	@eval "$$($(BIN)/flask --app app oauth register-app --name 'Example partner site' \
	    --redirect-url http://127.0.0.1:$(PARTNER_PORT)/callback --scope 'openid profile wallet:read' \
	  | $(BIN)/python -c 'import json, shlex, sys; d = json.load(sys.stdin); print("export PARTNER_CLIENT_ID=%s PARTNER_CLIENT_SECRET=%s PARTNER_ORGANIZATION_ID=%s" % (shlex.quote(d["clientId"]), shlex.quote(d["clientSecret"]), d["organizationId"]))')"; \
	export PORTAL_BASE_URL=http://127.0.0.1:$(PORT) PORTAL_URL=http://127.0.0.1:$(PORT) PARTNER_URL=http://127.0.0.1:$(PARTNER_PORT); \
	echo "Portal:               http://127.0.0.1:$(PORT)/  (member anna.schmidt@demo.example / demo-member-2026)"; \
	echo "Example partner site: http://127.0.0.1:$(PARTNER_PORT)/  (Sign in with your loyalty account)"; \
	$(BIN)/flask --app examples/partner_site/app.py run --port $(PARTNER_PORT) & partner=$$!; \
	trap 'kill $$partner 2>/dev/null' EXIT INT TERM; \
	$(BIN)/gunicorn --workers $(WORKERS) --bind 127.0.0.1:$(PORT) app:app

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
	$(BIN)/python bench/run.py --db $(BENCH_DB) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance/portal.db*
