# Incident Tracker: `make run` to try it, `make test` to check it. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(CURDIR)/$(VENV)/bin/python

.PHONY: run test lint seed migrate bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip

$(VENV)/.runtime-installed: backend/requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet --disable-pip-version-check -r backend/requirements.txt
	touch $@

$(VENV)/.dev-installed: backend/requirements.txt backend/requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet --disable-pip-version-check -r backend/requirements-dev.txt
	touch $(VENV)/.runtime-installed $@

## run: install, migrate, seed an empty database, serve the API (:8000) and the pages (:5500) until Ctrl-C
run: $(VENV)/.runtime-installed
	cd backend && $(PY) -m app.cli run

## migrate: apply the database migrations
migrate: $(VENV)/.runtime-installed
	cd backend && $(PY) -m app.cli migrate

## seed: add 200 incidents to an empty database (ARGS="--count 100000 --force" for more)
seed: $(VENV)/.runtime-installed
	cd backend && $(PY) seed.py $(ARGS)

## lint: ruff on the Python code, a syntax check of every page module
lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check backend scripts bench
	@for f in frontend/js/*.js; do node --input-type=module --check < $$f || exit 1; done
	@echo "lint: ok"

## test: lint, then the whole suite (API on SQLite and, with TEST_MYSQL_URL, MySQL; browser; schema fuzzing)
test: lint
	cd backend && $(PY) -m pytest $(PYTEST_ARGS)

# The benchmark's settings (docs/PERFORMANCE.md): make bench BENCH_DB=sqlite BENCH_N=1000000 ...
BENCH_DB ?= mariadb
BENCH_N ?= 100000
BENCH_WORKERS ?= 2
BENCH_CONNECTIONS ?= 32
BENCH_DURATION ?= 10s
BENCH_ONLY ?=
BENCH_PAGE ?= 1

## bench: seed BENCH_N incidents (private MariaDB, or BENCH_DB=sqlite), load the API with wrk, write a table
bench: $(VENV)/.dev-installed
	BENCH_DB=$(BENCH_DB) BENCH_N=$(BENCH_N) BENCH_WORKERS=$(BENCH_WORKERS) BENCH_CONNECTIONS=$(BENCH_CONNECTIONS) \
	BENCH_DURATION=$(BENCH_DURATION) BENCH_ONLY="$(BENCH_ONLY)" BENCH_PAGE=$(BENCH_PAGE) $(PY) bench/run.py

clean:
	rm -rf $(VENV) backend/incident_tracker.db*
