# OrderFlow — the two commands a newcomer needs are `make run` and `make test`.
# The interpreter: the first Python 3.11 that can make a venv, an installed build before the
# one the PATH names. /usr/local/bin's (the official Docker image's) and /usr/bin's (Debian,
# Ubuntu, Fedora) are built with profile-guided and link-time optimisation; an interpreter
# compiled from source without them (pyenv's default) runs OrderFlow 20-30 % slower
# (docs/performance.md). PYTHON=/path/to/python3.11 chooses another.
PYTHON ?= $(shell for p in /usr/local/bin/python3.11 /usr/bin/python3.11 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && \
	$$p -c 'import ensurepip, sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null && \
	{ command -v $$p; break; }; done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
APP_STAMP := $(VENV)/.installed-app

PORT ?= 8000
# where `make run` is reached; set PUBLIC_BASE_URL to name another (a tunnel, a host name)
RUN_URL ?= $(or $(PUBLIC_BASE_URL),http://127.0.0.1:$(PORT))

# `make test` talks to real PostgreSQL and Redis; override these to point elsewhere.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/orderflow
TEST_REDIS_URL    ?= redis://127.0.0.1:6379/1
TEST_ENV = DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) DEBUG=false \
	SECRET_KEY=orderflow-test-secret-key-not-for-production-0123456789abcdef \
	SECURE_SSL_REDIRECT=false

.PHONY: help install install-app run test stack bench faults lint format clean check-deploy messages

# `make stack` runs the full mode against these (created if missing).
STACK_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/orderflow
STACK_REDIS_URL    ?= redis://127.0.0.1:6379/0
STACK_ENV = DATABASE_URL=$(STACK_DATABASE_URL) REDIS_URL=$(STACK_REDIS_URL) DEBUG=true

help:
	@echo "make run    - the app on its embedded default (SQLite, in-process everything, demo data)"
	@echo "make test   - the whole test suite against PostgreSQL and Redis on localhost"
	@echo "make stack  - full mode on local PostgreSQL + Redis: web, worker, beat (Ctrl-C stops all)"
	@echo "make bench  - the performance benchmark (BENCH_ARGS=--quick for a short run)"
	@echo "make faults - fault runs on a private PostgreSQL + Redis, each checked (FAULTS_ARGS=--quick)"
	@echo "make lint   - ruff and the migrations check"
	@echo "make check-deploy - validate docker-compose.yml, Prometheus, Grafana and k8s files offline"

# `make run` needs the app's dependencies only; the test, lint and browser tools (the dev
# extra: pytest, playwright, schemathesis, ...) come with the first target that needs them.
$(APP_STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 with its venv module is required (python3.11 not" \
		"found, or without ensurepip: on Debian and Ubuntu, apt-get install python3.11-venv)"; exit 1; }
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	@$(PYTHON) -m venv $(VENV)
	@echo "Installing OrderFlow and its dependencies into $(VENV) (once) ..."
	@$(BIN)/pip install --quiet --quiet --upgrade pip
	@$(BIN)/pip install --quiet --quiet -e .
	@touch $@

$(STAMP): $(APP_STAMP)
	@echo "Installing the development tools into $(VENV) (once) ..."
	@$(BIN)/pip install --quiet --quiet -e ".[dev]"
	@touch $@

# The customers' languages: each catalogue compiled by GNU gettext's msgfmt (what Django's
# compilemessages runs), again whenever its .po changes; the .mo files are not committed.
MO_FILES := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/django.po))

# Without gettext (a newcomer's first `make run`), Babel (a dependency) compiles them the same.
locale/%/LC_MESSAGES/django.mo: locale/%/LC_MESSAGES/django.po | $(APP_STAMP)
	@if command -v msgfmt >/dev/null 2>&1; then msgfmt --check-format -o $@ $<; else \
	  echo "msgfmt not found (apt-get install gettext): compiling $< with Babel"; \
	  $(BIN)/python -c 'import sys; from babel.messages import mofile, pofile; \
	    mofile.write_mo(open(sys.argv[2], "wb"), pofile.read_po(open(sys.argv[1], "rb")))' $< $@; fi

# A string marked for translation in the code or a template: into the pt-BR catalogue, to be
# translated there (docs/localisation.md). Needs GNU gettext (xgettext, msgmerge).
messages: install
	$(BIN)/python manage.py makemessages -l pt_BR --no-location --no-obsolete \
	  --ignore='.venv/*' --ignore='*/tests/*' --ignore='tests/*' --ignore='staticfiles/*' \
	  --ignore='test-artifacts/*' --ignore='var/*' --ignore='bench/*' --ignore='faults/*' \
	  --ignore='deploy/*' --ignore='docs/*'

install: $(STAMP) $(MO_FILES)

install-app: $(APP_STAMP) $(MO_FILES)

# Every link (e-mails, tracking URLs, the printed summary, the webhook inbox) starts with the
# address served. load_demo's summary goes to a file that Procfile.embedded's welcome prints
# (and removes) once the server answers, so that it is the terminal's last lines.
run: install-app
	@mkdir -p var
	@$(BIN)/python manage.py migrate --noinput --verbosity 0
	@umask 077 && PUBLIC_BASE_URL=$(RUN_URL) $(BIN)/python manage.py load_demo > var/welcome.txt
	@echo "Starting OrderFlow on $(RUN_URL) ..."
	@PUBLIC_BASE_URL=$(RUN_URL) WEB_PORT=$(PORT) $(BIN)/honcho start --no-prefix -f Procfile.embedded

test: install
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)

stack: install
	@mkdir -p var
	$(STACK_ENV) $(BIN)/python -m devtools.createdb
	$(STACK_ENV) $(BIN)/python manage.py migrate --noinput
	$(STACK_ENV) $(BIN)/python manage.py load_demo
	WEB_PORT=$(PORT) $(STACK_ENV) $(BIN)/honcho start -f Procfile

# Its own PostgreSQL 15 cluster (initdb as the postgres user, like `make faults`) and Redis on
# free ports, tuned like the machine's, with pg_stat_statements; the stack is the Procfile's.
# Orders come from wrk (Debian's package, installed if missing); pgbench comes with PostgreSQL.
# BENCH_ARGS: --quick (about 5 min), --only intake|pipeline, --procfile PATH.
bench: install
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	@command -v pgbench >/dev/null 2>&1 || { echo "pgbench not found: install PostgreSQL 15+"; exit 1; }
	@test -x $${FAULTS_PG_BIN:-/usr/lib/postgresql/15/bin}/initdb || \
		{ echo "initdb not found: install PostgreSQL 15 (or set FAULTS_PG_BIN)"; exit 1; }
	@command -v redis-server >/dev/null 2>&1 || { echo "redis-server not found"; exit 1; }
	$(BIN)/python -m bench $(BENCH_ARGS)

# Its own PostgreSQL (run as the postgres user) and Redis on free ports, never the shared ones.
faults: install
	$(BIN)/python -m faults $(FAULTS_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run

# Offline: no Docker engine, no cluster. promtool comes from Debian's prometheus package.
check-deploy: install
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
	promtool check config --syntax-only deploy/prometheus/prometheus.yml
	promtool check rules deploy/prometheus/alerts.yml
	$(BIN)/kubernetes-validate --strict --quiet deploy/k8s/*.yaml
	$(BIN)/python -c 'import json, sys; [json.load(open(f)) for f in sys.argv[1:]]' deploy/grafana/dashboards/*.json
	sh -n deploy/entrypoint.sh

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache
