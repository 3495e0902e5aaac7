# The README's two commands: `make run` (the site on the embedded default) and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2

.PHONY: run test lint serve worker beat honcho bench clean screenshots collectstatic lighthouse

$(VENV)/.installed: requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

## make run: install, migrate, load sources (or the samples offline), then the web server, a
## Celery worker and beat together (PORT=..., HOST=..., WORKERS=...); Ctrl-C stops them all.
run: $(VENV)/.installed
	$(PY) manage.py migrate --no-input
	$(MAKE) --no-print-directory collectstatic
	$(PY) manage.py load_default_sources
	$(PY) manage.py load_sample_feeds --unless-online
	$(PY) manage.py create_demo_editor
	@echo "ArcticNews is at http://$(HOST):$(PORT)/ (editors: http://$(HOST):$(PORT)/admin/)"
	$(PY) manage.py runall --host $(HOST) --port $(PORT) --concurrency $(WORKERS)

## make test: the whole suite (PostgreSQL/Redis/worker tests need DATABASE_URL and REDIS_URL)
test: $(VENV)/.installed-dev lint
	@sh .ci/browser.sh
	$(PY) manage.py makemigrations --check --dry-run >/dev/null
	$(VENV)/bin/pytest $(PYTEST_ARGS)

## make lint: style, architecture contracts (.importlinter) and types (mypy.ini)
lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy

# Production processes, one per target (set DATABASE_URL, REDIS_URL, ... first). The Procfile
# (`make honcho` runs all three) and compose.yaml run the same commands. gunicorn's settings
# (access log, JSON logs with LOG_FORMAT=json, metrics from every worker) are in
# arcticnews/gunicorn_config.py.
WEB_CONCURRENCY ?= 2
WORKER_CONCURRENCY ?= 2
# Hashed, compressed static files for WhiteNoise (feeds/web/staticfiles.py).
collectstatic: $(VENV)/.installed
	$(PY) manage.py collectstatic --no-input -v0
serve: $(VENV)/.installed collectstatic
	$(VENV)/bin/gunicorn arcticnews.wsgi --config arcticnews/gunicorn_config.py --bind $(HOST):$(PORT) --workers $(WEB_CONCURRENCY)
worker: $(VENV)/.installed
	$(VENV)/bin/celery -A arcticnews worker -l info --concurrency $(WORKER_CONCURRENCY) --without-gossip --without-mingle --without-heartbeat
beat: $(VENV)/.installed
	$(VENV)/bin/celery -A arcticnews beat -l info
honcho: $(VENV)/.installed
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH HOST=$(HOST) PORT=$(PORT) $(VENV)/bin/honcho start

## make screenshots: the README's pictures, from the sample feeds (docs/screenshots/);
## SCREENSHOTS_ARGS="--port 8106" serves the throwaway site on a given port.
screenshots: $(VENV)/.installed-dev
	$(PY) scripts/screenshots.py $(SCREENSHOTS_ARGS)

## make lighthouse: Lighthouse's scores for home, a country and a story page under gunicorn as in
## production (bench/lighthouse.py). Lighthouse is pinned in bench/npm/package-lock.json and
## installed there (npm ci), never globally. LIGHTHOUSE_ARGS="--runs 3 --desktop --port 8106"
## (--port: the site's port, and the next for Chromium's debugging protocol).
bench/npm/node_modules/.installed: bench/npm/package.json bench/npm/package-lock.json
	cd bench/npm && npm ci --no-audit --no-fund --loglevel=error
	touch $@
lighthouse: $(VENV)/.installed-dev bench/npm/node_modules/.installed
	$(PY) bench/lighthouse.py $(LIGHTHOUSE_ARGS)

## make bench: the benchmark suite (pages.py needs wrk: apt-get install wrk). Each benchmark
## has a PostgreSQL database of its own under BENCH_PG: they empty or seed their tables.
BENCH_PG ?= postgres://postgres@127.0.0.1:5432
bench: $(VENV)/.installed-dev
	DATABASE_URL=$(BENCH_PG)/arcticnews_pages_bench $(PY) bench/pages.py $(BENCH_ARGS)
	DATABASE_URL=$(BENCH_PG)/arcticnews_related_bench $(PY) bench/related_bench.py
	$(PY) bench/database.py $(BENCH_PG)/arcticnews_ingest_bench
	DATABASE_URL=$(BENCH_PG)/arcticnews_ingest_bench $(PY) bench/ingest_bench.py

clean:
	rm -rf $(VENV) var staticfiles test-artifacts .pytest_cache .ruff_cache
